//! Idempotency keys in SQLite: claimed with an insert that only one request can win.
//!
//! Claiming runs as one transaction on the writer connection, so unlike PostgreSQL there
//! is no window between the insert and the read for another request to change the row.
//! Which claims may be taken over is `muster_store::idempotency::decide`.

use crate::common;
use crate::errors::map_err;
use chrono::Utc;
use muster_store::idempotency::{TAKEN_OVER, decide};
use muster_store::{Claim, IdempotencyBegin, IdempotencyKey, Result, StoreError, StoredResponse};
use sqlx::SqlitePool;
use sqlx::types::Json;

pub async fn begin(writer: &SqlitePool, claim: &Claim, fingerprint: &str) -> Result<IdempotencyBegin> {
    let (key, now) = (&claim.key, Utc::now());
    let mut conn = writer.acquire().await.map_err(crate::errors::map_err)?;
    let mut tx = common::begin(&mut conn).await?;
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, created_at, claim) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (principal, key) DO NOTHING",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .bind(fingerprint)
    .bind(now)
    .bind(claim.token)
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
    let row = row.ok_or_else(|| StoreError::Internal("idempotency key vanished inside its transaction".into()))?;
    if let Some(found) = decide(row, fingerprint, now) {
        return Ok(found);
    }
    sqlx::query(
        "UPDATE idempotency_keys SET fingerprint = ?3, response = NULL, resource = NULL, created_at = ?4, claim = ?5 \
         WHERE principal = ?1 AND key = ?2",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .bind(fingerprint)
    .bind(now)
    .bind(claim.token)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(IdempotencyBegin::Claimed)
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

pub async fn abort(writer: &SqlitePool, claim: &Claim) -> Result<bool> {
    let released = sqlx::query(
        "DELETE FROM idempotency_keys WHERE principal = ?1 AND key = ?2 AND claim = ?3 \
         AND response IS NULL AND resource IS NULL",
    )
    .bind(&claim.key.principal)
    .bind(&claim.key.key)
    .bind(claim.token)
    .execute(writer)
    .await
    .map_err(map_err)?;
    Ok(released.rows_affected() == 1)
}

/// Records, inside the caller's write transaction, what the current request (if it carries
/// an Idempotency-Key) wrote: the write and the record commit or vanish together. A
/// request whose claim was taken over meanwhile fails here, and its write with it.
pub async fn mark(conn: &mut sqlx::SqliteConnection, resource: &str) -> Result<()> {
    let Some(claim) = muster_store::idempotency::current() else { return Ok(()) };
    let marked =
        sqlx::query("UPDATE idempotency_keys SET resource = ?3 WHERE principal = ?1 AND key = ?2 AND claim = ?4")
            .bind(&claim.key.principal)
            .bind(&claim.key.key)
            .bind(resource)
            .bind(claim.token)
            .execute(conn)
            .await
            .map_err(map_err)?;
    if marked.rows_affected() == 0 {
        return Err(StoreError::Conflict(TAKEN_OVER.into()));
    }
    Ok(())
}
