//! Bulk insert of fully formed rows in one transaction. Into empty tables (a seed) that is
//! `COPY` with the indexes built afterwards ([`crate::bulk`]); otherwise, in chunks, one
//! `INSERT … SELECT * FROM UNNEST($1, $2, …)` per chunk, each column bound as one array.
//!
//! A multi-row `INSERT … VALUES` (SQLite's way, `muster_store::bulk_inserts!`) takes a
//! parameter per value: 12,000 for 1000 volunteers, a different statement for every row
//! count, and each connection's statement cache kept the text and the 12,000 parameter types
//! of every size it had seen. With
//! arrays the statement is the same for any number of rows and has a parameter per column.

use crate::errors::map_err;
use muster_domain::attendance::Attendance;
use muster_domain::candidate::Candidate;
use muster_domain::event::Event;
use muster_domain::volunteer::Volunteer;
use muster_store::{Import, Result};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection};

/// Rows per statement: bounds the size of one statement's arrays on a large import.
const CHUNK: usize = 5000;

pub async fn import(conn: &mut PgConnection, rows: &Import) -> Result<()> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    // a bulk load is one long transaction, never bound by the serving statement timeout
    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.map_err(map_err)?;
    // writers wait until the commit, so the tables stay empty while the import decides
    sqlx::query(&format!("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE", crate::bulk::TABLES.join(", ")))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let empty: bool = sqlx::query_scalar(
        "SELECT NOT (EXISTS (SELECT 1 FROM candidates) OR EXISTS (SELECT 1 FROM volunteers) \
         OR EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM attendances))",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    if empty {
        crate::bulk::load(&mut tx, rows).await?;
    } else {
        insert_candidates(&mut tx, &rows.candidates).await?;
        insert_volunteers(&mut tx, &rows.volunteers).await?;
        insert_events(&mut tx, &rows.events).await?;
        insert_attendances(&mut tx, &rows.attendances).await?;
    }
    tx.commit().await.map_err(map_err)
}

/// One column of `rows` as the array bound for it.
fn column<'r, R, T>(rows: &'r [R], f: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

pub async fn insert_candidates(conn: &mut PgConnection, rows: &[Candidate]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        sqlx::query(
            "INSERT INTO candidates (id, name, office, district, party, election_date, status, website, version, \
             created_at, updated_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[], \
             $7::text[], $8::text[], $9::int8[], $10::timestamptz[], $11::timestamptz[])",
        )
        .bind(column(chunk, |c| c.id))
        .bind(column(chunk, |c| c.name.as_str()))
        .bind(column(chunk, |c| c.office.as_str()))
        .bind(column(chunk, |c| c.district.as_ref().map(|t| t.as_str())))
        .bind(column(chunk, |c| c.party.as_ref().map(|t| t.as_str())))
        .bind(column(chunk, |c| c.election_date))
        .bind(column(chunk, |c| c.status.as_str()))
        .bind(column(chunk, |c| c.website.as_deref()))
        .bind(column(chunk, |c| c.version))
        .bind(column(chunk, |c| c.created_at))
        .bind(column(chunk, |c| c.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub async fn insert_volunteers(conn: &mut PgConnection, rows: &[Volunteer]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        sqlx::query(
            "INSERT INTO volunteers (id, first_name, last_name, email, email_normalized, phone, zip_code, \
             candidate_id, tags, version, created_at, updated_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::uuid[], $9::jsonb[], $10::int8[], $11::timestamptz[], $12::timestamptz[])",
        )
        .bind(column(chunk, |v| v.id))
        .bind(column(chunk, |v| v.first_name.as_str()))
        .bind(column(chunk, |v| v.last_name.as_str()))
        .bind(column(chunk, |v| v.email.as_str()))
        .bind(column(chunk, |v| v.email.normalized()))
        .bind(column(chunk, |v| v.phone.as_ref().map(|p| p.as_str())))
        .bind(column(chunk, |v| v.zip_code.as_ref().map(|z| z.as_str())))
        .bind(column(chunk, |v| v.candidate_id))
        .bind(column(chunk, |v| Json(&v.tags)))
        .bind(column(chunk, |v| v.version))
        .bind(column(chunk, |v| v.created_at))
        .bind(column(chunk, |v| v.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub async fn insert_events(conn: &mut PgConnection, rows: &[Event]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        sqlx::query(
            "INSERT INTO events (id, candidate_id, title, description, event_type, starts_at, ends_at, timezone, \
             location, virtual_url, capacity, visibility, status, version, created_at, updated_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
             $6::timestamptz[], $7::timestamptz[], $8::text[], $9::jsonb[], $10::text[], $11::int4[], $12::text[], \
             $13::text[], $14::int8[], $15::timestamptz[], $16::timestamptz[])",
        )
        .bind(column(chunk, |e| e.id))
        .bind(column(chunk, |e| e.candidate_id))
        .bind(column(chunk, |e| e.title.as_str()))
        .bind(column(chunk, |e| e.description.as_deref()))
        .bind(column(chunk, |e| e.event_type.as_str()))
        .bind(column(chunk, |e| e.starts_at))
        .bind(column(chunk, |e| e.ends_at))
        .bind(column(chunk, |e| e.timezone.as_str()))
        .bind(column(chunk, |e| e.location.as_ref().map(Json)))
        .bind(column(chunk, |e| e.virtual_url.as_deref()))
        .bind(column(chunk, |e| e.capacity))
        .bind(column(chunk, |e| e.visibility.as_str()))
        .bind(column(chunk, |e| e.status.as_str()))
        .bind(column(chunk, |e| e.version))
        .bind(column(chunk, |e| e.created_at))
        .bind(column(chunk, |e| e.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub async fn insert_attendances(conn: &mut PgConnection, rows: &[Attendance]) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        sqlx::query(
            "INSERT INTO attendances (id, event_id, volunteer_id, status, checked_in_at, version, created_at, \
             updated_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::int8[], \
             $7::timestamptz[], $8::timestamptz[])",
        )
        .bind(column(chunk, |a| a.id))
        .bind(column(chunk, |a| a.event_id))
        .bind(column(chunk, |a| a.volunteer_id))
        .bind(column(chunk, |a| a.status.as_str()))
        .bind(column(chunk, |a| a.checked_in_at))
        .bind(column(chunk, |a| a.version))
        .bind(column(chunk, |a| a.created_at))
        .bind(column(chunk, |a| a.updated_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}
