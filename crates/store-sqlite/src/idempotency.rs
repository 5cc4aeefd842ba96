//! Idempotency keys in SQLite: claimed with an insert that only one request can win.
//!
//! Claiming runs as one transaction on the writer connection, so unlike PostgreSQL there
//! is no window between the insert and the read for another request to change the row.
//! Which claims may be taken over is `muster_store::idempotency::decide`.

use crate::common;
use crate::errors::map_err;
use chrono::Utc;
use muster_store::idempotency::decide;
use muster_store::{Claim, IdempotencyBegin, Result, StoreError};
use sqlx::SqlitePool;

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

muster_store::idempotency_statements!(sqlx::Sqlite, sqlx::SqliteConnection, crate::errors::map_err);
