//! Statements every resource runs the same way: fetch one row, conditional delete.

use crate::errors::{map_delete, map_err};
use muster_store::row_type::{Positional, decode_row, decode_rows};
use muster_store::{Expected, Result, StoreError};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Connection, PgConnection, PgExecutor, Postgres};
use uuid::Uuid;

/// Refuses a write whose `If-Match` version is stale.
pub fn check_version(entity: &'static str, current: i64, expected: Expected) -> Result<()> {
    match expected {
        Some(v) if v != current => Err(StoreError::PreconditionFailed { entity, expected: v }),
        _ => Ok(()),
    }
}

/// Reads the row with `id` (`lock` takes it FOR UPDATE inside a transaction).
pub async fn fetch<'e, R>(
    ex: impl PgExecutor<'e>,
    table: &str,
    columns: &str,
    entity: &'static str,
    id: Uuid,
    lock: bool,
) -> Result<R>
where
    R: Positional<PgRow>,
{
    let sql = format!("SELECT {columns} FROM {table} WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    let row = sqlx::query(&sql).bind(id).fetch_optional(ex).await.map_err(map_err)?;
    decode_row(&row.ok_or(StoreError::NotFound { entity })?).map_err(map_err)
}

/// Runs a list query and decodes its rows, checking the column types once (see
/// [`muster_store::row_type`]).
pub async fn fetch_rows<R: Positional<PgRow>>(
    query: sqlx::query::Query<'_, Postgres, PgArguments>,
    conn: &mut PgConnection,
) -> Result<Vec<R>> {
    let rows = query.fetch_all(conn).await.map_err(map_err)?;
    decode_rows(&rows).map_err(map_err)
}

/// Deletes the row with `id` if its version matches; `referenced` is the conflict message
/// when other rows still point at it.
pub async fn delete(
    conn: &mut PgConnection,
    table: &str,
    entity: &'static str,
    id: Uuid,
    expected: Expected,
    referenced: &str,
) -> Result<()> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    let version: Option<i64> = sqlx::query_scalar(&format!("SELECT version FROM {table} WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    check_version(entity, version.ok_or(StoreError::NotFound { entity })?, expected)?;
    sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_delete(e, referenced))?;
    tx.commit().await.map_err(map_err)
}

/// ` AND {expr} = ANY($n)`: the ids as one array parameter.
pub fn push_in(qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, expr: &str, ids: &[Uuid]) {
    qb.push(" AND ").push(expr).push(" = ANY(").push_bind(ids.to_vec()).push(")");
}

/// Confines a list of `table` to rows the `candidates` own ([`muster_store::owners`]).
pub fn push_owned_by(qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, table: &str, candidates: Option<&[Uuid]>) {
    if let Some(ids) = candidates {
        for expr in muster_store::owners(table) {
            push_in(qb, expr, ids);
        }
    }
}
