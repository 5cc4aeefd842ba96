//! Test support: a migrated store in a schema of its own, so tests run in parallel on one
//! server without seeing each other's rows.

use crate::{PgSettings, PgStore};
use sqlx::{Connection, Executor, PgConnection};
use std::time::Duration;

/// The server tests use: `MUSTER_TEST_POSTGRES_URL`, default the local trust-auth one.
pub fn server_url() -> String {
    std::env::var("MUSTER_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The database tests use, created on first use.
pub async fn database_url() -> String {
    let server = server_url();
    let mut conn = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL tests need a server at {server} (set MUSTER_TEST_POSTGRES_URL): {e}"));
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
    let url = database_url().await;
    let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut conn = PgConnection::connect(&url).await.expect("connect to muster_test");
    conn.execute(format!("CREATE SCHEMA {schema}").as_str()).await.expect("create test schema");
    let settings =
        PgSettings { max_connections: 8, acquire_timeout: Duration::from_secs(30), schema: Some(schema), observe };
    let store = PgStore::connect(&url, &settings).expect("connect options");
    store.migrate().await.expect("migrate test schema");
    store
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
