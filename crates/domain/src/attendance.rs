//! Attendances: a volunteer's place at an event, and the rules that move it.
//!
//! The server decides `registered` or `waitlisted` from the event's capacity; cancelling a
//! seat hands it to the oldest waitlisted attendance; check-in marks `attended`. The stores
//! apply these decisions inside one transaction per event so they hold under concurrency;
//! the decisions themselves live here.

use crate::input::{Fields, uuid, with};
use crate::{Patch, ValidationErrors, wire_enum};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

wire_enum!(
    /// Where an attendance stands.
    AttendanceStatus {
        Registered => "registered", Waitlisted => "waitlisted", Cancelled => "cancelled",
        Attended => "attended", NoShow => "no_show",
    }
);

impl AttendanceStatus {
    /// Whether this attendance holds one of the event's seats.
    pub fn holds_seat(self) -> bool {
        matches!(self, AttendanceStatus::Registered | AttendanceStatus::Attended)
    }
}

/// A stored attendance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attendance {
    pub id: Uuid,
    pub event_id: Uuid,
    pub volunteer_id: Uuid,
    pub status: AttendanceStatus,
    #[serde(serialize_with = "crate::time::rfc3339::option")]
    pub checked_in_at: Option<DateTime<Utc>>,
    pub version: i64,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// A valid attendance to create; its status is the server's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttendance {
    pub event_id: Uuid,
    pub volunteer_id: Uuid,
}

/// A valid partial update: only the status can be changed by a client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttendancePatch {
    pub status: Patch<AttendanceStatus>,
}

/// The fields a client may send on create (status only to be told it is the server's).
pub const FIELDS: &[&str] = &["event_id", "volunteer_id"];
/// The fields a client may change.
pub const PATCH_FIELDS: &[&str] = &["status"];

impl NewAttendance {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, &[FIELDS[0], FIELDS[1], "status"]);
        if obj.contains_key("status") {
            f.error("status", "is decided by the server from the event's capacity; leave it out");
        }
        let event_id = f.required("event_id", uuid);
        let volunteer_id = f.required("volunteer_id", uuid);
        f.finish(|| NewAttendance {
            event_id: event_id.expect("checked"),
            volunteer_id: volunteer_id.expect("checked"),
        })
    }
}

impl AttendancePatch {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, PATCH_FIELDS);
        let status = f.patch("status", with(AttendanceStatus::parse));
        f.finish(|| AttendancePatch { status })
    }
}

/// What the store must do to apply a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changes (the attendance already has that status).
    Unchanged,
    /// Store the new status; `frees_seat` says whether to promote the oldest waitlisted.
    To { status: AttendanceStatus, frees_seat: bool },
    /// Re-register a cancelled attendance: the store decides registered or waitlisted.
    Rejoin,
}

/// Decides whether a client may move an attendance from `from` to `to`, and what follows.
/// Errors are messages for a 409: the change is well-formed but not allowed now.
pub fn transition(from: AttendanceStatus, to: AttendanceStatus) -> Result<Transition, String> {
    use AttendanceStatus as S;
    if from == to {
        return Ok(Transition::Unchanged);
    }
    match (from, to) {
        (S::Registered | S::Waitlisted, S::Cancelled) => {
            Ok(Transition::To { status: to, frees_seat: from.holds_seat() })
        }
        (S::Registered, S::NoShow | S::Attended) | (S::Attended, S::NoShow) | (S::NoShow, S::Attended) => {
            Ok(Transition::To { status: to, frees_seat: false })
        }
        (S::Cancelled, S::Registered) => Ok(Transition::Rejoin),
        (S::Waitlisted, S::Registered) => {
            Err("a waitlisted attendance is registered by the server when a seat frees up".into())
        }
        (S::Cancelled, _) => Err(format!("a cancelled attendance can only be registered again, not set to {to}")),
        (_, S::Waitlisted) => Err("the waitlist is managed by the server; cancel instead".into()),
        _ => Err(format!("an attendance cannot go from {from} to {to}")),
    }
}

/// The status a new (or re-joining) attendance gets, given the seats already taken.
pub fn admit(capacity: Option<i32>, seated: i64) -> AttendanceStatus {
    match capacity {
        Some(c) if seated >= i64::from(c) => AttendanceStatus::Waitlisted,
        _ => AttendanceStatus::Registered,
    }
}

/// Check-in: registered (or already attended, idempotently) becomes attended.
pub fn check_in(from: AttendanceStatus) -> Result<Transition, String> {
    match from {
        AttendanceStatus::Attended => Ok(Transition::Unchanged),
        AttendanceStatus::Registered | AttendanceStatus::NoShow => {
            Ok(Transition::To { status: AttendanceStatus::Attended, frees_seat: false })
        }
        AttendanceStatus::Waitlisted => Err("a waitlisted volunteer has no seat to check in to".into()),
        AttendanceStatus::Cancelled => Err("a cancelled attendance cannot be checked in".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttendanceStatus as S;

    #[test]
    fn admission_by_capacity() {
        assert_eq!(admit(None, 10_000), S::Registered);
        assert_eq!(admit(Some(2), 1), S::Registered);
        assert_eq!(admit(Some(2), 2), S::Waitlisted);
    }

    #[test]
    fn only_a_seat_holder_frees_a_seat() {
        assert_eq!(
            transition(S::Registered, S::Cancelled),
            Ok(Transition::To { status: S::Cancelled, frees_seat: true })
        );
        assert_eq!(
            transition(S::Waitlisted, S::Cancelled),
            Ok(Transition::To { status: S::Cancelled, frees_seat: false })
        );
        assert!(transition(S::Waitlisted, S::Registered).is_err());
        assert!(transition(S::Registered, S::Waitlisted).is_err());
        assert_eq!(transition(S::Cancelled, S::Registered), Ok(Transition::Rejoin));
        assert!(transition(S::Cancelled, S::Attended).is_err());
        assert_eq!(transition(S::Attended, S::Attended), Ok(Transition::Unchanged));
    }

    #[test]
    fn check_in_rules() {
        assert!(check_in(S::Waitlisted).is_err());
        assert!(check_in(S::Cancelled).is_err());
        assert_eq!(check_in(S::Attended), Ok(Transition::Unchanged));
        assert!(matches!(check_in(S::Registered), Ok(Transition::To { status: S::Attended, .. })));
    }

    /// Every pair has a decision, and the decisions keep the seat count right: only a
    /// seat holder cancelling frees a seat for the waitlist (a no-show is marked after the
    /// event, when promoting is pointless), nothing but the server waitlists, and a refusal
    /// says why.
    #[test]
    fn every_pair_is_decided_and_keeps_the_seat_count() {
        for &a in S::ALL {
            for &b in S::ALL {
                match transition(a, b) {
                    Ok(Transition::Unchanged) => assert_eq!(a, b),
                    Ok(Transition::To { status, frees_seat }) => {
                        assert_eq!(status, b, "{a} -> {b}");
                        assert_ne!(b, S::Waitlisted, "only the server waitlists");
                        assert_eq!(frees_seat, a.holds_seat() && b == S::Cancelled, "{a} -> {b}");
                    }
                    Ok(Transition::Rejoin) => assert_eq!((a, b), (S::Cancelled, S::Registered)),
                    Err(why) => {
                        assert_ne!(a, b);
                        assert!(!why.is_empty(), "{a} -> {b} refused without a reason");
                    }
                }
            }
        }
    }
}
