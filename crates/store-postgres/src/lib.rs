//! Muster's PostgreSQL store: the production backend.
//!
//! Rules that must hold under concurrency take row locks in a fixed order (event, then
//! attendance), so 200 simultaneous registrations for 50 seats end with exactly 50
//! registered. Every query is a runtime query; the conformance suite in `muster-store`
//! checks them, as it checks the SQLite backend.

mod attendances;
mod audit;
mod batch;
mod bulk;
mod candidates;
mod client_reports;
mod common;
mod errors;
mod events;
mod flags;
mod idempotency;
mod import;
pub mod pool;
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
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
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
    /// Longest one store operation (a read, a write's transaction) may take. PostgreSQL is
    /// told (`statement_timeout`) so it stops work nobody waits for, and the store stops
    /// waiting by itself a little later: a database that stops answering without closing
    /// its connections (a network partition, a hung host) then costs a request this long,
    /// not the request timeout, and the connection is dropped. `None`: no bound (tools).
    pub statement_timeout: Option<Duration>,
    /// Schema to use instead of the URL's default (`search_path`); tests use one each.
    pub schema: Option<String>,
    /// Told how long each store operation held its connection (its statements, results
    /// fetched): the binary feeds `muster_store_query_duration_seconds` with it.
    pub observe: Option<fn(Duration)>,
}

/// [`PgSettings::statement_timeout`] unless configured (`MUSTER_DB_STATEMENT_TIMEOUT`).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much longer than the statement timeout the store waits before it gives up on
/// PostgreSQL itself: long enough that a slow statement ends with PostgreSQL's own
/// cancellation (the connection stays usable), short enough to bound a silent one.
const CLIENT_GRACE: Duration = Duration::from_millis(500);

/// A store operation slower than this is logged as a warning (target `muster::store`).
pub const SLOW_OPERATION: Duration = Duration::from_secs(1);

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            schema: None,
            observe: None,
        }
    }
}

/// The PostgreSQL [`Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: pool::Pool,
    observe: Option<fn(Duration)>,
    /// The statement timeout plus [`CLIENT_GRACE`]: the longest the store waits for one
    /// operation.
    give_up_after: Option<Duration>,
}

/// Runs `op(conn, args...)` on a pooled connection within the statement timeout
/// ([`PgStore::bounded`]), times it ([`PgStore::timed`]) and settles the connection with its
/// result, so a connection that failed or went silent is closed rather than reused.
macro_rules! on_conn {
    ($store:ident, $op:path $(, $arg:expr)* $(,)?) => {{
        let mut conn = $store.pool.acquire().await?;
        let started = std::time::Instant::now();
        let result = $store.bounded($op(&mut *conn, $($arg),*)).await;
        $store.timed(started);
        conn.settle(result)
    }};
}

/// This release's migrations; newer ones in the database (a newer release ran first) are
/// tolerated, see [`muster_store::sql_migrate::tolerant`].
static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| muster_store::sql_migrate::tolerant(sqlx::migrate!("./migrations")));

impl PgStore {
    /// Connects lazily: the server can start (and report not-ready) while PostgreSQL is down.
    pub fn connect(url: &str, settings: &PgSettings) -> Result<Self> {
        // The driver's statement log is off: each logged statement costs a summary parsed
        // out of the SQL, the SQL copied and an event even when nothing but the query
        // histogram reads it, a visible share of an uncached GET. Operations are timed here
        // instead (`timed`), slow ones warned about.
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("bad PostgreSQL URL: {e}")))?
            .log_statements(tracing::log::LevelFilter::Off)
            .log_slow_statements(tracing::log::LevelFilter::Off, Duration::MAX)
            .application_name("muster");
        if let Some(schema) = &settings.schema {
            opts = opts.options([("search_path", schema.as_str())]);
        }
        if let Some(limit) = settings.statement_timeout {
            opts = opts.options([("statement_timeout", format!("{}ms", limit.as_millis().max(1)))]);
        }
        let pool = pool::Pool::new(opts, settings.max_connections, settings.acquire_timeout);
        let give_up_after = settings.statement_timeout.map(|t| t + CLIENT_GRACE);
        Ok(PgStore { pool, observe: settings.observe, give_up_after })
    }

    /// Awaits one operation, giving up when PostgreSQL has not answered within the
    /// statement timeout and its grace: the operation is dropped (its connection, settled
    /// as lost, is closed and PostgreSQL rolls back whatever it had begun) and the result
    /// says the database is unavailable (a 503).
    async fn bounded<R: pool::Settled>(&self, op: impl std::future::Future<Output = R>) -> R {
        let Some(limit) = self.give_up_after else { return op.await };
        match tokio::time::timeout(limit, op).await {
            Ok(result) => result,
            Err(_) => R::unavailable(format!("PostgreSQL did not answer within {} ms", limit.as_millis())),
        }
    }

    /// Reports how long an operation held its connection, and warns when it was slow.
    fn timed(&self, started: std::time::Instant) {
        let took = started.elapsed();
        if let Some(observe) = self.observe {
            observe(took);
        }
        if took >= SLOW_OPERATION {
            tracing::warn!(target: "muster::store", kind = "slow_operation", elapsed_secs = took.as_secs_f64(),
                           "slow store operation: it held its connection past the alert threshold");
        }
    }

    /// Applies pending migrations. When none are pending (every start but the first after
    /// an upgrade) that is one query, without the migrator's lock and DDL.
    pub async fn migrate(&self) -> Result<()> {
        use muster_store::sql_migrate::{APPLIED, up_to_date};
        let mut conn = self.pool.acquire().await?;
        let applied = sqlx::query_as::<_, (i64, Vec<u8>, bool)>(APPLIED).fetch_all(&mut *conn).await;
        if applied.is_ok_and(|a| up_to_date(MIGRATOR.iter(), &a)) {
            return conn.settle(Ok(()));
        }
        // building an index on a large table takes longer than the serving statement timeout
        let unbounded = sqlx::query("SET statement_timeout = 0").execute(&mut *conn).await.map_err(map_err);
        if let Err(e) = unbounded {
            return conn.settle(Err(e));
        }
        let result =
            MIGRATOR.run(&mut *conn).await.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")));
        // back to the connection's own setting before it serves requests
        let reset = sqlx::query("RESET statement_timeout").execute(&mut *conn).await.map_err(map_err);
        conn.settle(result.and(reset.map(drop)))
    }

    /// Inserts fully formed rows in one transaction (`muster seed`, restores).
    /// Not bound by the statement timeout: a million rows take longer.
    pub async fn import(&self, rows: &muster_store::Import) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let result = import::import(&mut conn, rows).await;
        conn.settle(result)
    }

    /// A pooled connection, for tests and tools that run their own statements. Settle it
    /// ([`pool::Conn::settle`]) or drop it; a dropped, unsettled connection is checked
    /// before its next use.
    pub async fn connection(&self) -> Result<pool::Conn> {
        self.pool.acquire().await
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let result =
            self.bounded(async { sqlx::query("SELECT 1").execute(&mut *conn).await.map(drop).map_err(map_err) });
        let result = result.await;
        conn.settle(result)
    }

    async fn create_candidate(&self, new: NewCandidate) -> Result<Candidate> {
        on_conn!(self, candidates::create, new)
    }
    async fn get_candidate(&self, id: Uuid) -> Result<Candidate> {
        on_conn!(self, candidates::get, id)
    }
    async fn list_candidates(&self, filter: &CandidateFilter, page: Page) -> Result<Listed<Candidate>> {
        on_conn!(self, candidates::list, filter, page)
    }
    async fn update_candidate(&self, id: Uuid, patch: CandidatePatch, expected: Expected) -> Result<Candidate> {
        on_conn!(self, candidates::update, id, patch, expected)
    }
    async fn delete_candidate(&self, id: Uuid, expected: Expected) -> Result<()> {
        on_conn!(self, candidates::delete, id, expected)
    }

    async fn create_volunteer(&self, new: NewVolunteer) -> Result<Volunteer> {
        on_conn!(self, volunteers::create, new)
    }
    async fn get_volunteer(&self, id: Uuid) -> Result<Volunteer> {
        on_conn!(self, volunteers::get, id)
    }
    async fn list_volunteers(&self, filter: &VolunteerFilter, page: Page) -> Result<Listed<Volunteer>> {
        on_conn!(self, volunteers::list, filter, page)
    }
    async fn update_volunteer(&self, id: Uuid, patch: VolunteerPatch, expected: Expected) -> Result<Volunteer> {
        on_conn!(self, volunteers::update, id, patch, expected)
    }
    async fn delete_volunteer(&self, id: Uuid, expected: Expected) -> Result<()> {
        on_conn!(self, volunteers::delete, id, expected)
    }

    async fn create_event(&self, new: NewEvent) -> Result<Event> {
        on_conn!(self, events::create, new)
    }
    async fn get_event(&self, id: Uuid) -> Result<Event> {
        on_conn!(self, events::get, id)
    }
    async fn list_events(&self, filter: &EventFilter, page: Page) -> Result<Listed<Event>> {
        on_conn!(self, events::list, filter, page)
    }
    async fn update_event(&self, id: Uuid, patch: EventPatch, expected: Expected) -> Result<Event> {
        on_conn!(self, events::update, id, patch, expected)
    }
    async fn delete_event(&self, id: Uuid, expected: Expected) -> Result<()> {
        on_conn!(self, events::delete, id, expected)
    }

    async fn create_attendance(&self, new: NewAttendance) -> Result<Attendance> {
        on_conn!(self, attendances::create, new)
    }
    async fn get_attendance(&self, id: Uuid) -> Result<Attendance> {
        on_conn!(self, attendances::get, id)
    }
    async fn list_attendances(&self, filter: &AttendanceFilter, page: Page) -> Result<Listed<Attendance>> {
        on_conn!(self, attendances::list, filter, page)
    }
    async fn update_attendance(&self, id: Uuid, patch: AttendancePatch, expected: Expected) -> Result<Attendance> {
        on_conn!(self, attendances::update, id, patch, expected)
    }
    async fn delete_attendance(&self, id: Uuid, expected: Expected) -> Result<()> {
        on_conn!(self, attendances::delete, id, expected)
    }
    async fn check_in(&self, id: Uuid) -> Result<Attendance> {
        on_conn!(self, attendances::check_in, id)
    }

    async fn batch_candidates(
        &self,
        ops: Vec<BatchOp<NewCandidate, CandidatePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Candidate>>, BatchError> {
        on_conn!(self, batch::run::<batch::Candidates>, ops, opts)
    }
    async fn batch_volunteers(
        &self,
        ops: Vec<BatchOp<NewVolunteer, VolunteerPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Volunteer>>, BatchError> {
        on_conn!(self, batch::run::<batch::Volunteers>, ops, opts)
    }
    async fn batch_events(
        &self,
        ops: Vec<BatchOp<NewEvent, EventPatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Event>>, BatchError> {
        on_conn!(self, batch::run::<batch::Events>, ops, opts)
    }
    async fn batch_attendances(
        &self,
        ops: Vec<BatchOp<NewAttendance, AttendancePatch>>,
        opts: BatchOptions,
    ) -> std::result::Result<Vec<ItemResult<Attendance>>, BatchError> {
        on_conn!(self, batch::run::<batch::Attendances>, ops, opts)
    }
    async fn volunteer_ids_by_email(&self, emails: &[String]) -> Result<std::collections::HashMap<String, Uuid>> {
        on_conn!(self, batch::ids_by_email, emails)
    }

    async fn idempotency_begin(&self, claim: &Claim, fingerprint: &str) -> Result<IdempotencyBegin> {
        on_conn!(self, idempotency::begin, claim, fingerprint)
    }
    async fn idempotency_complete(&self, key: &IdempotencyKey, response: &StoredResponse) -> Result<()> {
        on_conn!(self, idempotency::complete, key, response)
    }
    async fn idempotency_abort(&self, claim: &Claim) -> Result<bool> {
        on_conn!(self, idempotency::abort, claim)
    }

    async fn list_rate_limits(&self) -> Result<Vec<RateLimitOverride>> {
        on_conn!(self, rate_limits::list)
    }
    async fn put_rate_limit(&self, o: &RateLimitOverride) -> Result<()> {
        on_conn!(self, rate_limits::put, o)
    }
    async fn delete_rate_limit(&self, subject: &str) -> Result<()> {
        on_conn!(self, rate_limits::delete, subject)
    }

    async fn insert_client_report(&self, report: &muster_store::ClientReport) -> Result<()> {
        on_conn!(self, client_reports::insert, report)
    }
    async fn insert_audit(&self, entries: &[muster_store::AuditEntry]) -> Result<()> {
        on_conn!(self, audit::insert_audit, entries)
    }
    async fn list_audit(&self, query: &muster_store::AuditQuery) -> Result<Listed<muster_store::AuditEntry>> {
        on_conn!(self, audit::list_audit, query)
    }
    async fn purge_audit(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        on_conn!(self, audit::purge_audit, before)
    }
    async fn list_client_reports(
        &self,
        query: &muster_store::ClientReportQuery,
    ) -> Result<Listed<muster_store::ClientReport>> {
        on_conn!(self, client_reports::list, query)
    }
    async fn purge_client_reports(&self, before: chrono::DateTime<chrono::Utc>, keep: u32) -> Result<u64> {
        on_conn!(self, client_reports::purge, before, keep)
    }
    async fn counts(&self) -> Result<muster_store::Counts> {
        on_conn!(self, stats::counts)
    }
    fn pool_stats(&self) -> Vec<muster_store::PoolStats> {
        vec![self.pool.stats()]
    }
    async fn list_flags(&self) -> Result<Vec<muster_domain::flag::Flag>> {
        on_conn!(self, flags::list)
    }
    async fn get_flag(&self, key: &str) -> Result<muster_domain::flag::Flag> {
        on_conn!(self, flags::get, key)
    }
    async fn put_flag(
        &self,
        key: &muster_domain::flag::FlagKey,
        spec: muster_domain::flag::FlagSpec,
        expected: Expected,
        actor: &str,
    ) -> Result<(muster_domain::flag::Flag, bool)> {
        on_conn!(self, flags::put, key, spec, expected, actor)
    }
    async fn update_flag(
        &self,
        key: &str,
        patch: muster_domain::flag::FlagPatch,
        expected: Expected,
        actor: &str,
    ) -> Result<muster_domain::flag::Flag> {
        on_conn!(self, flags::update, key, patch, expected, actor)
    }
    async fn delete_flag(&self, key: &str, expected: Expected, actor: &str) -> Result<()> {
        on_conn!(self, flags::delete, key, expected, actor)
    }
    async fn list_flag_changes(
        &self,
        query: &muster_store::FlagChangeQuery,
    ) -> Result<Listed<muster_store::FlagChange>> {
        on_conn!(self, flags::changes, query)
    }
}
