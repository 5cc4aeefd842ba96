//! Volunteers in PostgreSQL.

use crate::common::{self, check_version};
use crate::errors::{Reference, map_err, map_write};
use muster_domain::now_micros;
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use muster_store::rows::{VOLUNTEER_COLUMNS, VolunteerRow, convert, tags_json};
use muster_store::{Expected, Listed, Page, Result, VolunteerFilter};
use sqlx::{Connection, PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

const ENTITY: &str = "volunteer";

pub async fn create(conn: &mut PgConnection, new: NewVolunteer) -> Result<Volunteer> {
    let v = Volunteer::create(new, Uuid::now_v7(), now_micros());
    if muster_store::idempotency::current().is_none() {
        write(&mut *conn, &v, true).await?;
        return Ok(v);
    }
    // with an Idempotency-Key, the row and the key's record of it commit together
    let mut tx = conn.begin().await.map_err(map_err)?;
    write(&mut *tx, &v, true).await?;
    crate::idempotency::mark(&mut tx, &format!("/v1/volunteers/{}", v.id)).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(v)
}

async fn write(ex: impl PgExecutor<'_>, v: &Volunteer, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO volunteers (id, first_name, last_name, email, email_normalized, phone, zip_code, candidate_id, \
         tags, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    } else {
        "UPDATE volunteers SET first_name = $2, last_name = $3, email = $4, email_normalized = $5, phone = $6, \
         zip_code = $7, candidate_id = $8, tags = $9, version = $10, created_at = $11, updated_at = $12 WHERE id = $1"
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
        .execute(ex)
        .await
        .map_err(|e| {
            map_write(
                e,
                &[Reference {
                    constraint: "volunteers_candidate_id_fkey",
                    field: "candidate_id",
                    entity: "candidate",
                    id: v.candidate_id,
                }],
            )
        })?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Volunteer> {
    common::fetch::<VolunteerRow>(conn, "volunteers", VOLUNTEER_COLUMNS, ENTITY, id, false).await?.try_into()
}

/// The statement [`list`] runs; the plan test (`tests/plans.rs`) explains this very statement.
pub(crate) fn list_query(f: &VolunteerFilter, page: Page) -> QueryBuilder<'_, Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {VOLUNTEER_COLUMNS} FROM volunteers WHERE true"));
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
        qb.push(" AND tags @> jsonb_build_array(").push_bind(t.to_lowercase()).push("::text)");
    }
    if let Some(t) = f.updated_since {
        qb.push(" AND updated_at >= ").push_bind(t);
    }
    if let Some(ids) = &f.ids {
        crate::common::push_in(&mut qb, "id", ids);
    }
    crate::common::push_owned_by(&mut qb, "volunteers", f.candidates.as_deref());
    if let Some(after) = page.after {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id").push(page.limit_sql());
    qb
}

pub async fn list(conn: &mut PgConnection, f: &VolunteerFilter, page: Page) -> Result<Listed<Volunteer>> {
    let mut qb = list_query(f, page);
    let rows: Vec<VolunteerRow> = common::fetch_rows(qb.build(), &mut *conn).await?;
    Ok(page.finish(convert(rows)?, |v: &Volunteer| v.id))
}

pub async fn update(conn: &mut PgConnection, id: Uuid, patch: VolunteerPatch, expected: Expected) -> Result<Volunteer> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let mut v: Volunteer =
        common::fetch::<VolunteerRow>(&mut *tx, "volunteers", VOLUNTEER_COLUMNS, ENTITY, id, true).await?.try_into()?;
    check_version(ENTITY, v.version, expected)?;
    v.apply(patch, now_micros());
    write(&mut *tx, &v, false).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(v)
}

pub async fn delete(conn: &mut PgConnection, id: Uuid, expected: Expected) -> Result<()> {
    let referenced = "this volunteer still has attendances; delete them first";
    common::delete(conn, "volunteers", ENTITY, id, expected, referenced).await
}
