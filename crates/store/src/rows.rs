//! Rows as both SQL backends read them, and their conversion into domain values.
//!
//! `FromRow` derives generically over the driver, so PostgreSQL and SQLite share these
//! types: each backend only chooses column types that decode into them (uuid/blob,
//! timestamptz/text, jsonb/json text).

use crate::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use muster_domain::attendance::{Attendance, AttendanceStatus};
use muster_domain::candidate::{Candidate, CandidateStatus};
use muster_domain::event::{Event, EventStatus, EventType, Location, Visibility};
use muster_domain::text::Text;
use muster_domain::volunteer::{Tag, Volunteer};
use muster_domain::{Email, Phone, TimeZone, ZipCode};
use sqlx::types::Json;
use uuid::Uuid;

/// Column lists in the order the row types expect.
pub const CANDIDATE_COLUMNS: &str =
    "id, name, office, district, party, election_date, status, website, version, created_at, updated_at";
pub const VOLUNTEER_COLUMNS: &str =
    "id, first_name, last_name, email, phone, zip_code, candidate_id, tags, version, created_at, updated_at";
pub const EVENT_COLUMNS: &str = "id, candidate_id, title, description, event_type, starts_at, ends_at, timezone, \
     location, virtual_url, capacity, visibility, status, version, created_at, updated_at";
pub const ATTENDANCE_COLUMNS: &str =
    "id, event_id, volunteer_id, status, checked_in_at, version, created_at, updated_at";

fn corrupt(what: &str, e: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} does not parse: {e}"))
}

#[derive(Debug, sqlx::FromRow)]
pub struct CandidateRow {
    pub id: Uuid,
    pub name: String,
    pub office: String,
    pub district: Option<String>,
    pub party: Option<String>,
    pub election_date: Option<NaiveDate>,
    pub status: String,
    pub website: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct VolunteerRow {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub zip_code: Option<String>,
    pub candidate_id: Option<Uuid>,
    pub tags: Json<Vec<Tag>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub candidate_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub event_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub timezone: String,
    pub location: Option<Json<Location>>,
    pub virtual_url: Option<String>,
    pub capacity: Option<i32>,
    pub visibility: String,
    pub status: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            timezone: TimeZone::from_trusted(r.timezone),
            location: r.location.map(|l| l.0),
            virtual_url: r.virtual_url,
            capacity: r.capacity,
            visibility: Visibility::parse(&r.visibility).map_err(|e| corrupt("event visibility", &e))?,
            status: EventStatus::parse(&r.status).map_err(|e| corrupt("event status", &e))?,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AttendanceRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub volunteer_id: Uuid,
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<AttendanceRow> for Attendance {
    type Error = StoreError;
    fn try_from(r: AttendanceRow) -> Result<Self, StoreError> {
        Ok(Attendance {
            id: r.id,
            event_id: r.event_id,
            volunteer_id: r.volunteer_id,
            status: AttendanceStatus::parse(&r.status).map_err(|e| corrupt("attendance status", &e))?,
            checked_in_at: r.checked_in_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Converts a list of rows, failing on the first that does not parse.
pub fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// The tags as stored: a JSON array of strings.
pub fn tags_json(tags: &[Tag]) -> Json<Vec<Tag>> {
    Json(tags.to_vec())
}

/// An idempotency key as stored: fingerprint, response (once recorded), when it was
/// claimed, and what its request wrote (recorded in the write's transaction).
pub type IdempotencyRow = (String, Option<Json<crate::StoredResponse>>, DateTime<Utc>, Option<String>);
