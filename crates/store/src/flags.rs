//! What the store keeps about feature flags besides the flags themselves: the audit trail.
//!
//! Every write to a flag records, in the same transaction, who made it, when, and the flag
//! before and after, so "who turned this on for everyone on Friday night?" has an answer
//! even after the flag is deleted. The snapshots are the flag as the admin API shows it
//! (JSON), so the trail reads the same way the API does and survives schema changes.

use crate::Page;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

muster_domain::wire_enum!(
    /// What a change did to a flag.
    FlagAction {
        Created => "created",
        Replaced => "replaced",
        Updated => "updated",
        Deleted => "deleted",
    }
);

/// One recorded change to a flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagChange {
    /// UUIDv7: ordering by id is ordering by time.
    pub id: Uuid,
    pub key: String,
    pub action: FlagAction,
    /// The `sub` of the administrator who made it.
    pub actor: String,
    pub at: DateTime<Utc>,
    /// The flag before the change (`None` for a create).
    pub before: Option<serde_json::Value>,
    /// The flag after the change (`None` for a delete).
    pub after: Option<serde_json::Value>,
}

/// Which changes to list: newest first, optionally of one flag. `page.after` is the last id
/// of the previous page; the next page holds older changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagChangeQuery {
    pub key: Option<String>,
    pub page: Page,
}
