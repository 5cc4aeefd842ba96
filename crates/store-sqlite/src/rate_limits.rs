//! Rate-limit overrides in SQLite.

use crate::errors::map_err;
use muster_store::{RateLimitOverride, Result, StoreError};
use sqlx::SqlitePool;

pub async fn list(pool: &SqlitePool) -> Result<Vec<RateLimitOverride>> {
    let rows: Vec<(String, i64, i64, i64, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "SELECT subject, \"limit\", period_ms, burst, updated_by, updated_at FROM rate_limit_overrides ORDER BY subject",
    )
    .fetch_all(pool)
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

pub async fn put(pool: &SqlitePool, o: &RateLimitOverride) -> Result<()> {
    sqlx::query(
        "INSERT INTO rate_limit_overrides (subject, \"limit\", period_ms, burst, updated_by, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET \"limit\" = excluded.\"limit\", \
         period_ms = excluded.period_ms, burst = excluded.burst, updated_by = excluded.updated_by, \
         updated_at = excluded.updated_at",
    )
    .bind(&o.subject)
    .bind(o.limit)
    .bind(o.period_ms)
    .bind(o.burst)
    .bind(&o.updated_by)
    .bind(o.updated_at)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn delete(pool: &SqlitePool, subject: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM rate_limit_overrides WHERE subject = ?")
        .bind(subject)
        .execute(pool)
        .await
        .map_err(map_err)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound { entity: "rate limit override" });
    }
    Ok(())
}
