//! Idempotency keys in SQLite: claimed with an insert that only one request can win.
//!
//! Claiming runs as one transaction on the writer connection, so unlike PostgreSQL there
//! is no window between the insert and the read for another request to change the row.

use crate::common;
use crate::errors::map_err;
use chrono::{Duration, Utc};
use muster_store::{
    ABANDONED_AFTER_SECS, IdempotencyBegin, IdempotencyKey, RETENTION_HOURS, Result, StoreError, StoredResponse,
};
use sqlx::SqlitePool;
use sqlx::types::Json;

pub async fn begin(writer: &SqlitePool, key: &IdempotencyKey, fingerprint: &str) -> Result<IdempotencyBegin> {
    let now = Utc::now();
    let mut conn = writer.acquire().await.map_err(crate::errors::map_err)?;
    let mut tx = common::begin(&mut conn).await?;
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (principal, key) DO NOTHING",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .bind(fingerprint)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    if claimed.rows_affected() == 1 {
        tx.commit().await.map_err(map_err)?;
        return Ok(IdempotencyBegin::Claimed);
    }
    let row: Option<muster_store::rows::IdempotencyRow> = sqlx::query_as(
        "SELECT fingerprint, response, created_at, resource FROM idempotency_keys WHERE principal = ?1 AND key = ?2",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    // the insert just found this row in the same transaction
    let (fp, response, created_at, resource) =
        row.ok_or_else(|| StoreError::Internal("idempotency key vanished inside its transaction".into()))?;
    let expired = created_at < now - Duration::hours(RETENTION_HOURS);
    // a claim whose write committed is never abandoned: running it again would write twice
    let abandoned =
        response.is_none() && resource.is_none() && created_at < now - Duration::seconds(ABANDONED_AFTER_SECS);
    if expired || abandoned {
        sqlx::query(
            "UPDATE idempotency_keys SET fingerprint = ?3, response = NULL, resource = NULL, created_at = ?4 \
             WHERE principal = ?1 AND key = ?2",
        )
        .bind(&key.principal)
        .bind(&key.key)
        .bind(fingerprint)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        return Ok(IdempotencyBegin::Claimed);
    }
    Ok(match (response, resource) {
        _ if fp != fingerprint => IdempotencyBegin::Mismatch,
        (Some(Json(r)), _) => IdempotencyBegin::Done(r),
        (None, Some(written)) => IdempotencyBegin::Committed(written),
        (None, None) => IdempotencyBegin::InProgress,
    })
}

pub async fn complete(writer: &SqlitePool, key: &IdempotencyKey, response: &StoredResponse) -> Result<()> {
    sqlx::query("UPDATE idempotency_keys SET response = ?3 WHERE principal = ?1 AND key = ?2")
        .bind(&key.principal)
        .bind(&key.key)
        .bind(Json(response))
        .execute(writer)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn abort(writer: &SqlitePool, key: &IdempotencyKey) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE principal = ?1 AND key = ?2 AND response IS NULL AND resource IS NULL",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .execute(writer)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Records, inside the caller's write transaction, what the current request (if it carries
/// an Idempotency-Key) wrote: the write and the record commit or vanish together.
pub async fn mark(conn: &mut sqlx::SqliteConnection, resource: &str) -> Result<()> {
    let Some(key) = muster_store::idempotency::current() else { return Ok(()) };
    sqlx::query("UPDATE idempotency_keys SET resource = ?3 WHERE principal = ?1 AND key = ?2")
        .bind(&key.principal)
        .bind(&key.key)
        .bind(resource)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}
