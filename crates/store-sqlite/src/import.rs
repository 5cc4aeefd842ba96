//! Bulk insert of fully formed rows: multi-row `INSERT … VALUES` statements in chunks, in
//! one write transaction on the writer connection.

use crate::errors::map_err;
use muster_domain::attendance::Attendance;
use muster_domain::candidate::Candidate;
use muster_domain::event::Event;
use muster_domain::volunteer::Volunteer;
use muster_store::{Import, Result};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

/// Rows per statement; SQLite allows 32,766 bind parameters, events use 16 a row.
const CHUNK: usize = 1000;

pub async fn import(conn: &mut SqliteConnection, rows: &Import) -> Result<()> {
    let mut tx = crate::common::begin(conn).await?;
    insert_candidates(&mut tx, &rows.candidates).await?;
    insert_volunteers(&mut tx, &rows.volunteers).await?;
    insert_events(&mut tx, &rows.events).await?;
    insert_attendances(&mut tx, &rows.attendances).await?;
    tx.commit().await.map_err(map_err)
}

pub async fn insert_candidates(conn: &mut SqliteConnection, rows: &[Candidate]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO candidates (id, name, office, district, party, election_date, status, website, version, \
             created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, c| {
            b.push_bind(c.id)
                .push_bind(c.name.as_str())
                .push_bind(c.office.as_str())
                .push_bind(c.district.as_ref().map(|t| t.as_str()))
                .push_bind(c.party.as_ref().map(|t| t.as_str()))
                .push_bind(c.election_date)
                .push_bind(c.status.as_str())
                .push_bind(c.website.as_deref())
                .push_bind(c.version)
                .push_bind(c.created_at)
                .push_bind(c.updated_at);
        });
        qb.build().execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}

pub async fn insert_volunteers(conn: &mut SqliteConnection, rows: &[Volunteer]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO volunteers (id, first_name, last_name, email, email_normalized, phone, zip_code, \
             candidate_id, tags, version, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, v| {
            b.push_bind(v.id)
                .push_bind(v.first_name.as_str())
                .push_bind(v.last_name.as_str())
                .push_bind(v.email.as_str())
                .push_bind(v.email.normalized())
                .push_bind(v.phone.as_ref().map(|p| p.as_str()))
                .push_bind(v.zip_code.as_ref().map(|z| z.as_str()))
                .push_bind(v.candidate_id)
                .push_bind(Json(&v.tags))
                .push_bind(v.version)
                .push_bind(v.created_at)
                .push_bind(v.updated_at);
        });
        qb.build().execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}

pub async fn insert_events(conn: &mut SqliteConnection, rows: &[Event]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (id, candidate_id, title, description, event_type, starts_at, ends_at, timezone, \
             location, virtual_url, capacity, visibility, status, version, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, e| {
            b.push_bind(e.id)
                .push_bind(e.candidate_id)
                .push_bind(e.title.as_str())
                .push_bind(e.description.as_deref())
                .push_bind(e.event_type.as_str())
                .push_bind(e.starts_at)
                .push_bind(e.ends_at)
                .push_bind(e.timezone.as_str())
                .push_bind(e.location.as_ref().map(Json))
                .push_bind(e.virtual_url.as_deref())
                .push_bind(e.capacity)
                .push_bind(e.visibility.as_str())
                .push_bind(e.status.as_str())
                .push_bind(e.version)
                .push_bind(e.created_at)
                .push_bind(e.updated_at);
        });
        qb.build().execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}

pub async fn insert_attendances(conn: &mut SqliteConnection, rows: &[Attendance]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO attendances (id, event_id, volunteer_id, status, checked_in_at, version, created_at, \
             updated_at) ",
        );
        qb.push_values(chunk, |mut b, a| {
            b.push_bind(a.id)
                .push_bind(a.event_id)
                .push_bind(a.volunteer_id)
                .push_bind(a.status.as_str())
                .push_bind(a.checked_in_at)
                .push_bind(a.version)
                .push_bind(a.created_at)
                .push_bind(a.updated_at);
        });
        qb.build().execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}
