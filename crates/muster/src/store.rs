//! Opening the store named by `MUSTER_DATABASE_URL`: the URL scheme picks the backend.

use crate::config::Config;
use muster_store::Store;
use muster_store_postgres::{PgSettings, PgStore};
use muster_store_sqlite::{SqliteSettings, SqliteStore};
use std::sync::Arc;
use std::time::Duration;

/// An opened store, with the concrete type kept for bulk loading.
pub enum Opened {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// Feeds `muster_store_query_duration_seconds` with a PostgreSQL store operation's time.
pub fn observe_operation(took: Duration) {
    muster_api::metrics::observe_query(took.as_secs_f64());
}

impl Opened {
    /// Opens the configured store with a server's pool.
    pub fn open(cfg: &Config) -> anyhow::Result<Opened> {
        Opened::open_with_pool(cfg, cfg.pool_size(false))
    }

    /// Opens the configured store; a PostgreSQL pool of at most `pool` connections.
    pub fn open_with_pool(cfg: &Config, pool: u32) -> anyhow::Result<Opened> {
        let url = cfg.database_url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let settings = PgSettings {
                max_connections: pool,
                acquire_timeout: cfg.db_acquire_timeout,
                statement_timeout: Some(cfg.db_statement_timeout),
                schema: None,
                observe: Some(observe_operation),
            };
            Ok(Opened::Postgres(PgStore::connect(url, &settings)?))
        } else {
            let settings = SqliteSettings {
                acquire_timeout: cfg.db_acquire_timeout.max(Duration::from_secs(5)),
                ..Default::default()
            };
            Ok(Opened::Sqlite(SqliteStore::connect(url, &settings)?))
        }
    }

    pub async fn migrate(&self) -> muster_store::Result<()> {
        match self {
            Opened::Postgres(s) => s.migrate().await,
            Opened::Sqlite(s) => s.migrate().await,
        }
    }

    /// Migrates, retrying while the database is unreachable (it may still be starting).
    pub async fn migrate_patiently(&self, patience: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut wait = Duration::from_millis(200);
        loop {
            match self.migrate().await {
                Ok(()) => return Ok(()),
                Err(muster_store::StoreError::Unavailable(e)) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "database not reachable yet");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(anyhow::anyhow!("migrations did not run: {e}")),
            }
        }
    }

    /// The store behind the trait, keeping this handle (for migrations).
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            Opened::Postgres(s) => Arc::new(s.clone()),
            Opened::Sqlite(s) => Arc::new(s.clone()),
        }
    }

    pub fn into_dyn(self) -> Arc<dyn Store> {
        match self {
            Opened::Postgres(s) => Arc::new(s),
            Opened::Sqlite(s) => Arc::new(s),
        }
    }
}
