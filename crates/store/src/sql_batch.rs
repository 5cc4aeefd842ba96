//! The batch runner both SQL backends share: order, savepoints, atomicity. A backend
//! supplies the per-resource operations ([`BatchOps`]), including a bulk path for runs of
//! creates (one multi-row `INSERT` instead of a round trip per row).

use crate::StoreError;
use crate::batch::{BatchError, BatchOp, ItemResult};
use async_trait::async_trait;
use sqlx::{Connection, Database};
use uuid::Uuid;

/// One resource's operations on a connection that is inside a transaction.
#[async_trait]
pub trait BatchOps<DB: Database>: Send + Sync + 'static {
    type New: Send;
    type Patch: Send;
    type Row: Send;

    /// Creates the rows in order, one result per input. `Err` only for a store failure.
    /// Implementations may check and insert in bulk; the default goes one by one.
    async fn create_many(
        conn: &mut DB::Connection,
        items: Vec<Self::New>,
        atomic: bool,
    ) -> Result<Vec<Result<Self::Row, StoreError>>, StoreError> {
        let mut out = Vec::with_capacity(items.len());
        for new in items {
            let r = in_savepoint::<DB, _>(conn, !atomic, |c| Box::pin(Self::create(c, new))).await?;
            let failed = r.is_err();
            out.push(r);
            if failed && atomic {
                break;
            }
        }
        Ok(out)
    }

    async fn create(conn: &mut DB::Connection, new: Self::New) -> Result<Self::Row, StoreError>;
    async fn update(
        conn: &mut DB::Connection,
        id: Uuid,
        patch: Self::Patch,
        expected: Option<i64>,
    ) -> Result<Self::Row, StoreError>;
    async fn delete(conn: &mut DB::Connection, id: Uuid, expected: Option<i64>) -> Result<(), StoreError>;
}

/// A backend's multi-row insert of already-built rows.
pub type BulkInsert<DB, T> =
    for<'c> fn(&'c mut <DB as Database>::Connection, &'c [T]) -> BoxFut<'c, Result<(), StoreError>>;

pub type BoxFut<'c, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'c>>;

/// Runs `f` in a savepoint when `isolate` (non-atomic batches), undoing it if the item
/// fails. Item errors come back as `Ok(Err(..))`; store failures as `Err`.
pub async fn in_savepoint<DB: Database, T>(
    conn: &mut DB::Connection,
    isolate: bool,
    f: impl for<'c> FnOnce(&'c mut DB::Connection) -> BoxFut<'c, Result<T, StoreError>> + Send,
) -> Result<Result<T, StoreError>, StoreError> {
    let outcome = if isolate {
        let mut sp = conn.begin().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let r = f(&mut sp).await;
        match &r {
            Ok(_) => sp.commit().await.map_err(|e| StoreError::Unavailable(e.to_string()))?,
            Err(_) => sp.rollback().await.map_err(|e| StoreError::Unavailable(e.to_string()))?,
        }
        r
    } else {
        f(conn).await
    };
    match outcome {
        Err(e) if !e.is_item_error() => Err(e),
        other => Ok(other),
    }
}

/// Runs `ops` in order on `conn`, which must already be inside the batch's transaction.
/// Consecutive creates go to [`BatchOps::create_many`] together.
pub async fn run<DB: Database, O: BatchOps<DB>>(
    conn: &mut DB::Connection,
    ops: Vec<BatchOp<O::New, O::Patch>>,
    atomic: bool,
) -> Result<Vec<ItemResult<O::Row>>, BatchError> {
    let mut results: Vec<ItemResult<O::Row>> = Vec::with_capacity(ops.len());
    let mut ops = ops.into_iter().peekable();
    while let Some(op) = ops.next() {
        match op {
            BatchOp::Create(first) => {
                let mut news = vec![first];
                while let Some(BatchOp::Create(_)) = ops.peek() {
                    if let Some(BatchOp::Create(n)) = ops.next() {
                        news.push(n);
                    }
                }
                let start = results.len();
                for (i, r) in O::create_many(conn, news, atomic).await?.into_iter().enumerate() {
                    if atomic && let Err(error) = r {
                        return Err(BatchError::Aborted { index: start + i, error });
                    }
                    results.push(r.map(Some));
                }
            }
            BatchOp::Update { id, patch, expected } => {
                let r = in_savepoint::<DB, _>(conn, !atomic, |c| Box::pin(O::update(c, id, patch, expected))).await?;
                push(&mut results, r.map(Some), atomic)?;
            }
            BatchOp::Delete { id, expected } => {
                let r = in_savepoint::<DB, _>(conn, !atomic, |c| Box::pin(O::delete(c, id, expected))).await?;
                push(&mut results, r.map(|()| None), atomic)?;
            }
        }
    }
    Ok(results)
}

fn push<T>(results: &mut Vec<ItemResult<T>>, r: ItemResult<T>, atomic: bool) -> Result<(), BatchError> {
    match r {
        Err(error) if atomic => Err(BatchError::Aborted { index: results.len(), error }),
        r => {
            results.push(r);
            Ok(())
        }
    }
}

/// Inserts `rows` (already built, one per create) in bulk where their pre-checks passed.
///
/// `verdicts[i]` is the outcome of the backend's checks for row `i` (references exist,
/// unique values free, within the batch too). The rows that passed go in one bulk insert
/// inside a savepoint; if that still fails (a concurrent writer took an email since the
/// check), they are inserted one by one so each gets its own answer.
pub async fn insert_checked<DB: Database, T: Send + Sync>(
    conn: &mut DB::Connection,
    rows: Vec<T>,
    verdicts: Vec<Result<(), StoreError>>,
    atomic: bool,
    insert: BulkInsert<DB, T>,
) -> Result<Vec<Result<T, StoreError>>, StoreError> {
    if atomic && verdicts.iter().any(Result::is_err) {
        // the runner stops at the first failure; nothing is inserted
        return Ok(rows.into_iter().zip(verdicts).map(|(row, v)| v.map(|()| row)).collect());
    }
    let indices: Vec<usize> = verdicts.iter().enumerate().filter(|(_, v)| v.is_ok()).map(|(i, _)| i).collect();
    let bulk_ok =
        indices.is_empty() || Subset { rows: &rows, indices: &indices }.insert_all::<DB>(conn, insert).await?.is_none();
    let mut out = Vec::with_capacity(rows.len());
    let mut verdicts = verdicts.into_iter();
    for row in rows {
        let verdict = verdicts.next().unwrap_or(Ok(()));
        let r = match verdict {
            Err(e) => Err(e),
            Ok(()) if bulk_ok => Ok(row),
            Ok(()) => {
                let alone = Subset { rows: std::slice::from_ref(&row), indices: &[0] };
                match alone.insert_all::<DB>(conn, insert).await? {
                    None => Ok(row),
                    Some(e) => Err(e),
                }
            }
        };
        let failed = r.is_err();
        out.push(r);
        if failed && atomic {
            break;
        }
    }
    Ok(out)
}

/// The rows at `indices`, inserted together when they are contiguous in one slice, else in
/// contiguous runs (the common case, every row passing, is a single insert).
struct Subset<'a, T> {
    rows: &'a [T],
    indices: &'a [usize],
}

impl<T: Send + Sync> Subset<'_, T> {
    /// `Ok(None)` when all went in; `Ok(Some(e))` when item error `e` undid the attempt.
    async fn insert_all<DB: Database>(
        &self,
        conn: &mut DB::Connection,
        insert: BulkInsert<DB, T>,
    ) -> Result<Option<StoreError>, StoreError> {
        let mut sp = conn.begin().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut start = 0;
        while start < self.indices.len() {
            let mut end = start + 1;
            while end < self.indices.len() && self.indices[end] == self.indices[end - 1] + 1 {
                end += 1;
            }
            let run = &self.rows[self.indices[start]..=self.indices[end - 1]];
            match insert(&mut sp, run).await {
                Ok(()) => {}
                Err(e) if e.is_item_error() => {
                    sp.rollback().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
                    return Ok(Some(e));
                }
                Err(e) => return Err(e),
            }
            start = end;
        }
        sp.commit().await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(None)
    }
}

/// The pre-check of one volunteer in a run of creates: its candidate exists, and its email
/// is neither stored nor used earlier in the batch (`taken` grows as items pass).
pub fn volunteer_verdict(
    v: &muster_domain::volunteer::Volunteer,
    email: String,
    candidates: &std::collections::HashSet<Uuid>,
    taken: &mut std::collections::HashSet<String>,
) -> Result<(), StoreError> {
    if let Some(c) = v.candidate_id
        && !candidates.contains(&c)
    {
        return Err(StoreError::missing_reference("candidate_id", "candidate", c));
    }
    if !taken.insert(email) {
        return Err(StoreError::Conflict("a volunteer with this email already exists".into()));
    }
    Ok(())
}
