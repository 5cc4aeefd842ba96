//! The store conformance suite against SQLite, one fresh database file per test.

use muster_store::Store;
use std::sync::Arc;

async fn fresh() -> Arc<dyn Store> {
    Arc::new(muster_store_sqlite::testing::fresh_store().await)
}

muster_store::conformance_suite!(fresh);
muster_store::observability_suite!(fresh);
muster_store::flags_suite!(fresh);
