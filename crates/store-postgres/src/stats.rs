//! Row totals and pool occupancy for the metrics: exact counts in one round trip per
//! refresh (about once a minute), pool numbers straight from the pool without a query.

use crate::errors::map_err;
use muster_store::{Counts, PoolStats, Result};
use sqlx::PgPool;

pub async fn counts(pool: &PgPool) -> Result<Counts> {
    // one statement, so the totals come from one snapshot
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT 'candidates', count(*) FROM candidates UNION ALL SELECT 'volunteers', count(*) FROM volunteers \
         UNION ALL SELECT 'events', count(*) FROM events UNION ALL SELECT 'client_reports', count(*) FROM client_reports \
         UNION ALL SELECT 'attendance:' || status, count(*) FROM attendances GROUP BY status",
    )
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    let mut c = Counts::default();
    for (name, n) in rows {
        match name.as_str() {
            "candidates" => c.candidates = n,
            "volunteers" => c.volunteers = n,
            "events" => c.events = n,
            "client_reports" => c.client_reports = n,
            other => {
                if let Some(status) = other.strip_prefix("attendance:") {
                    c.attendances.insert(status.to_owned(), n);
                }
            }
        }
    }
    Ok(c)
}

pub fn pool_stats(pool: &PgPool) -> Vec<PoolStats> {
    let open = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
    vec![PoolStats { pool: "primary", open, idle, max: pool.options().get_max_connections() }]
}
