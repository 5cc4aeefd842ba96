//! Row totals for the metrics: exact counts in one round trip per refresh (about once a
//! minute). Pool occupancy comes from the pool itself (`pool::Pool::stats`).

use crate::errors::map_err;
use muster_store::{Counts, Result};
use sqlx::PgConnection;

pub async fn counts(conn: &mut PgConnection) -> Result<Counts> {
    // one statement, so the totals come from one snapshot
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT 'candidates', count(*) FROM candidates UNION ALL SELECT 'volunteers', count(*) FROM volunteers \
         UNION ALL SELECT 'events', count(*) FROM events UNION ALL SELECT 'client_reports', count(*) FROM client_reports \
         UNION ALL SELECT 'attendance:' || status, count(*) FROM attendances GROUP BY status",
    )
    .fetch_all(&mut *conn)
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
