//! The storage contract: one [`Store`] trait that the API talks to, whatever holds the data.
//!
//! Two backends implement it (`muster-store-postgres`, `muster-store-sqlite`), each with
//! its own migrations; the conformance suite in [`testing`] (behind the `testing` feature)
//! runs against both, because runtime SQL in two dialects is only as good as its tests.
//! The store owns the rules that need a transaction (attendance capacity, promotion,
//! optimistic concurrency); the decisions themselves come from `muster-domain`.

mod audit;
mod batch;
#[cfg(feature = "sql")]
pub mod decode;
mod effects;
mod error;
mod filter;
#[cfg(feature = "sql")]
pub mod flag_rows;
mod flags;
pub mod idempotency;
mod observability;
mod page;
#[cfg(feature = "sql")]
pub mod row_type;
#[cfg(feature = "sql")]
pub mod rows;
#[cfg(feature = "sql")]
mod sql_audit;
#[cfg(feature = "sql")]
pub mod sql_batch;
#[cfg(feature = "sql")]
mod sql_idempotency;
#[cfg(feature = "sql")]
mod sql_import;
#[cfg(feature = "sql")]
pub mod sql_migrate;
#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AuditEntry, AuditQuery};
pub use batch::{BatchError, BatchOp, BatchOptions, ItemResult};
pub use effects::{SideEffects, rows_change_by_side_effect, side_effects};
pub use error::StoreError;
pub use filter::{AttendanceFilter, CandidateFilter, EventFilter, VolunteerFilter, owners};
pub use flags::{FlagAction, FlagChange, FlagChangeQuery};
pub use idempotency::{ABANDONED_AFTER_SECS, Claim, IdempotencyBegin, IdempotencyKey, RETENTION_HOURS, StoredResponse};
pub use observability::{ClientReport, ClientReportQuery, Counts, PoolStats, ReportLevel};
pub use page::{Cursor, DEFAULT_LIMIT, Listed, MAX_LIMIT, Page};

use async_trait::async_trait;
use muster_domain::attendance::{Attendance, AttendancePatch, NewAttendance};
use muster_domain::candidate::{Candidate, CandidatePatch, NewCandidate};
use muster_domain::event::{Event, EventPatch, NewEvent};
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use uuid::Uuid;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// `Some(v)`: the write happens only if the row's version is still `v` (HTTP `If-Match`).
pub type Expected = Option<i64>;

/// Everything Muster keeps. Object-safe so the API holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The backend's name for logs and `/ready` (`postgres`, `sqlite`).
    fn backend(&self) -> &'static str;
    /// Cheap round trip proving the store answers.
    async fn ping(&self) -> Result<()>;

    async fn create_candidate(&self, new: NewCandidate) -> Result<Candidate>;
    async fn get_candidate(&self, id: Uuid) -> Result<Candidate>;
    async fn list_candidates(&self, filter: &CandidateFilter, page: Page) -> Result<Listed<Candidate>>;
    async fn update_candidate(&self, id: Uuid, patch: CandidatePatch, expected: Expected) -> Result<Candidate>;
    async fn delete_candidate(&self, id: Uuid, expected: Expected) -> Result<()>;

    async fn create_volunteer(&self, new: NewVolunteer) -> Result<Volunteer>;
    async fn get_volunteer(&self, id: Uuid) -> Result<Volunteer>;
    async fn list_volunteers(&self, filter: &VolunteerFilter, page: Page) -> Result<Listed<Volunteer>>;
    async fn update_volunteer(&self, id: Uuid, patch: VolunteerPatch, expected: Expected) -> Result<Volunteer>;
    async fn delete_volunteer(&self, id: Uuid, expected: Expected) -> Result<()>;

    async fn create_event(&self, new: NewEvent) -> Result<Event>;
    async fn get_event(&self, id: Uuid) -> Result<Event>;
    async fn list_events(&self, filter: &EventFilter, page: Page) -> Result<Listed<Event>>;
    /// Raising the capacity promotes waitlisted attendances into the new seats.
    async fn update_event(&self, id: Uuid, patch: EventPatch, expected: Expected) -> Result<Event>;
    async fn delete_event(&self, id: Uuid, expected: Expected) -> Result<()>;

    /// Decides `registered` or `waitlisted` from the event's capacity, atomically.
    async fn create_attendance(&self, new: NewAttendance) -> Result<Attendance>;
    async fn get_attendance(&self, id: Uuid) -> Result<Attendance>;
    async fn list_attendances(&self, filter: &AttendanceFilter, page: Page) -> Result<Listed<Attendance>>;
    /// Status changes follow `muster_domain::attendance::transition`; freeing a seat
    /// promotes the oldest waitlisted attendance in the same transaction.
    async fn update_attendance(&self, id: Uuid, patch: AttendancePatch, expected: Expected) -> Result<Attendance>;
    /// Deleting a seat holder promotes the oldest waitlisted attendance too.
    async fn delete_attendance(&self, id: Uuid, expected: Expected) -> Result<()>;
    async fn check_in(&self, id: Uuid) -> Result<Attendance>;

    /// Claims an idempotency key with the attempt's token, or returns what an earlier
    /// request with it did.
    async fn idempotency_begin(&self, claim: &Claim, fingerprint: &str) -> Result<IdempotencyBegin>;
    /// Stores the response of the request that claimed the key.
    async fn idempotency_complete(&self, key: &IdempotencyKey, response: &StoredResponse) -> Result<()>;
    /// Releases a claim whose request failed and wrote nothing, so a retry can run again;
    /// does nothing once another attempt holds the key. Whether a claim was released.
    async fn idempotency_abort(&self, claim: &Claim) -> Result<bool>;

    /// Many creates, updates and deletes of candidates in one call (see [`BatchOp`]).
    async fn batch_candidates(
        &self,
        ops: Vec<BatchOp<NewCandidate, CandidatePatch>>,
        opts: BatchOptions,
    ) -> Result<Vec<ItemResult<Candidate>>, BatchError>;
    async fn batch_volunteers(
        &self,
        ops: Vec<BatchOp<NewVolunteer, VolunteerPatch>>,
        opts: BatchOptions,
    ) -> Result<Vec<ItemResult<Volunteer>>, BatchError>;
    async fn batch_events(
        &self,
        ops: Vec<BatchOp<NewEvent, EventPatch>>,
        opts: BatchOptions,
    ) -> Result<Vec<ItemResult<Event>>, BatchError>;
    /// Attendance items obey capacity and waitlist rules exactly as single calls do.
    async fn batch_attendances(
        &self,
        ops: Vec<BatchOp<NewAttendance, AttendancePatch>>,
        opts: BatchOptions,
    ) -> Result<Vec<ItemResult<Attendance>>, BatchError>;
    /// The ids of the volunteers with these emails (compared ignoring case), keyed by the
    /// lower-cased email.
    async fn volunteer_ids_by_email(&self, emails: &[String]) -> Result<std::collections::HashMap<String, Uuid>>;

    /// Per-principal rate limits that differ from the default, set by administrators.
    async fn list_rate_limits(&self) -> Result<Vec<RateLimitOverride>>;
    /// Creates or replaces the override for `o.subject`.
    async fn put_rate_limit(&self, o: &RateLimitOverride) -> Result<()>;
    /// Removes the override for `subject` (NotFound when there is none).
    async fn delete_rate_limit(&self, subject: &str) -> Result<()>;

    /// Keeps a client-side error report (the API has scrubbed personal data out of it).
    async fn insert_client_report(&self, report: &ClientReport) -> Result<()>;
    /// Reports newest first (see [`ClientReportQuery`]).
    async fn list_client_reports(&self, query: &ClientReportQuery) -> Result<Listed<ClientReport>>;
    /// Deletes the reports received before `before`, then all but the newest `keep`;
    /// returns how many went.
    async fn purge_client_reports(&self, before: chrono::DateTime<chrono::Utc>, keep: u32) -> Result<u64>;
    /// Appends audit entries (one statement per few hundred).
    async fn insert_audit(&self, entries: &[AuditEntry]) -> Result<()>;
    /// Audit entries newest first (see [`AuditQuery`]).
    async fn list_audit(&self, query: &AuditQuery) -> Result<Listed<AuditEntry>>;
    /// Deletes the entries made before `before`; returns how many went.
    async fn purge_audit(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64>;
    /// Exact row totals for the business gauges: a few counts, meant for about once a minute.
    async fn counts(&self) -> Result<Counts>;
    /// Connection-pool occupancy for the dependency gauges; no round trip, so cheap per scrape.
    fn pool_stats(&self) -> Vec<PoolStats>;

    /// Every feature flag, by key. Flags are few (tens): the API holds them all in memory.
    async fn list_flags(&self) -> Result<Vec<muster_domain::flag::Flag>>;
    /// One flag (NotFound when there is none).
    async fn get_flag(&self, key: &str) -> Result<muster_domain::flag::Flag>;
    /// Creates the flag, or replaces its settings (version + 1), recording the change as
    /// `actor`'s in the same transaction. `expected` is checked against an existing flag and
    /// fails on a missing one. Returns the flag and whether it was created.
    async fn put_flag(
        &self,
        key: &muster_domain::flag::FlagKey,
        spec: muster_domain::flag::FlagSpec,
        expected: Expected,
        actor: &str,
    ) -> Result<(muster_domain::flag::Flag, bool)>;
    /// Changes some of a flag's settings (NotFound, PreconditionFailed, or Invalid when the
    /// patched flag would not be valid), recording the change.
    async fn update_flag(
        &self,
        key: &str,
        patch: muster_domain::flag::FlagPatch,
        expected: Expected,
        actor: &str,
    ) -> Result<muster_domain::flag::Flag>;
    /// Deletes a flag, recording the change (its history stays).
    async fn delete_flag(&self, key: &str, expected: Expected, actor: &str) -> Result<()>;
    /// Recorded flag changes, newest first (see [`FlagChangeQuery`]).
    async fn list_flag_changes(&self, query: &FlagChangeQuery) -> Result<Listed<FlagChange>>;
}

/// A principal's own rate limit: `limit` requests per `period_ms`, `burst` at once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RateLimitOverride {
    pub subject: String,
    pub limit: i64,
    pub period_ms: i64,
    pub burst: i64,
    pub updated_by: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Fully formed rows to insert as they are, in one transaction (demo data, restores).
/// No rule is applied: the caller hands rows that already obey them, referencing rows
/// either stored already or earlier in this import.
#[derive(Debug, Clone, Default)]
pub struct Import {
    pub candidates: Vec<Candidate>,
    pub volunteers: Vec<Volunteer>,
    pub events: Vec<Event>,
    pub attendances: Vec<Attendance>,
}
