//! Volunteers in SQLite. Reads take the reader pool, writes the writer.

use crate::common::{self, check_version};
use crate::errors::map_err;
use muster_domain::now_micros;
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use muster_store::rows::{VOLUNTEER_COLUMNS, VolunteerRow, convert, tags_json};
use muster_store::{Expected, Listed, Page, Result, VolunteerFilter};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

const ENTITY: &str = "volunteer";

pub async fn create(conn: &mut SqliteConnection, new: NewVolunteer) -> Result<Volunteer> {
    let v = Volunteer::create(new, Uuid::now_v7(), now_micros());
    let mut tx = common::begin(conn).await?;
    write(&mut tx, &v, true).await?;
    crate::idempotency::mark(&mut tx, &format!("/v1/volunteers/{}", v.id)).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(v)
}

/// Writes `v` after checking its candidate exists; the caller holds a writer transaction.
async fn write(conn: &mut SqliteConnection, v: &Volunteer, insert: bool) -> Result<()> {
    if let Some(candidate_id) = v.candidate_id {
        common::require(conn, "candidates", "candidate_id", "candidate", candidate_id).await?;
    }
    let sql = if insert {
        "INSERT INTO volunteers (id, first_name, last_name, email, email_normalized, phone, zip_code, candidate_id, \
         tags, version, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    } else {
        "UPDATE volunteers SET first_name = ?2, last_name = ?3, email = ?4, email_normalized = ?5, phone = ?6, \
         zip_code = ?7, candidate_id = ?8, tags = ?9, version = ?10, created_at = ?11, updated_at = ?12 WHERE id = ?1"
    };
    sqlx::query(sql)
        .bind(v.id)
        .bind(v.first_name.as_str())
        .bind(v.last_name.as_str())
        .bind(v.email.as_str())
        .bind(v.email.normalized())
        .bind(v.phone.as_ref().map(|p| p.as_str()))
        .bind(v.zip_code.as_ref().map(|z| z.as_str()))
        .bind(v.candidate_id)
        .bind(tags_json(&v.tags))
        .bind(v.version)
        .bind(v.created_at)
        .bind(v.updated_at)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn get(reader: &SqlitePool, id: Uuid) -> Result<Volunteer> {
    common::fetch::<VolunteerRow>(reader, "volunteers", VOLUNTEER_COLUMNS, ENTITY, id).await?.try_into()
}

pub async fn list(reader: &SqlitePool, f: &VolunteerFilter, page: Page) -> Result<Listed<Volunteer>> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {VOLUNTEER_COLUMNS} FROM volunteers WHERE 1"));
    if let Some(c) = f.candidate_id {
        qb.push(" AND candidate_id = ").push_bind(c);
    }
    if let Some(e) = &f.email {
        qb.push(" AND email_normalized = ").push_bind(e.to_lowercase());
    }
    if let Some(z) = &f.zip_code {
        qb.push(" AND zip_code = ").push_bind(z);
    }
    if let Some(t) = &f.tag {
        qb.push(" AND EXISTS (SELECT 1 FROM json_each(volunteers.tags) WHERE json_each.value = ")
            .push_bind(t.to_lowercase())
            .push(")");
    }
    if let Some(t) = f.updated_since {
        qb.push(" AND updated_at >= ").push_bind(t);
    }
    if let Some(ids) = &f.ids {
        crate::common::push_id_list(&mut qb, ids);
    }
    crate::common::push_owned_by(&mut qb, "volunteers", f.candidates.as_deref());
    if let Some(after) = page.after {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id").push(page.limit_sql());
    let rows: Vec<VolunteerRow> = qb.build_query_as().fetch_all(reader).await.map_err(map_err)?;
    Ok(page.finish(convert(rows)?, |v: &Volunteer| v.id))
}

pub async fn update(
    conn: &mut SqliteConnection,
    id: Uuid,
    patch: VolunteerPatch,
    expected: Expected,
) -> Result<Volunteer> {
    let mut tx = common::begin(conn).await?;
    let mut v: Volunteer =
        common::fetch::<VolunteerRow>(&mut *tx, "volunteers", VOLUNTEER_COLUMNS, ENTITY, id).await?.try_into()?;
    check_version(ENTITY, v.version, expected)?;
    v.apply(patch, now_micros());
    write(&mut tx, &v, false).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(v)
}

pub async fn delete(conn: &mut SqliteConnection, id: Uuid, expected: Expected) -> Result<()> {
    let referenced = "this volunteer still has attendances; delete them first";
    common::delete(conn, "volunteers", ENTITY, id, expected, referenced).await
}
