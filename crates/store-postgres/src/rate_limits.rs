//! Rate-limit overrides in PostgreSQL.

use crate::errors::map_err;
use muster_store::{RateLimitOverride, Result, StoreError};
use sqlx::PgConnection;

pub async fn list(conn: &mut PgConnection) -> Result<Vec<RateLimitOverride>> {
    let rows: Vec<(String, i64, i64, i64, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT subject, \"limit\", period_ms, burst, updated_by, updated_at FROM rate_limit_overrides ORDER BY subject",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(rows
        .into_iter()
        .map(|(subject, limit, period_ms, burst, updated_by, updated_at)| RateLimitOverride {
            subject,
            limit,
            period_ms,
            burst,
            updated_by,
            updated_at,
        })
        .collect())
}

pub async fn put(conn: &mut PgConnection, o: &RateLimitOverride) -> Result<()> {
    sqlx::query(
        "INSERT INTO rate_limit_overrides (subject, \"limit\", period_ms, burst, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subject) DO UPDATE SET \"limit\" = $2, period_ms = $3, \
         burst = $4, updated_by = $5, updated_at = $6",
    )
    .bind(&o.subject)
    .bind(o.limit)
    .bind(o.period_ms)
    .bind(o.burst)
    .bind(&o.updated_by)
    .bind(o.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn delete(conn: &mut PgConnection, subject: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM rate_limit_overrides WHERE subject = $1")
        .bind(subject)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound { entity: "rate limit override" });
    }
    Ok(())
}
