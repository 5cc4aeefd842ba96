//! Client-side error reports in PostgreSQL: insert, list newest first, purge by age and count.

use crate::errors::map_err;
use chrono::{DateTime, Utc};
use muster_store::{ClientReport, ClientReportQuery, Listed, ReportLevel, Result, StoreError};
use sqlx::PgConnection;
use uuid::Uuid;

const COLUMNS: &str = "id, received_at, level, message, stack, url, user_agent, release, subject, request_id";

type Row = (
    Uuid,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

fn report(row: Row) -> Result<ClientReport> {
    let (id, received_at, level, message, stack, url, user_agent, release, subject, request_id) = row;
    let level = ReportLevel::parse(&level).map_err(|e| StoreError::Internal(format!("client_reports.level: {e}")))?;
    Ok(ClientReport { id, received_at, level, message, stack, url, user_agent, release, subject, request_id })
}

pub async fn insert(conn: &mut PgConnection, r: &ClientReport) -> Result<()> {
    sqlx::query(&format!("INSERT INTO client_reports ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
        .bind(r.id)
        .bind(r.received_at)
        .bind(r.level.as_str())
        .bind(&r.message)
        .bind(&r.stack)
        .bind(&r.url)
        .bind(&r.user_agent)
        .bind(&r.release)
        .bind(&r.subject)
        .bind(&r.request_id)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn list(conn: &mut PgConnection, q: &ClientReportQuery) -> Result<Listed<ClientReport>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM client_reports WHERE ($1::timestamptz IS NULL OR received_at >= $1) \
         AND ($2::text IS NULL OR level = $2) AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC{}",
        q.page.limit_sql()
    ))
    .bind(q.since)
    .bind(q.level.map(ReportLevel::as_str))
    .bind(q.page.after)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    let rows = rows.into_iter().map(report).collect::<Result<Vec<_>>>()?;
    Ok(q.page.finish(rows, |r| r.id))
}

pub async fn purge(conn: &mut PgConnection, before: DateTime<Utc>, keep: u32) -> Result<u64> {
    // the id of the newest report past the `keep` newest: it and everything older go
    let done = sqlx::query(
        "DELETE FROM client_reports WHERE received_at < $1 \
         OR id <= (SELECT id FROM client_reports ORDER BY id DESC OFFSET $2 LIMIT 1)",
    )
    .bind(before)
    .bind(i64::from(keep))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected())
}
