//! The audit trail of personal data: who changed a volunteer, and who was shown contact
//! details, kept for a retention period (`MUSTER_AUDIT_RETENTION`).

use crate::Page;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// UUIDv7: its order is the order entries were made.
    pub id: Uuid,
    #[serde(serialize_with = "muster_domain::rfc3339::serialize")]
    pub at: DateTime<Utc>,
    /// The token's `sub`.
    pub subject: String,
    /// `create`, `update`, `delete`, `batch`, `import` or `read`.
    pub action: String,
    /// Method and matched route: `GET /v1/volunteers/{id}`.
    pub route: String,
    /// The volunteers it touched, when they are few enough to name (single rows, batches).
    pub volunteer_ids: Vec<Uuid>,
    /// How many volunteers it touched or showed (a list page, an import).
    pub count: i64,
    /// The list query, for reads of lists.
    pub query: Option<String>,
    pub request_id: Option<String>,
    /// The build that served it.
    pub build: String,
}

/// `GET /v1/admin/audit`: newest first, each filter optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub volunteer_id: Option<Uuid>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    pub page: Page,
}
