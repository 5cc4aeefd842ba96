//! The store conformance suite against a real PostgreSQL, one fresh schema per test.
//!
//! `MUSTER_TEST_POSTGRES_URL` names the server (default: the local trust-auth one); when it
//! cannot be reached the tests fail: a skipped backend would be a green lie.

use muster_store::Store;
use std::sync::Arc;

async fn fresh() -> Arc<dyn Store> {
    Arc::new(muster_store_postgres::testing::fresh_store().await)
}

muster_store::conformance_suite!(fresh);
muster_store::observability_suite!(fresh);
muster_store::flags_suite!(fresh);
