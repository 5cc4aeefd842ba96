//! Batches in PostgreSQL: the shared runner (`muster_store::sql_batch`) with this
//! backend's operations. Runs of creates are checked with one query per constraint
//! (`= ANY($1)`) and inserted with multi-row `INSERT`s; attendances go one by one because
//! each takes its event's lock and seat count, exactly as a single registration does.

use crate::errors::map_err;
use crate::{attendances, candidates, events, import, volunteers};
use async_trait::async_trait;
use muster_domain::attendance::{Attendance, AttendancePatch, NewAttendance};
use muster_domain::candidate::{Candidate, CandidatePatch, NewCandidate};
use muster_domain::event::{Event, EventPatch, NewEvent};
use muster_domain::now_micros;
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use muster_store::sql_batch::{BatchOps, BoxFut, insert_checked};
use muster_store::{BatchError, BatchOp, BatchOptions, ItemResult, Result, StoreError};
use sqlx::{Connection, PgConnection, Postgres};
use std::collections::HashSet;
use uuid::Uuid;

/// Runs a batch of `O` in one transaction, rolled back for a dry run.
///
/// A batch's statements and answers grow the connection's buffers to their size (a
/// 1000-row insert, about 400 KiB), and the connection keeps that capacity for its life
/// in the pool; afterwards they go back to their default size, so the pool does not
/// hold a batch's worth of memory per connection.
pub async fn run<O: BatchOps<Postgres>>(
    conn: &mut PgConnection,
    ops: Vec<BatchOp<O::New, O::Patch>>,
    opts: BatchOptions,
) -> std::result::Result<Vec<ItemResult<O::Row>>, BatchError> {
    let result = run_in_transaction::<O>(conn, ops, opts).await;
    conn.shrink_buffers();
    result
}

async fn run_in_transaction<O: BatchOps<Postgres>>(
    conn: &mut PgConnection,
    ops: Vec<BatchOp<O::New, O::Patch>>,
    opts: BatchOptions,
) -> std::result::Result<Vec<ItemResult<O::Row>>, BatchError> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let results = muster_store::sql_batch::run::<Postgres, O>(&mut tx, ops, opts.atomic).await?;
    crate::idempotency::mark(&mut tx, "batch").await?;
    if opts.dry_run {
        tx.rollback().await.map_err(map_err)?;
    } else {
        tx.commit().await.map_err(map_err)?;
    }
    Ok(results)
}

/// Which of `ids` exist in `table`.
async fn existing(conn: &mut PgConnection, table: &str, ids: Vec<Uuid>) -> Result<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let found: Vec<Uuid> = sqlx::query_scalar(&format!("SELECT id FROM {table} WHERE id = ANY($1)"))
        .bind(ids)
        .fetch_all(conn)
        .await
        .map_err(map_err)?;
    Ok(found.into_iter().collect())
}

pub struct Candidates;
pub struct Volunteers;
pub struct Events;
pub struct Attendances;

fn ins_candidates<'c>(c: &'c mut PgConnection, rows: &'c [Candidate]) -> BoxFut<'c, Result<()>> {
    Box::pin(import::insert_candidates(c, rows))
}
fn ins_volunteers<'c>(c: &'c mut PgConnection, rows: &'c [Volunteer]) -> BoxFut<'c, Result<()>> {
    Box::pin(import::insert_volunteers(c, rows))
}
fn ins_events<'c>(c: &'c mut PgConnection, rows: &'c [Event]) -> BoxFut<'c, Result<()>> {
    Box::pin(import::insert_events(c, rows))
}

#[async_trait]
impl BatchOps<Postgres> for Candidates {
    type New = NewCandidate;
    type Patch = CandidatePatch;
    type Row = Candidate;

    async fn create_many(
        conn: &mut PgConnection,
        items: Vec<NewCandidate>,
        atomic: bool,
    ) -> Result<Vec<Result<Candidate>>> {
        let now = now_micros();
        let rows: Vec<Candidate> = items.into_iter().map(|n| Candidate::create(n, Uuid::now_v7(), now)).collect();
        let verdicts = rows.iter().map(|_| Ok(())).collect();
        insert_checked::<Postgres, _>(conn, rows, verdicts, atomic, ins_candidates).await
    }
    async fn create(conn: &mut PgConnection, new: NewCandidate) -> Result<Candidate> {
        candidates::create(conn, new).await
    }
    async fn update(
        conn: &mut PgConnection,
        id: Uuid,
        patch: CandidatePatch,
        expected: Option<i64>,
    ) -> Result<Candidate> {
        candidates::update(conn, id, patch, expected).await
    }
    async fn delete(conn: &mut PgConnection, id: Uuid, expected: Option<i64>) -> Result<()> {
        candidates::delete(conn, id, expected).await
    }
}

#[async_trait]
impl BatchOps<Postgres> for Volunteers {
    type New = NewVolunteer;
    type Patch = VolunteerPatch;
    type Row = Volunteer;

    async fn create_many(
        conn: &mut PgConnection,
        items: Vec<NewVolunteer>,
        atomic: bool,
    ) -> Result<Vec<Result<Volunteer>>> {
        let now = now_micros();
        let rows: Vec<Volunteer> = items.into_iter().map(|n| Volunteer::create(n, Uuid::now_v7(), now)).collect();
        let emails: Vec<String> = rows.iter().map(|v| v.email.normalized()).collect();
        let taken: Vec<String> =
            sqlx::query_scalar("SELECT email_normalized FROM volunteers WHERE email_normalized = ANY($1)")
                .bind(&emails)
                .fetch_all(&mut *conn)
                .await
                .map_err(map_err)?;
        let mut taken: HashSet<String> = taken.into_iter().collect();
        let wanted: HashSet<Uuid> = rows.iter().filter_map(|v| v.candidate_id).collect();
        let found = existing(conn, "candidates", wanted.into_iter().collect()).await?;
        let verdicts = rows
            .iter()
            .zip(emails)
            .map(|(v, email)| muster_store::sql_batch::volunteer_verdict(v, email, &found, &mut taken))
            .collect();
        insert_checked::<Postgres, _>(conn, rows, verdicts, atomic, ins_volunteers).await
    }
    async fn create(conn: &mut PgConnection, new: NewVolunteer) -> Result<Volunteer> {
        volunteers::create(conn, new).await
    }
    async fn update(
        conn: &mut PgConnection,
        id: Uuid,
        patch: VolunteerPatch,
        expected: Option<i64>,
    ) -> Result<Volunteer> {
        volunteers::update(conn, id, patch, expected).await
    }
    async fn delete(conn: &mut PgConnection, id: Uuid, expected: Option<i64>) -> Result<()> {
        volunteers::delete(conn, id, expected).await
    }
}

#[async_trait]
impl BatchOps<Postgres> for Events {
    type New = NewEvent;
    type Patch = EventPatch;
    type Row = Event;

    async fn create_many(conn: &mut PgConnection, items: Vec<NewEvent>, atomic: bool) -> Result<Vec<Result<Event>>> {
        let now = now_micros();
        let rows: Vec<Event> = items.into_iter().map(|n| Event::create(n, Uuid::now_v7(), now)).collect();
        let wanted: HashSet<Uuid> = rows.iter().map(|e| e.candidate_id).collect();
        let found = existing(conn, "candidates", wanted.into_iter().collect()).await?;
        let verdicts = rows
            .iter()
            .map(|e| {
                if found.contains(&e.candidate_id) {
                    Ok(())
                } else {
                    Err(StoreError::missing_reference("candidate_id", "candidate", e.candidate_id))
                }
            })
            .collect();
        insert_checked::<Postgres, _>(conn, rows, verdicts, atomic, ins_events).await
    }
    async fn create(conn: &mut PgConnection, new: NewEvent) -> Result<Event> {
        events::create(conn, new).await
    }
    async fn update(conn: &mut PgConnection, id: Uuid, patch: EventPatch, expected: Option<i64>) -> Result<Event> {
        events::update(conn, id, patch, expected).await
    }
    async fn delete(conn: &mut PgConnection, id: Uuid, expected: Option<i64>) -> Result<()> {
        events::delete(conn, id, expected).await
    }
}

#[async_trait]
impl BatchOps<Postgres> for Attendances {
    type New = NewAttendance;
    type Patch = AttendancePatch;
    type Row = Attendance;

    async fn create(conn: &mut PgConnection, new: NewAttendance) -> Result<Attendance> {
        attendances::create(conn, new).await
    }
    async fn update(
        conn: &mut PgConnection,
        id: Uuid,
        patch: AttendancePatch,
        expected: Option<i64>,
    ) -> Result<Attendance> {
        attendances::update(conn, id, patch, expected).await
    }
    async fn delete(conn: &mut PgConnection, id: Uuid, expected: Option<i64>) -> Result<()> {
        attendances::delete(conn, id, expected).await
    }
}

/// `volunteer_ids_by_email`: one query for the lot.
pub async fn ids_by_email(
    conn: &mut PgConnection,
    emails: &[String],
) -> Result<std::collections::HashMap<String, Uuid>> {
    let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
    let rows: Vec<(String, Uuid)> =
        sqlx::query_as("SELECT email_normalized, id FROM volunteers WHERE email_normalized = ANY($1)")
            .bind(&lower)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?;
    Ok(rows.into_iter().collect())
}
