//! Muster's PostgreSQL store: the production backend.
//!
//! Rules that must hold under concurrency take row locks in a fixed order (event, then
//! attendance), so 200 simultaneous registrations for 50 seats end with exactly 50
//! registered. Every query is a runtime query; the conformance suite in `muster-store`
//! checks them, as it checks the SQLite backend.

mod attendances;
mod batch;
mod candidates;
mod client_reports;
mod common;
mod errors;
mod events;
mod flags;
mod idempotency;
mod import;
mod rate_limits;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;
mod volunteers;

use async_trait::async_trait;
use muster_domain::attendance::{Attendance, AttendancePatch, NewAttendance};
use muster_domain::candidate::{Candidate, CandidatePatch, NewCandidate};
use muster_domain::event::{Event, EventPatch, NewEvent};
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use muster_store::{
    AttendanceFilter, BatchError, BatchOp, BatchOptions, CandidateFilter, EventFilter, Expected, IdempotencyBegin,
    IdempotencyKey, ItemResult, Listed, Page, RateLimitOverride, Result, Store, StoreError, StoredResponse,
    VolunteerFilter,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

pub use errors::map_err;

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct PgSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before the store reports itself unavailable.
    pub acquire_timeout: Duration,
    /// Schema to use instead of the URL's default (`search_path`); tests use one each.
    pub schema: Option<String>,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings { max_connections: 16, acquire_timeout: Duration::from_secs(3), schema: None }
    }
}

/// The PostgreSQL [`Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// This release's migrations; newer ones in the database (a newer release ran first) are
/// tolerated, see [`muster_store::sql_migrate::tolerant`].
static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| muster_store::sql_migrate::tolerant(sqlx::migrate!("./migrations")));

impl PgStore {
    /// Connects lazily: the server can start (and report not-ready) while PostgreSQL is down.
    pub fn connect(url: &str, settings: &PgSettings) -> Result<Self> {
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("bad PostgreSQL URL: {e}")))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .application_name("muster");
        if let Some(schema) = &settings.schema {
            opts = opts.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(opts);
        Ok(PgStore { pool })
    }

    /// Applies pending migrations. When none are pending (every start but the first after
    /// an upgrade) that is one query, without the migrator's lock and DDL.
    pub async fn migrate(&self) -> Result<()> {
        use muster_store::sql_migrate::{APPLIED, up_to_date};
        let applied = sqlx::query_as::<_, (i64, Vec<u8>, bool)>(APPLIED).fetch_all(&self.pool).await;
        if applied.is_ok_and(|a| up_to_date(MIGRATOR.iter(), &a)) {
            return Ok(());
        }
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// Inserts fully formed rows in one transaction (`muster seed`, restores).
    pub async fn import(&self, rows: &muster_store::Import) -> Result<()> {
        import::import(&mut *self.conn().await?, rows).await
    }

    /// A pooled connection for one operation (its own transaction, when it needs one).
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        self.pool.acquire().await.map_err(map_err)
    }

    /// The pool, for bulk loaders (`muster seed`) and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop).map_err(map_err)
    }

    async fn create_candidate(&self, new: NewCandidate) -> Result<Candidate> {
        candidates::create(&mut *self.conn().await?, new).await
    }
    async fn get_candidate(&self, id: Uuid) -> Result<Candidate> {
        candidates::get(&self.pool, id).await
    }
    async fn list_candidates(&self, filter: &CandidateFilter, page: Page) -> Result<Listed<Candidate>> {
        candidates::list(&self.pool, filter, page).await
    }
    async fn update_candidate(&self, id: Uuid, patch: CandidatePatch, expected: Expected) -> Result<Candidate> {
        candidates::update(&mut *self.conn().await?, id, patch, expected).await
    }
    async fn delete_candidate(&self, id: Uuid, expected: Expected) -> Result<()> {
        candidates::delete(&mut *self.conn().await?, id, expected).await
    }

    async fn create_volunteer(&self, new: NewVolunteer) -> Result<Volunteer> {
        volunteers::create(&mut *self.conn().await?, new).await
    }
    async fn get_volunteer(&self, id: Uuid) -> Result<Volunteer> {
        volunteers::get(&self.pool, id).await
    }
    async fn list_volunteers(&self, filter: &VolunteerFilter, page: Page) -> Result<Listed<Volunteer>> {
        volunteers::list(&self.pool, filter, page).await
    }
    async fn update_volunteer(&self, id: Uuid, patch: VolunteerPatch, expected: Expected) -> Result<Volunteer> {
        volunteers::update(&mut *self.conn().await?, id, patch, expected).await
    }
    async fn delete_volunteer(&self, id: Uuid, expected: Expected) -> Result<()> {
        volunteers::delete(&mut *self.conn().await?, id, expected).await
    }

    async fn create_event(&self, new: NewEvent) -> Result<Event> {
        events::create(&mut *self.conn().await?, new).await
    }
    async fn get_event(&self, id: Uuid) -> Result<Event> {
        events::get(&self.pool, id).await
    }
    async fn list_events(&self, filter: &EventFilter, page: Page) -> Result<Listed<Event>> {
        events::list(&self.pool, filter, page).await
    }
    async fn update_event(&self, id: Uuid, patch: EventPatch, expected: Expected) -> Result<Event> {
        events::update(&mut *self.conn().await?, id, patch, expected).await
    }
    async fn delete_event(&self, id: Uuid, expected: Expected) -> Result<()> {
        events::delete(&mut *self.conn().await?, id, expected).await
    }

    async fn create_attendance(&self, new: NewAttendance) -> Result<Attendance> {
        attendances::create(&mut *self.conn().await?, new).await
    }
    async fn get_attendance(&self, id: Uuid) -> Result<Attendance> {
        attendances::get(&self.pool, id).await
    }
    async fn list_attendances(&self, filter: &AttendanceFilter, page: Page) -> Result<Listed<Attendance>> {
        attendances::list(&self.pool, filter, page).await
    }
    async fn update_attendance(&self, id: Uuid, patch: AttendancePatch, expected: Expected) -> Result<Attendance> {
        attendances::update(&mut *self.conn().await?, id, patch, expected).await
    }
    async fn delete_attendance(&self, id: Uuid, expected: Expected) -> Result<()> {
        attendances::delete(&mut *self.conn().await?, id, expected).await
    }
    async fn check_in(&self, id: Uuid) -> Result<Attendance> {
        attendances::check_in(&mut *self.conn().await?, id).await
    }

    async fn batch_candidates(
        &self,
        ops: Vec<BatchOp<NewCandidate, CandidatePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Candidate>>, BatchError> {
        batch::run::<batch::Candidates>(&self.pool, ops, opts).await
    }
    async fn batch_volunteers(
        &self,
        ops: Vec<BatchOp<NewVolunteer, VolunteerPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Volunteer>>, BatchError> {
        batch::run::<batch::Volunteers>(&self.pool, ops, opts).await
    }
    async fn batch_events(
        &self,
        ops: Vec<BatchOp<NewEvent, EventPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Event>>, BatchError> {
        batch::run::<batch::Events>(&self.pool, ops, opts).await
    }
    async fn batch_attendances(
        &self,
        ops: Vec<BatchOp<NewAttendance, AttendancePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Attendance>>, BatchError> {
        batch::run::<batch::Attendances>(&self.pool, ops, opts).await
    }
    async fn volunteer_ids_by_email(&self, emails: &[String]) -> Result<std::collections::HashMap<String, Uuid>> {
        batch::ids_by_email(&self.pool, emails).await
    }

    async fn idempotency_begin(&self, key: &IdempotencyKey, fingerprint: &str) -> Result<IdempotencyBegin> {
        idempotency::begin(&self.pool, key, fingerprint).await
    }
    async fn idempotency_complete(&self, key: &IdempotencyKey, response: &StoredResponse) -> Result<()> {
        idempotency::complete(&self.pool, key, response).await
    }
    async fn idempotency_abort(&self, key: &IdempotencyKey) -> Result<()> {
        idempotency::abort(&self.pool, key).await
    }

    async fn list_rate_limits(&self) -> Result<Vec<RateLimitOverride>> {
        rate_limits::list(&self.pool).await
    }
    async fn put_rate_limit(&self, o: &RateLimitOverride) -> Result<()> {
        rate_limits::put(&self.pool, o).await
    }
    async fn delete_rate_limit(&self, subject: &str) -> Result<()> {
        rate_limits::delete(&self.pool, subject).await
    }

    async fn insert_client_report(&self, report: &muster_store::ClientReport) -> Result<()> {
        client_reports::insert(&self.pool, report).await
    }
    async fn list_client_reports(
        &self,
        query: &muster_store::ClientReportQuery,
    ) -> Result<Listed<muster_store::ClientReport>> {
        client_reports::list(&self.pool, query).await
    }
    async fn purge_client_reports(&self, before: chrono::DateTime<chrono::Utc>, keep: u32) -> Result<u64> {
        client_reports::purge(&self.pool, before, keep).await
    }
    async fn counts(&self) -> Result<muster_store::Counts> {
        stats::counts(&self.pool).await
    }
    fn pool_stats(&self) -> Vec<muster_store::PoolStats> {
        stats::pool_stats(&self.pool)
    }
    async fn list_flags(&self) -> Result<Vec<muster_domain::flag::Flag>> {
        flags::list(&self.pool).await
    }
    async fn get_flag(&self, key: &str) -> Result<muster_domain::flag::Flag> {
        flags::get(&self.pool, key).await
    }
    async fn put_flag(
        &self,
        key: &muster_domain::flag::FlagKey,
        spec: muster_domain::flag::FlagSpec,
        expected: Expected,
        actor: &str,
    ) -> Result<(muster_domain::flag::Flag, bool)> {
        flags::put(&mut *self.conn().await?, key, spec, expected, actor).await
    }
    async fn update_flag(
        &self,
        key: &str,
        patch: muster_domain::flag::FlagPatch,
        expected: Expected,
        actor: &str,
    ) -> Result<muster_domain::flag::Flag> {
        flags::update(&mut *self.conn().await?, key, patch, expected, actor).await
    }
    async fn delete_flag(&self, key: &str, expected: Expected, actor: &str) -> Result<()> {
        flags::delete(&mut *self.conn().await?, key, expected, actor).await
    }
    async fn list_flag_changes(
        &self,
        query: &muster_store::FlagChangeQuery,
    ) -> Result<Listed<muster_store::FlagChange>> {
        flags::changes(&self.pool, query).await
    }
}
