//! Idempotency keys in PostgreSQL: claimed with an insert that only one request can win.

use crate::errors::map_err;
use chrono::{Duration, Utc};
use muster_store::{
    ABANDONED_AFTER_SECS, IdempotencyBegin, IdempotencyKey, RETENTION_HOURS, Result, StoreError, StoredResponse,
};
use sqlx::PgConnection;
use sqlx::types::Json;

pub async fn begin(conn: &mut PgConnection, key: &IdempotencyKey, fingerprint: &str) -> Result<IdempotencyBegin> {
    let now = Utc::now();
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (principal, key) DO NOTHING",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .bind(fingerprint)
    .bind(now)
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
    let (fp, response, created_at, resource) =
        row.ok_or_else(|| StoreError::Unavailable("idempotency key raced".into()))?;
    let expired = created_at < now - Duration::hours(RETENTION_HOURS);
    // a claim whose write committed is never abandoned: running it again would write twice
    let abandoned =
        response.is_none() && resource.is_none() && created_at < now - Duration::seconds(ABANDONED_AFTER_SECS);
    if expired || abandoned {
        // take the key over, unless another request just did
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET fingerprint = $3, response = NULL, resource = NULL, created_at = $4 \
             WHERE principal = $1 AND key = $2 AND created_at = $5",
        )
        .bind(&key.principal)
        .bind(&key.key)
        .bind(fingerprint)
        .bind(now)
        .bind(created_at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        return Ok(if taken.rows_affected() == 1 { IdempotencyBegin::Claimed } else { IdempotencyBegin::InProgress });
    }
    Ok(match (response, resource) {
        _ if fp != fingerprint => IdempotencyBegin::Mismatch,
        (Some(Json(r)), _) => IdempotencyBegin::Done(r),
        (None, Some(written)) => IdempotencyBegin::Committed(written),
        (None, None) => IdempotencyBegin::InProgress,
    })
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

pub async fn abort(conn: &mut PgConnection, key: &IdempotencyKey) -> Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND response IS NULL AND resource IS NULL",
    )
    .bind(&key.principal)
    .bind(&key.key)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Records, inside the caller's transaction, what the current request (if it carries an
/// Idempotency-Key) wrote: the write and the record commit or vanish together.
pub async fn mark(conn: &mut sqlx::PgConnection, resource: &str) -> Result<()> {
    let Some(key) = muster_store::idempotency::current() else { return Ok(()) };
    sqlx::query("UPDATE idempotency_keys SET resource = $3 WHERE principal = $1 AND key = $2")
        .bind(&key.principal)
        .bind(&key.key)
        .bind(resource)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}
