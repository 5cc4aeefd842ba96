//! Test support: a migrated store in a database file of its own, so tests run in parallel
//! without seeing each other's rows.

use crate::{SqliteSettings, SqliteStore};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Test databases older than this are removed by later runs. Each run leaves its files
/// behind (the store may still be open when a test ends, and a failure is worth
/// inspecting), and at a few MB of WAL per run they would otherwise pile up.
const KEEP_FOR: Duration = Duration::from_secs(60 * 60);

/// A migrated, empty store in a new file under `$TMPDIR/muster-test/<uuid>/`.
pub async fn fresh_store() -> SqliteStore {
    let root = std::env::temp_dir().join("muster-test");
    prune(&root);
    let dir = root.join(uuid::Uuid::now_v7().simple().to_string());
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let path = dir.join("muster.db");
    let path = path.to_str().expect("temp dir path is UTF-8");
    // long enough for 200 registrations to queue on the single writer on a slow disk
    let settings = SqliteSettings { max_readers: 4, acquire_timeout: Duration::from_secs(30) };
    let store = SqliteStore::connect(path, &settings).expect("connect options");
    store.migrate().await.expect("migrate test database");
    store
}

/// Removes test databases past [`KEEP_FOR`]. Best effort: parallel test processes may be
/// pruning the same directories.
fn prune(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let cutoff = SystemTime::now() - KEEP_FOR;
    for entry in entries.flatten() {
        let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
        if old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
