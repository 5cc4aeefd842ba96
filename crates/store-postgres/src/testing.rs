//! Test support: a migrated store in a schema of its own, so tests run in parallel on one
//! server without seeing each other's rows.

use crate::{PgSettings, PgStore};
use sqlx::{Connection, Executor, PgConnection};
use std::time::Duration;

/// The server tests use: `MUSTER_TEST_POSTGRES_URL`, default the local trust-auth one.
pub fn server_url() -> String {
    std::env::var("MUSTER_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// How long the first connection may take before the server counts as unreachable.
const REACH_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to the test server's `postgres` database, for creating databases.
///
/// When the server cannot be reached (or refuses the tests) the test process stops here, with
/// one line on stderr saying how to start it. Failing the test instead would fail every
/// PostgreSQL test of the binary, each with its own page of connection errors, and the one
/// thing to do would be lost in them.
pub async fn admin_connection() -> PgConnection {
    let server = server_url();
    let why = match tokio::time::timeout(REACH_TIMEOUT, PgConnection::connect(&format!("{server}/postgres"))).await {
        Ok(Ok(conn)) => return conn,
        Ok(Err(e)) => Refusal::of(&e),
        Err(_) => Refusal::Unreachable(format!("no answer within {} s", REACH_TIMEOUT.as_secs())),
    };
    stop_tests(&server, &why)
}

/// Why the test server did not take a connection.
enum Refusal {
    /// Nothing answered: the server is not running, or not there.
    Unreachable(String),
    /// A server answered and refused (authentication, an unknown role).
    Refused(String),
}

impl Refusal {
    fn of(e: &sqlx::Error) -> Refusal {
        let text = e.to_string().replace(['\n', '\r'], " ");
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => Refusal::Unreachable(text),
            _ => Refusal::Refused(text),
        }
    }
}

/// Writes the one line and ends the test process (as a failed test run does, status 101).
/// Written past the harness's output capture, which a process exit would discard; the first
/// test to get here writes it, the others wait for the exit.
fn stop_tests(server: &str, why: &Refusal) -> ! {
    use std::io::Write;
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = ONCE.lock();
    let server = hide_password(server);
    let line = match why {
        Refusal::Unreachable(e) => format!(
            "PostgreSQL is not reachable at {server} ({e}): start it with scripts/db-up (or `pg_ctlcluster <version> \
             main start`), or point MUSTER_TEST_POSTGRES_URL at a running server"
        ),
        Refusal::Refused(e) => format!(
            "PostgreSQL at {server} refused the tests' connection ({e}): the tests connect as user postgres with \
             trust authentication (scripts/db-up sets that up), or point MUSTER_TEST_POSTGRES_URL at a server that \
             lets them in"
        ),
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
    std::process::exit(101)
}

/// `scheme://user:password@host` with the password masked.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The database tests use, created on first use.
pub async fn database_url() -> String {
    let server = server_url();
    let mut conn = admin_connection().await;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'muster_test')")
        .fetch_one(&mut conn)
        .await
        .expect("query pg_database");
    if !exists {
        // parallel tests may race to create it; losing that race is fine
        let _ = conn.execute("CREATE DATABASE muster_test").await;
    }
    format!("{server}/muster_test")
}

/// A migrated, empty store in a fresh schema.
pub async fn fresh_store() -> PgStore {
    fresh_store_observed(None).await
}

/// [`fresh_store`], reporting each operation's time to `observe` as the binary's store does.
pub async fn fresh_store_observed(observe: Option<fn(Duration)>) -> PgStore {
    fresh_schema(observe).await.0
}

/// A migrated, empty schema of its own: the store on it, the database URL and the schema's
/// name (for a second store on the same schema, through another route or with other settings).
pub async fn fresh_schema(observe: Option<fn(Duration)>) -> (PgStore, String, String) {
    let url = database_url().await;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&url).await.expect("connect to muster_test");
    conn.execute(format!("CREATE SCHEMA {schema}").as_str()).await.expect("create test schema");
    let settings = PgSettings {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(30),
        statement_timeout: Some(Duration::from_secs(30)),
        schema: Some(schema.clone()),
        observe,
    };
    let store = PgStore::connect(&url, &settings).expect("connect options");
    store.migrate().await.expect("migrate test schema");
    (store, url, schema)
}

/// The statements the store's list operations run, built by the same functions, so a test
/// of their query plans (`tests/plans.rs`) cannot drift from what the store executes.
pub mod list_queries {
    use muster_store::{AttendanceFilter, CandidateFilter, EventFilter, Page, VolunteerFilter};
    use sqlx::{Postgres, QueryBuilder};

    pub fn candidates(f: &CandidateFilter, page: Page) -> QueryBuilder<'_, Postgres> {
        crate::candidates::list_query(f, page)
    }
    pub fn volunteers(f: &VolunteerFilter, page: Page) -> QueryBuilder<'_, Postgres> {
        crate::volunteers::list_query(f, page)
    }
    pub fn events(f: &EventFilter, page: Page) -> QueryBuilder<'_, Postgres> {
        crate::events::list_query(f, page)
    }
    pub fn attendances(f: &AttendanceFilter, page: Page) -> QueryBuilder<'_, Postgres> {
        crate::attendances::list_query(f, page)
    }
}
