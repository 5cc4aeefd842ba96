//! Attendances in PostgreSQL: capacity, waitlist and check-in under concurrency.
//!
//! Every change that can take or free a seat locks the event row first (`FOR UPDATE`),
//! then the attendance: one lock order for all paths, so concurrent registrations for one
//! event queue up behind each other and never deadlock. Different events never contend.

use crate::common::{self, check_version};
use crate::errors::{Reference, map_err, map_write};
use muster_domain::attendance::{self, Attendance, AttendancePatch, AttendanceStatus, NewAttendance, Transition};
use muster_domain::{Patch, now_micros};
use muster_store::rows::{ATTENDANCE_COLUMNS, AttendanceRow, convert};
use muster_store::{AttendanceFilter, Expected, Listed, Page, Result, StoreError};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

const ENTITY: &str = "attendance";

/// Locks the event and returns its capacity; `None` when there is no such event.
async fn lock_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Option<Option<i32>>> {
    sqlx::query_scalar("SELECT capacity FROM events WHERE id = $1 FOR UPDATE")
        .bind(event_id)
        .fetch_optional(conn)
        .await
        .map_err(map_err)
}

async fn seated(conn: &mut PgConnection, event_id: Uuid) -> Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM attendances WHERE event_id = $1 AND status IN ('registered', 'attended')")
        .bind(event_id)
        .fetch_one(conn)
        .await
        .map_err(map_err)
}

/// Seats the oldest waitlisted attendances while seats are free. The event must be locked.
pub(crate) async fn fill_seats(conn: &mut PgConnection, event_id: Uuid, capacity: Option<i32>) -> Result<()> {
    let free = match capacity {
        None => None,
        Some(c) => {
            let free = i64::from(c) - seated(conn, event_id).await?;
            if free <= 0 {
                return Ok(());
            }
            Some(free)
        }
    };
    sqlx::query(
        "UPDATE attendances SET status = 'registered', version = version + 1, updated_at = $2 WHERE id IN \
         (SELECT id FROM attendances WHERE event_id = $1 AND status = 'waitlisted' ORDER BY updated_at, id LIMIT $3)",
    )
    .bind(event_id)
    .bind(now_micros())
    .bind(free)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn create(conn: &mut PgConnection, new: NewAttendance) -> Result<Attendance> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let capacity = lock_event(&mut tx, new.event_id)
        .await?
        .ok_or_else(|| StoreError::missing_reference("event_id", "event", new.event_id))?;
    let status = attendance::admit(capacity, seated(&mut tx, new.event_id).await?);
    let now = now_micros();
    let a = Attendance {
        id: Uuid::now_v7(),
        event_id: new.event_id,
        volunteer_id: new.volunteer_id,
        status,
        checked_in_at: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO attendances (id, event_id, volunteer_id, status, checked_in_at, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(a.id)
    .bind(a.event_id)
    .bind(a.volunteer_id)
    .bind(a.status.as_str())
    .bind(a.checked_in_at)
    .bind(a.version)
    .bind(a.created_at)
    .bind(a.updated_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        map_write(
            e,
            &[Reference {
                constraint: "attendances_volunteer_id_fkey",
                field: "volunteer_id",
                entity: "volunteer",
                id: Some(new.volunteer_id),
            }],
        )
    })?;
    crate::idempotency::mark(&mut tx, &format!("/v1/attendances/{}", a.id)).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(a)
}

async fn save(conn: &mut PgConnection, a: &Attendance) -> Result<()> {
    sqlx::query("UPDATE attendances SET status = $2, checked_in_at = $3, version = $4, updated_at = $5 WHERE id = $1")
        .bind(a.id)
        .bind(a.status.as_str())
        .bind(a.checked_in_at)
        .bind(a.version)
        .bind(a.updated_at)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Attendance> {
    common::fetch::<AttendanceRow>(conn, "attendances", ATTENDANCE_COLUMNS, ENTITY, id, false).await?.try_into()
}

/// The statement [`list`] runs; the plan test (`tests/plans.rs`) explains this very statement.
pub(crate) fn list_query(f: &AttendanceFilter, page: Page) -> QueryBuilder<'_, Postgres> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {ATTENDANCE_COLUMNS} FROM attendances WHERE true"));
    if let Some(e) = f.event_id {
        qb.push(" AND event_id = ").push_bind(e);
    }
    if let Some(v) = f.volunteer_id {
        qb.push(" AND volunteer_id = ").push_bind(v);
    }
    if let Some(s) = f.status {
        qb.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(t) = f.updated_since {
        qb.push(" AND updated_at >= ").push_bind(t);
    }
    if let Some(ids) = &f.ids {
        crate::common::push_in(&mut qb, "id", ids);
    }
    crate::common::push_owned_by(&mut qb, "attendances", f.candidates.as_deref());
    if let Some(after) = page.after {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id").push(page.limit_sql());
    qb
}

pub async fn list(conn: &mut PgConnection, f: &AttendanceFilter, page: Page) -> Result<Listed<Attendance>> {
    let mut qb = list_query(f, page);
    let rows: Vec<AttendanceRow> = common::fetch_rows(qb.build(), &mut *conn).await?;
    Ok(page.finish(convert(rows)?, |a: &Attendance| a.id))
}

/// Locks the attendance's event, then the attendance; returns both.
async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<(Attendance, Option<i32>)> {
    let event_id: Uuid = sqlx::query_scalar("SELECT event_id FROM attendances WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound { entity: ENTITY })?;
    let capacity = lock_event(conn, event_id).await?.ok_or(StoreError::NotFound { entity: ENTITY })?;
    let a: Attendance = common::fetch::<AttendanceRow>(&mut *conn, "attendances", ATTENDANCE_COLUMNS, ENTITY, id, true)
        .await?
        .try_into()?;
    Ok((a, capacity))
}

pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    patch: AttendancePatch,
    expected: Expected,
) -> Result<Attendance> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let (mut a, capacity) = lock(&mut tx, id).await?;
    check_version(ENTITY, a.version, expected)?;
    let Patch::Set(to) = patch.status else { return Ok(a) };
    let now = now_micros();
    match attendance::transition(a.status, to).map_err(StoreError::Conflict)? {
        Transition::Unchanged => return Ok(a),
        Transition::To { status, frees_seat } => {
            a.status = status;
            if status == AttendanceStatus::Attended && a.checked_in_at.is_none() {
                a.checked_in_at = Some(now);
            }
            a.version += 1;
            a.updated_at = now;
            save(&mut tx, &a).await?;
            if frees_seat {
                fill_seats(&mut tx, a.event_id, capacity).await?;
            }
        }
        Transition::Rejoin => {
            a.status = attendance::admit(capacity, seated(&mut tx, a.event_id).await?);
            a.version += 1;
            a.updated_at = now;
            save(&mut tx, &a).await?;
        }
    }
    tx.commit().await.map_err(map_err)?;
    Ok(a)
}

pub async fn delete(conn: &mut PgConnection, id: Uuid, expected: Expected) -> Result<()> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let (a, capacity) = lock(&mut tx, id).await?;
    check_version(ENTITY, a.version, expected)?;
    sqlx::query("DELETE FROM attendances WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(map_err)?;
    if a.status.holds_seat() {
        fill_seats(&mut tx, a.event_id, capacity).await?;
    }
    tx.commit().await.map_err(map_err)
}

pub async fn check_in(conn: &mut PgConnection, id: Uuid) -> Result<Attendance> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let (mut a, _) = lock(&mut tx, id).await?;
    if let Transition::To { status, .. } = attendance::check_in(a.status).map_err(StoreError::Conflict)? {
        let now = now_micros();
        a.status = status;
        a.checked_in_at = Some(now);
        a.version += 1;
        a.updated_at = now;
        save(&mut tx, &a).await?;
        tx.commit().await.map_err(map_err)?;
    }
    Ok(a)
}
