//! What the store keeps and reports for observability: client-side error reports, the row
//! totals behind the business gauges, and connection-pool occupancy.
//!
//! Client reports are kept so the monitor can show what browsers and apps ran into; they
//! are not campaign data, so they are bounded twice (an age and a row count) and purged on
//! an interval. The API scrubs personal data out of them before they reach the store.

use crate::Page;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

muster_domain::wire_enum!(
    /// How bad the client says its error is (the usual browser and mobile SDK levels).
    ReportLevel {
        Fatal => "fatal",
        Error => "error",
        Warning => "warning",
        Info => "info",
        Debug => "debug",
    }
);

/// One error a browser or app reported through `POST /v1/client-errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientReport {
    /// UUIDv7, so ordering by id is ordering by arrival.
    pub id: Uuid,
    pub received_at: DateTime<Utc>,
    pub level: ReportLevel,
    pub message: String,
    pub stack: Option<String>,
    /// The page or screen the client was on.
    pub url: Option<String>,
    pub user_agent: Option<String>,
    /// The client's own version, to tell a new bug from an old one.
    pub release: Option<String>,
    /// Who sent it: the caller's token subject.
    pub subject: String,
    /// The request that carried it, to find its access line in the logs.
    pub request_id: Option<String>,
}

/// Which reports to list: newest first, optionally only recent ones or one level.
/// `page.after` is the last id of the previous page; the next page holds older reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientReportQuery {
    pub since: Option<DateTime<Utc>>,
    pub level: Option<ReportLevel>,
    pub page: Page,
}

/// Rows stored right now, for the business gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub candidates: i64,
    pub volunteers: i64,
    pub events: i64,
    /// Attendances by status name; a status with no rows may be absent.
    pub attendances: BTreeMap<String, i64>,
    pub client_reports: i64,
}

/// One connection pool's occupancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `primary` on PostgreSQL; `writer` and `reader` on SQLite.
    pub pool: &'static str,
    /// Connections open now, idle or in use.
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}
