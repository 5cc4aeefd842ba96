//! Muster's SQLite store: one file, for single-node deployments and local development.
//!
//! SQLite allows one writer at a time and has no row locks, so the store makes that
//! explicit: every write, and every transaction that writes, goes through a pool of exactly
//! one connection. Writers queue on that pool instead of failing with `SQLITE_BUSY`, and
//! the rules that must hold under concurrency (attendance capacity, promotion, version
//! checks) hold because nothing can interleave with a write transaction. Reads go through a
//! separate pool of read-only connections; in WAL mode they see the last committed state
//! and never wait for the writer. The conformance suite in `muster-store` checks this
//! backend exactly as it checks PostgreSQL.

mod attendances;
mod audit;
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
    AttendanceFilter, BatchError, BatchOp, BatchOptions, CandidateFilter, Claim, EventFilter, Expected,
    IdempotencyBegin, IdempotencyKey, ItemResult, Listed, Page, RateLimitOverride, Result, Store, StoreError,
    StoredResponse, VolunteerFilter,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

pub use errors::map_err;

/// How long a statement waits on a lock held by another connection (a checkpoint, another
/// process) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct SqliteSettings {
    /// Read-only connections for gets and lists; writes always share a single connection.
    pub max_readers: u32,
    /// How long a request waits for a connection (for writes: its turn at the writer)
    /// before the store reports itself unavailable.
    pub acquire_timeout: Duration,
}

impl Default for SqliteSettings {
    fn default() -> Self {
        SqliteSettings { max_readers: 8, acquire_timeout: Duration::from_secs(5) }
    }
}

/// The SQLite [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write transaction, so writers never interleave.
    writer: SqlitePool,
    /// Read-only connections for single-statement reads.
    reader: SqlitePool,
}

/// This release's migrations; newer ones in the database (a newer release ran first) are
/// tolerated, see [`muster_store::sql_migrate::tolerant`].
static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| muster_store::sql_migrate::tolerant(sqlx::migrate!("./migrations")));

impl SqliteStore {
    /// Opens the database at `url_or_path`: a URL (`sqlite://muster.db`, `sqlite:muster.db`,
    /// query parameters allowed) or a plain file path, taken literally. The file is created
    /// on first use if missing. Connections open lazily, like the PostgreSQL store's.
    pub fn connect(url_or_path: &str, settings: &SqliteSettings) -> Result<Self> {
        let bad = |why: String| StoreError::Internal(format!("bad SQLite URL or path {url_or_path:?}: {why}"));
        if url_or_path.contains(":memory:") || url_or_path.contains("mode=memory") {
            // each pool would get its own database, and an idle pool would drop its data
            return Err(bad("in-memory databases are not supported; give a file".into()));
        }
        let base = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path).map_err(|e| bad(e.to_string()))?
        } else {
            // a path may hold `?` or `%`, which the URL parser would read as syntax
            SqliteConnectOptions::new().filename(url_or_path)
        };
        let base = base.busy_timeout(BUSY_TIMEOUT).log_statements(tracing::log::LevelFilter::Trace);
        let writer_opts = base
            .clone()
            .create_if_missing(true)
            // WAL: readers see the last commit without blocking the writer, or it them
            .journal_mode(SqliteJournalMode::Wal)
            // FULL syncs the WAL on every commit: a write the API acknowledged survives a
            // power cut (NORMAL, WAL's usual pairing, may lose the last commits)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(writer_opts);
        let reader = SqlitePoolOptions::new()
            .max_connections(settings.max_readers.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(base.read_only(true));
        Ok(SqliteStore { writer, reader })
    }

    /// Applies pending migrations. When none are pending (every start but the first after
    /// an upgrade) that is one query, without the migrator's lock and DDL.
    pub async fn migrate(&self) -> Result<()> {
        use muster_store::sql_migrate::{APPLIED, up_to_date};
        let applied = sqlx::query_as::<_, (i64, Vec<u8>, bool)>(APPLIED).fetch_all(&self.writer).await;
        if applied.is_ok_and(|a| up_to_date(MIGRATOR.iter(), &a)) {
            return Ok(());
        }
        MIGRATOR.run(&self.writer).await.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// Inserts fully formed rows in one transaction (`muster seed`, restores).
    pub async fn import(&self, rows: &muster_store::Import) -> Result<()> {
        import::import(&mut *self.writer().await?, rows).await
    }

    /// The writer connection, for one operation (which starts its own transaction).
    async fn writer(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        self.writer.acquire().await.map_err(map_err)
    }

    /// The writer pool, for bulk loaders (`muster seed`) and tests. Anything that writes
    /// must use this pool: the store's concurrency rules depend on a single writer.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The read-only pool.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map(drop).map_err(map_err)
    }

    async fn create_candidate(&self, new: NewCandidate) -> Result<Candidate> {
        candidates::create(&mut *self.writer().await?, new).await
    }
    async fn get_candidate(&self, id: Uuid) -> Result<Candidate> {
        candidates::get(&self.reader, id).await
    }
    async fn list_candidates(&self, filter: &CandidateFilter, page: Page) -> Result<Listed<Candidate>> {
        candidates::list(&self.reader, filter, page).await
    }
    async fn update_candidate(&self, id: Uuid, patch: CandidatePatch, expected: Expected) -> Result<Candidate> {
        candidates::update(&mut *self.writer().await?, id, patch, expected).await
    }
    async fn delete_candidate(&self, id: Uuid, expected: Expected) -> Result<()> {
        candidates::delete(&mut *self.writer().await?, id, expected).await
    }

    async fn create_volunteer(&self, new: NewVolunteer) -> Result<Volunteer> {
        volunteers::create(&mut *self.writer().await?, new).await
    }
    async fn get_volunteer(&self, id: Uuid) -> Result<Volunteer> {
        volunteers::get(&self.reader, id).await
    }
    async fn list_volunteers(&self, filter: &VolunteerFilter, page: Page) -> Result<Listed<Volunteer>> {
        volunteers::list(&self.reader, filter, page).await
    }
    async fn update_volunteer(&self, id: Uuid, patch: VolunteerPatch, expected: Expected) -> Result<Volunteer> {
        volunteers::update(&mut *self.writer().await?, id, patch, expected).await
    }
    async fn delete_volunteer(&self, id: Uuid, expected: Expected) -> Result<()> {
        volunteers::delete(&mut *self.writer().await?, id, expected).await
    }

    async fn create_event(&self, new: NewEvent) -> Result<Event> {
        events::create(&mut *self.writer().await?, new).await
    }
    async fn get_event(&self, id: Uuid) -> Result<Event> {
        events::get(&self.reader, id).await
    }
    async fn list_events(&self, filter: &EventFilter, page: Page) -> Result<Listed<Event>> {
        events::list(&self.reader, filter, page).await
    }
    async fn update_event(&self, id: Uuid, patch: EventPatch, expected: Expected) -> Result<Event> {
        events::update(&mut *self.writer().await?, id, patch, expected).await
    }
    async fn delete_event(&self, id: Uuid, expected: Expected) -> Result<()> {
        events::delete(&mut *self.writer().await?, id, expected).await
    }

    async fn create_attendance(&self, new: NewAttendance) -> Result<Attendance> {
        attendances::create(&mut *self.writer().await?, new).await
    }
    async fn get_attendance(&self, id: Uuid) -> Result<Attendance> {
        attendances::get(&self.reader, id).await
    }
    async fn list_attendances(&self, filter: &AttendanceFilter, page: Page) -> Result<Listed<Attendance>> {
        attendances::list(&self.reader, filter, page).await
    }
    async fn update_attendance(&self, id: Uuid, patch: AttendancePatch, expected: Expected) -> Result<Attendance> {
        attendances::update(&mut *self.writer().await?, id, patch, expected).await
    }
    async fn delete_attendance(&self, id: Uuid, expected: Expected) -> Result<()> {
        attendances::delete(&mut *self.writer().await?, id, expected).await
    }
    async fn check_in(&self, id: Uuid) -> Result<Attendance> {
        attendances::check_in(&mut *self.writer().await?, id).await
    }

    async fn batch_candidates(
        &self,
        ops: Vec<BatchOp<NewCandidate, CandidatePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Candidate>>, BatchError> {
        batch::run::<batch::Candidates>(&self.writer, ops, opts).await
    }
    async fn batch_volunteers(
        &self,
        ops: Vec<BatchOp<NewVolunteer, VolunteerPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Volunteer>>, BatchError> {
        batch::run::<batch::Volunteers>(&self.writer, ops, opts).await
    }
    async fn batch_events(
        &self,
        ops: Vec<BatchOp<NewEvent, EventPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Event>>, BatchError> {
        batch::run::<batch::Events>(&self.writer, ops, opts).await
    }
    async fn batch_attendances(
        &self,
        ops: Vec<BatchOp<NewAttendance, AttendancePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Attendance>>, BatchError> {
        batch::run::<batch::Attendances>(&self.writer, ops, opts).await
    }
    async fn volunteer_ids_by_email(&self, emails: &[String]) -> Result<std::collections::HashMap<String, Uuid>> {
        batch::ids_by_email(&self.reader, emails).await
    }

    async fn idempotency_begin(&self, claim: &Claim, fingerprint: &str) -> Result<IdempotencyBegin> {
        idempotency::begin(&self.writer, claim, fingerprint).await
    }
    async fn idempotency_complete(&self, key: &IdempotencyKey, response: &StoredResponse) -> Result<()> {
        idempotency::complete(&self.writer, key, response).await
    }
    async fn idempotency_abort(&self, claim: &Claim) -> Result<bool> {
        idempotency::abort(&self.writer, claim).await
    }

    async fn list_rate_limits(&self) -> Result<Vec<RateLimitOverride>> {
        rate_limits::list(&self.reader).await
    }
    async fn put_rate_limit(&self, o: &RateLimitOverride) -> Result<()> {
        rate_limits::put(&self.writer, o).await
    }
    async fn delete_rate_limit(&self, subject: &str) -> Result<()> {
        rate_limits::delete(&self.writer, subject).await
    }

    async fn insert_client_report(&self, report: &muster_store::ClientReport) -> Result<()> {
        client_reports::insert(&self.writer, report).await
    }
    async fn insert_audit(&self, entries: &[muster_store::AuditEntry]) -> Result<()> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        audit::insert_audit(&mut conn, entries).await
    }
    async fn list_audit(&self, query: &muster_store::AuditQuery) -> Result<Listed<muster_store::AuditEntry>> {
        let mut conn = self.reader.acquire().await.map_err(map_err)?;
        audit::list_audit(&mut conn, query).await
    }
    async fn purge_audit(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        audit::purge_audit(&mut conn, before).await
    }
    async fn list_client_reports(
        &self,
        query: &muster_store::ClientReportQuery,
    ) -> Result<Listed<muster_store::ClientReport>> {
        client_reports::list(&self.reader, query).await
    }
    async fn purge_client_reports(&self, before: chrono::DateTime<chrono::Utc>, keep: u32) -> Result<u64> {
        client_reports::purge(&self.writer, before, keep).await
    }
    async fn counts(&self) -> Result<muster_store::Counts> {
        stats::counts(&self.reader).await
    }
    fn pool_stats(&self) -> Vec<muster_store::PoolStats> {
        stats::pool_stats(&self.writer, &self.reader)
    }
    async fn list_flags(&self) -> Result<Vec<muster_domain::flag::Flag>> {
        flags::list(&self.reader).await
    }
    async fn get_flag(&self, key: &str) -> Result<muster_domain::flag::Flag> {
        flags::get(&self.reader, key).await
    }
    async fn put_flag(
        &self,
        key: &muster_domain::flag::FlagKey,
        spec: muster_domain::flag::FlagSpec,
        expected: Expected,
        actor: &str,
    ) -> Result<(muster_domain::flag::Flag, bool)> {
        flags::put(&mut *self.writer().await?, key, spec, expected, actor).await
    }
    async fn update_flag(
        &self,
        key: &str,
        patch: muster_domain::flag::FlagPatch,
        expected: Expected,
        actor: &str,
    ) -> Result<muster_domain::flag::Flag> {
        flags::update(&mut *self.writer().await?, key, patch, expected, actor).await
    }
    async fn delete_flag(&self, key: &str, expected: Expected, actor: &str) -> Result<()> {
        flags::delete(&mut *self.writer().await?, key, expected, actor).await
    }
    async fn list_flag_changes(
        &self,
        query: &muster_store::FlagChangeQuery,
    ) -> Result<Listed<muster_store::FlagChange>> {
        flags::changes(&self.reader, query).await
    }
}
