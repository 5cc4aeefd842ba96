//! Client-side error reports in SQLite: insert and purge on the writer, list on a reader.

use crate::errors::map_err;
use chrono::{DateTime, Utc};
use muster_store::{ClientReport, ClientReportQuery, Listed, ReportLevel, Result, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
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

pub async fn insert(writer: &SqlitePool, r: &ClientReport) -> Result<()> {
    sqlx::query(&format!("INSERT INTO client_reports ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"))
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
        .execute(writer)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub async fn list(reader: &SqlitePool, q: &ClientReportQuery) -> Result<Listed<ClientReport>> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM client_reports WHERE 1"));
    if let Some(t) = q.since {
        qb.push(" AND received_at >= ").push_bind(t);
    }
    if let Some(l) = q.level {
        qb.push(" AND level = ").push_bind(l.as_str());
    }
    if let Some(after) = q.page.after {
        // ids are UUIDv7 stored as big-endian blobs: byte order is arrival order
        qb.push(" AND id < ").push_bind(after);
    }
    qb.push(" ORDER BY id DESC").push(q.page.limit_sql());
    let rows: Vec<Row> = qb.build_query_as().fetch_all(reader).await.map_err(map_err)?;
    let rows = rows.into_iter().map(report).collect::<Result<Vec<_>>>()?;
    Ok(q.page.finish(rows, |r| r.id))
}

pub async fn purge(writer: &SqlitePool, before: DateTime<Utc>, keep: u32) -> Result<u64> {
    // the id of the newest report past the `keep` newest: it and everything older go
    let done = sqlx::query(
        "DELETE FROM client_reports WHERE received_at < ?1 \
         OR id <= (SELECT id FROM client_reports ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )
    .bind(before)
    .bind(i64::from(keep))
    .execute(writer)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected())
}
