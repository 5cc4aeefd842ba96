//! Events in PostgreSQL. Raising an event's capacity seats waitlisted attendances in the
//! same transaction.

use crate::attendances::fill_seats;
use crate::common::{self, check_version};
use crate::errors::{Reference, map_err, map_write};
use muster_domain::event::{Event, EventPatch, NewEvent};
use muster_domain::now_micros;
use muster_store::rows::{EVENT_COLUMNS, EventRow, convert};
use muster_store::{EventFilter, Expected, Listed, Page, Result};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

const ENTITY: &str = "event";

pub async fn create(conn: &mut PgConnection, new: NewEvent) -> Result<Event> {
    let e = Event::create(new, Uuid::now_v7(), now_micros());
    if muster_store::idempotency::current().is_none() {
        write(&mut *conn, &e, true).await?;
        return Ok(e);
    }
    // with an Idempotency-Key, the row and the key's record of it commit together
    let mut tx = conn.begin().await.map_err(map_err)?;
    write(&mut *tx, &e, true).await?;
    crate::idempotency::mark(&mut tx, &format!("/v1/events/{}", e.id)).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(e)
}

async fn write(ex: impl PgExecutor<'_>, e: &Event, insert: bool) -> Result<()> {
    let sql = if insert {
        "INSERT INTO events (id, candidate_id, title, description, event_type, starts_at, ends_at, timezone, \
         location, virtual_url, capacity, visibility, status, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    } else {
        "UPDATE events SET candidate_id = $2, title = $3, description = $4, event_type = $5, starts_at = $6, \
         ends_at = $7, timezone = $8, location = $9, virtual_url = $10, capacity = $11, visibility = $12, \
         status = $13, version = $14, created_at = $15, updated_at = $16 WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(e.id)
        .bind(e.candidate_id)
        .bind(e.title.as_str())
        .bind(e.description.as_deref())
        .bind(e.event_type.as_str())
        .bind(e.starts_at)
        .bind(e.ends_at)
        .bind(e.timezone.as_str())
        .bind(e.location.as_ref().map(Json))
        .bind(e.virtual_url.as_deref())
        .bind(e.capacity)
        .bind(e.visibility.as_str())
        .bind(e.status.as_str())
        .bind(e.version)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(ex)
        .await
        .map_err(|err| {
            map_write(
                err,
                &[Reference {
                    constraint: "events_candidate_id_fkey",
                    field: "candidate_id",
                    entity: "candidate",
                    id: Some(e.candidate_id),
                }],
            )
        })?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Event> {
    common::fetch::<EventRow>(conn, "events", EVENT_COLUMNS, ENTITY, id, false).await?.try_into()
}

/// The statement [`list`] runs; the plan test (`tests/plans.rs`) explains this very statement.
pub(crate) fn list_query(f: &EventFilter, page: Page) -> QueryBuilder<'_, Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE true"));
    if let Some(c) = f.candidate_id {
        qb.push(" AND candidate_id = ").push_bind(c);
    }
    if let Some(t) = f.event_type {
        qb.push(" AND event_type = ").push_bind(t.as_str());
    }
    if let Some(s) = f.status {
        qb.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(v) = f.visibility {
        qb.push(" AND visibility = ").push_bind(v.as_str());
    }
    if let Some(t) = f.starts_after {
        qb.push(" AND starts_at >= ").push_bind(t);
    }
    if let Some(t) = f.starts_before {
        qb.push(" AND starts_at < ").push_bind(t);
    }
    if let Some(t) = f.updated_since {
        qb.push(" AND updated_at >= ").push_bind(t);
    }
    if let Some(ids) = &f.ids {
        crate::common::push_in(&mut qb, "id", ids);
    }
    crate::common::push_owned_by(&mut qb, "events", f.candidates.as_deref());
    if let Some(after) = page.after {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id").push(page.limit_sql());
    qb
}

pub async fn list(conn: &mut PgConnection, f: &EventFilter, page: Page) -> Result<Listed<Event>> {
    let mut qb = list_query(f, page);
    let rows: Vec<EventRow> = common::fetch_rows(qb.build(), &mut *conn).await?;
    Ok(page.finish(convert(rows)?, |e: &Event| e.id))
}

pub async fn update(conn: &mut PgConnection, id: Uuid, patch: EventPatch, expected: Expected) -> Result<Event> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let mut e: Event =
        common::fetch::<EventRow>(&mut *tx, "events", EVENT_COLUMNS, ENTITY, id, true).await?.try_into()?;
    check_version(ENTITY, e.version, expected)?;
    e.apply(patch, now_micros())?;
    write(&mut *tx, &e, false).await?;
    fill_seats(&mut tx, e.id, e.capacity).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(e)
}

pub async fn delete(conn: &mut PgConnection, id: Uuid, expected: Expected) -> Result<()> {
    let referenced =
        "this event still has attendances; delete them first, or set the event status to cancelled instead";
    common::delete(conn, "events", ENTITY, id, expected, referenced).await
}
