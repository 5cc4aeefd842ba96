//! List filters, already parsed: a store turns each `Some` into one `WHERE` condition.

use chrono::{DateTime, Utc};
use muster_domain::attendance::AttendanceStatus;
use muster_domain::candidate::CandidateStatus;
use muster_domain::event::{EventStatus, EventType, Visibility};
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateFilter {
    pub status: Option<CandidateStatus>,
    pub office: Option<String>,
    pub party: Option<String>,
    pub district: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Only these rows (batch GET).
    pub ids: Option<Vec<Uuid>>,
    /// Only rows belonging to these candidates (a token confined to them); see [`owners`].
    pub candidates: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolunteerFilter {
    pub candidate_id: Option<Uuid>,
    /// Compared with the stored normalised (lower-cased) email.
    pub email: Option<String>,
    pub zip_code: Option<String>,
    pub tag: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Only these rows (batch GET).
    pub ids: Option<Vec<Uuid>>,
    /// Only rows belonging to these candidates (a token confined to them); see [`owners`].
    pub candidates: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub candidate_id: Option<Uuid>,
    pub event_type: Option<EventType>,
    pub status: Option<EventStatus>,
    pub visibility: Option<Visibility>,
    /// Events starting at or after this instant.
    pub starts_after: Option<DateTime<Utc>>,
    /// Events starting before this instant.
    pub starts_before: Option<DateTime<Utc>>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Only these rows (batch GET).
    pub ids: Option<Vec<Uuid>>,
    /// Only rows belonging to these candidates (a token confined to them); see [`owners`].
    pub candidates: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttendanceFilter {
    pub event_id: Option<Uuid>,
    pub volunteer_id: Option<Uuid>,
    pub status: Option<AttendanceStatus>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Only these rows (batch GET).
    pub ids: Option<Vec<Uuid>>,
    /// Only rows belonging to these candidates (a token confined to them); see [`owners`].
    pub candidates: Option<Vec<Uuid>>,
}

/// The rule of who owns a row, for tokens confined to some candidates: each expression
/// names a candidate the row belongs to, and a row is theirs when every one of them is in
/// the token's set. A candidate owns itself, a volunteer or an event its `candidate_id`
/// (so one without a candidate belongs to none), and an attendance both its event's and its
/// volunteer's candidate: its row names the volunteer, so a campaign sees the attendances
/// at its events of its own volunteers only. Both SQL backends read this one list (`IN`
/// for SQLite, `= ANY` for PostgreSQL).
pub fn owners(table: &str) -> &'static [&'static str] {
    match table {
        "candidates" => &["id"],
        "volunteers" | "events" => &["candidate_id"],
        "attendances" => &[
            "(SELECT candidate_id FROM events WHERE events.id = attendances.event_id)",
            "(SELECT candidate_id FROM volunteers WHERE volunteers.id = attendances.volunteer_id)",
        ],
        _ => &[],
    }
}
