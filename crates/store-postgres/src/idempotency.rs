//! Idempotency keys in PostgreSQL: claimed with an insert that only one request can win.
//! Which claims may be taken over is `muster_store::idempotency::decide`.

use crate::errors::map_err;
use chrono::Utc;
use muster_store::idempotency::decide;
use muster_store::{Claim, IdempotencyBegin, Result, StoreError};
use sqlx::PgConnection;

pub async fn begin(conn: &mut PgConnection, claim: &Claim, fingerprint: &str) -> Result<IdempotencyBegin> {
    let (key, now) = (&claim.key, Utc::now());
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, created_at, claim) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (principal, key) DO NOTHING",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .bind(fingerprint)
    .bind(now)
    .bind(claim.token)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if claimed.rows_affected() == 1 {
        return Ok(IdempotencyBegin::Claimed);
    }
    let row: Option<muster_store::rows::IdempotencyRow> = sqlx::query_as(
        "SELECT fingerprint, response, created_at, resource FROM idempotency_keys WHERE principal = $1 AND key = $2",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    // deleted between the two statements: the caller may simply retry
    let row = row.ok_or_else(|| StoreError::Unavailable("idempotency key raced".into()))?;
    let created_at = row.2;
    if let Some(found) = decide(row, fingerprint, now) {
        return Ok(found);
    }
    // take the key over, unless another request just did
    let taken = sqlx::query(
        "UPDATE idempotency_keys SET fingerprint = $3, response = NULL, resource = NULL, created_at = $4, claim = $6 \
         WHERE principal = $1 AND key = $2 AND created_at = $5",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .bind(fingerprint)
    .bind(now)
    .bind(created_at)
    .bind(claim.token)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(if taken.rows_affected() == 1 { IdempotencyBegin::Claimed } else { IdempotencyBegin::InProgress })
}

muster_store::idempotency_statements!(sqlx::Postgres, sqlx::PgConnection, crate::errors::map_err);
