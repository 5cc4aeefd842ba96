//! Idempotency keys in PostgreSQL: claimed with an insert that only one request can win.
//! Which claims may be taken over is `muster_store::idempotency::decide`.

use crate::errors::map_err;
use chrono::Utc;
use muster_store::idempotency::{TAKEN_OVER, decide};
use muster_store::{Claim, IdempotencyBegin, IdempotencyKey, Result, StoreError, StoredResponse};
use sqlx::PgConnection;
use sqlx::types::Json;

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

pub async fn complete(conn: &mut PgConnection, key: &IdempotencyKey, response: &StoredResponse) -> Result<()> {
    sqlx::query("UPDATE idempotency_keys SET response = $3 WHERE principal = $1 AND key = $2")
        .bind(&key.principal)
        .bind(&key.key)
        .bind(Json(response))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn abort(conn: &mut PgConnection, claim: &Claim) -> Result<bool> {
    let released = sqlx::query(
        "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND claim = $3 \
         AND response IS NULL AND resource IS NULL",
    )
    .bind(&claim.key.principal)
    .bind(&claim.key.key)
    .bind(claim.token)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(released.rows_affected() == 1)
}

/// Records, inside the caller's transaction, what the current request (if it carries an
/// Idempotency-Key) wrote: the write and the record commit or vanish together. A request
/// whose claim was taken over meanwhile fails here, and its write with it.
pub async fn mark(conn: &mut sqlx::PgConnection, resource: &str) -> Result<()> {
    let Some(claim) = muster_store::idempotency::current() else { return Ok(()) };
    let marked =
        sqlx::query("UPDATE idempotency_keys SET resource = $3 WHERE principal = $1 AND key = $2 AND claim = $4")
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
