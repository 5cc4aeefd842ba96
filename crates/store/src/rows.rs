//! Rows as both SQL backends read them, and their conversion into domain values.
//!
//! `FromRow` is generic over the driver (see [`crate::row_type`]), so PostgreSQL and
//! SQLite share these types: each backend only chooses column types that decode into them
//! (uuid/blob, timestamptz/text, jsonb/json text).

use crate::StoreError;
use crate::decode::{Stamp, StoredTags};
use crate::row_type::row_type;
use chrono::{DateTime, NaiveDate, Utc};
use muster_domain::attendance::{Attendance, AttendanceStatus};
use muster_domain::candidate::{Candidate, CandidateStatus};
use muster_domain::event::{Event, EventStatus, EventType, Location, Visibility};
use muster_domain::text::Text;
use muster_domain::volunteer::{Tag, Volunteer};
use muster_domain::{Email, Phone, TimeZone, ZipCode};
use sqlx::types::Json;
use uuid::Uuid;

fn corrupt(what: &str, e: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} does not parse: {e}"))
}

row_type! {
    pub struct CandidateRow, CANDIDATE_COLUMNS {
        id: Uuid,
        name: String,
        office: String,
        district: Option<String>,
        party: Option<String>,
        election_date: Option<NaiveDate>,
        status: String,
        website: Option<String>,
        version: i64,
        created_at: Stamp,
        updated_at: Stamp,
    }
}

impl TryFrom<CandidateRow> for Candidate {
    type Error = StoreError;
    fn try_from(r: CandidateRow) -> Result<Self, StoreError> {
        Ok(Candidate {
            id: r.id,
            name: Text::from_trusted(r.name),
            office: Text::from_trusted(r.office),
            district: r.district.map(Text::from_trusted),
            party: r.party.map(Text::from_trusted),
            election_date: r.election_date,
            status: CandidateStatus::parse(&r.status).map_err(|e| corrupt("candidate status", &e))?,
            website: r.website,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

row_type! {
    pub struct VolunteerRow, VOLUNTEER_COLUMNS {
        id: Uuid,
        first_name: String,
        last_name: String,
        email: String,
        phone: Option<String>,
        zip_code: Option<String>,
        candidate_id: Option<Uuid>,
        tags: StoredTags,
        version: i64,
        created_at: Stamp,
        updated_at: Stamp,
    }
}

impl TryFrom<VolunteerRow> for Volunteer {
    type Error = StoreError;
    fn try_from(r: VolunteerRow) -> Result<Self, StoreError> {
        Ok(Volunteer {
            id: r.id,
            first_name: Text::from_trusted(r.first_name),
            last_name: Text::from_trusted(r.last_name),
            email: Email::from_trusted(r.email),
            phone: r.phone.map(Phone::from_trusted),
            zip_code: r.zip_code.map(ZipCode::from_trusted),
            candidate_id: r.candidate_id,
            tags: r.tags.0,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

row_type! {
    pub struct EventRow, EVENT_COLUMNS {
        id: Uuid,
        candidate_id: Uuid,
        title: String,
        description: Option<String>,
        event_type: String,
        starts_at: Stamp,
        ends_at: Stamp,
        timezone: String,
        location: Option<Json<Location>>,
        virtual_url: Option<String>,
        capacity: Option<i32>,
        visibility: String,
        status: String,
        version: i64,
        created_at: Stamp,
        updated_at: Stamp,
    }
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Event {
            id: r.id,
            candidate_id: r.candidate_id,
            title: Text::from_trusted(r.title),
            description: r.description,
            event_type: EventType::parse(&r.event_type).map_err(|e| corrupt("event type", &e))?,
            starts_at: r.starts_at.0,
            ends_at: r.ends_at.0,
            timezone: TimeZone::from_trusted(r.timezone),
            location: r.location.map(|l| l.0),
            virtual_url: r.virtual_url,
            capacity: r.capacity,
            visibility: Visibility::parse(&r.visibility).map_err(|e| corrupt("event visibility", &e))?,
            status: EventStatus::parse(&r.status).map_err(|e| corrupt("event status", &e))?,
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

row_type! {
    pub struct AttendanceRow, ATTENDANCE_COLUMNS {
        id: Uuid,
        event_id: Uuid,
        volunteer_id: Uuid,
        status: String,
        checked_in_at: Option<Stamp>,
        version: i64,
        created_at: Stamp,
        updated_at: Stamp,
    }
}

impl TryFrom<AttendanceRow> for Attendance {
    type Error = StoreError;
    fn try_from(r: AttendanceRow) -> Result<Self, StoreError> {
        Ok(Attendance {
            id: r.id,
            event_id: r.event_id,
            volunteer_id: r.volunteer_id,
            status: AttendanceStatus::parse(&r.status).map_err(|e| corrupt("attendance status", &e))?,
            checked_in_at: r.checked_in_at.map(|s| s.0),
            version: r.version,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

/// Converts a list of rows, failing on the first that does not parse.
pub fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    // sized up front: collecting into a `Result` cannot see the length and grows by doubling
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(T::try_from(row)?);
    }
    Ok(out)
}

/// The tags as stored: a JSON array of strings.
pub fn tags_json(tags: &[Tag]) -> Json<Vec<Tag>> {
    Json(tags.to_vec())
}

/// An idempotency key as stored: fingerprint, response (once recorded), when it was
/// claimed, and what its request wrote (recorded in the write's transaction).
pub type IdempotencyRow = (String, Option<Json<crate::StoredResponse>>, DateTime<Utc>, Option<String>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_follow_the_field_order() {
        assert_eq!(
            VOLUNTEER_COLUMNS,
            "id, first_name, last_name, email, phone, zip_code, candidate_id, tags, version, created_at, updated_at"
        );
        assert_eq!(
            ATTENDANCE_COLUMNS,
            "id, event_id, volunteer_id, status, checked_in_at, version, created_at, updated_at"
        );
        assert!(EVENT_COLUMNS.starts_with("id, candidate_id, title, description, event_type, starts_at"));
        assert!(CANDIDATE_COLUMNS.ends_with("website, version, created_at, updated_at"));
    }
}
