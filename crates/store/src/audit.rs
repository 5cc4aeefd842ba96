//! The audit trail of personal data: who changed a volunteer, and who was shown contact
//! details, kept for a retention period (`MUSTER_AUDIT_RETENTION`).

use crate::Page;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// What one caller did through one route (with one query) within a second or so: the API
/// folds requests into entries (see `muster_api::audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// UUIDv7: its order is the order entries were stored.
    pub id: Uuid,
    /// The first request's time.
    #[serde(serialize_with = "muster_domain::rfc3339::serialize")]
    pub at: DateTime<Utc>,
    /// The last request's time.
    #[serde(serialize_with = "muster_domain::rfc3339::serialize")]
    pub last_at: DateTime<Utc>,
    /// The token's `sub`.
    pub subject: String,
    /// `create`, `update`, `delete`, `batch`, `import` or `read`.
    pub action: String,
    /// Method and matched route: `GET /v1/volunteers/{id}`.
    pub route: String,
    /// The volunteers named (rows read or changed one by one, batches), each once.
    pub volunteer_ids: Vec<Uuid>,
    /// How many volunteers were changed or shown, all requests together.
    pub count: i64,
    /// The list query, or the import's options.
    pub query: Option<String>,
    /// The requests folded into this entry, in order.
    pub request_ids: Vec<String>,
    /// The build that served it.
    pub build: String,
}

/// `GET /v1/admin/audit`: newest first, each filter optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub volunteer_id: Option<Uuid>,
    /// Entries whose last request was at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Entries whose first request was before this.
    pub to: Option<DateTime<Utc>>,
    pub page: Page,
}
