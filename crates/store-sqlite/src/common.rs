//! Statements every resource runs the same way: fetch one row, check a reference, and
//! conditional delete.
//!
//! There is no `FOR UPDATE` here: every write transaction runs on the store's single
//! writer connection, so a row read inside one cannot change before it commits.

use crate::errors::{map_delete, map_err};
use muster_store::{Expected, Result, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, FromRow, Sqlite, SqliteConnection, SqliteExecutor, Transaction};
use uuid::Uuid;

/// Starts a write transaction on a writer connection.
///
/// `IMMEDIATE` takes SQLite's write lock up front. Within this process the single writer
/// connection already serialises writers; the lock matters when another process (a
/// `muster seed`, the sqlite3 shell) writes the same file: a deferred transaction that read
/// before it wrote would then fail with `SQLITE_BUSY_SNAPSHOT`, while this one waits out
/// the busy timeout for its turn.
///
/// Inside a transaction already (an item of a batch) this opens a savepoint instead, so the
/// item's writes can be undone alone.
pub async fn begin(conn: &mut SqliteConnection) -> Result<Transaction<'_, Sqlite>> {
    if conn.is_in_transaction() {
        conn.begin().await.map_err(map_err)
    } else {
        conn.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)
    }
}

/// Refuses a write whose `If-Match` version is stale.
pub fn check_version(entity: &'static str, current: i64, expected: Expected) -> Result<()> {
    match expected {
        Some(v) if v != current => Err(StoreError::PreconditionFailed { entity, expected: v }),
        _ => Ok(()),
    }
}

/// Reads the row with `id`.
pub async fn fetch<'e, R>(
    ex: impl SqliteExecutor<'e>,
    table: &str,
    columns: &str,
    entity: &'static str,
    id: Uuid,
) -> Result<R>
where
    R: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
{
    sqlx::query_as(&format!("SELECT {columns} FROM {table} WHERE id = ?"))
        .bind(id)
        .fetch_optional(ex)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound { entity })
}

/// Fails with a 422 naming `field` unless `table` has a row with `id`.
///
/// SQLite's foreign-key error does not say which key broke, so writes check their
/// references first; inside the writer's transaction the answer cannot go stale.
pub async fn require(conn: &mut SqliteConnection, table: &str, field: &str, entity: &str, id: Uuid) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(map_err)?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::missing_reference(field, entity, id)),
    }
}

/// Deletes the row with `id` if its version matches; `referenced` is the conflict message
/// when other rows still point at it. `conn` must be a writer connection.
pub async fn delete(
    conn: &mut SqliteConnection,
    table: &str,
    entity: &'static str,
    id: Uuid,
    expected: Expected,
    referenced: &str,
) -> Result<()> {
    let mut tx = begin(conn).await?;
    let version: Option<i64> = sqlx::query_scalar(&format!("SELECT version FROM {table} WHERE id = ?"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    check_version(entity, version.ok_or(StoreError::NotFound { entity })?, expected)?;
    sqlx::query(&format!("DELETE FROM {table} WHERE id = ?"))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_delete(e, referenced))?;
    tx.commit().await.map_err(map_err)
}

/// `AND id IN (…)` for a batch GET (at most a page of ids, far below the parameter limit).
pub fn push_id_list(qb: &mut sqlx::QueryBuilder<'_, Sqlite>, ids: &[Uuid]) {
    push_in(qb, "id", ids);
}

/// ` AND {expr} IN (…)`: SQLite has no arrays, so one placeholder per id.
pub fn push_in(qb: &mut sqlx::QueryBuilder<'_, Sqlite>, expr: &str, ids: &[Uuid]) {
    if ids.is_empty() {
        qb.push(" AND 0");
        return;
    }
    qb.push(" AND ").push(expr).push(" IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    qb.push(")");
}

/// Confines a list of `table` to rows the `candidates` own ([`muster_store::owners`]).
pub fn push_owned_by(qb: &mut sqlx::QueryBuilder<'_, Sqlite>, table: &str, candidates: Option<&[Uuid]>) {
    if let Some(ids) = candidates {
        for expr in muster_store::owners(table) {
            push_in(qb, expr, ids);
        }
    }
}
