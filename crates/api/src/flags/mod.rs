//! Feature flags at runtime: each instance holds every flag in memory and evaluates them
//! with no round trip; the store is the source of truth and is reread when it may have
//! changed.
//!
//! Flags are few (tens) and read on hot paths (a gated list, every OFREP call), so the
//! whole set is one immutable [`Snapshot`] swapped atomically on reload; an evaluation is a
//! map lookup and one SHA-256 of a short string. Freshness:
//! - a change made through this instance reloads it at once ([`Flags::changed`]);
//! - with Redis, that change also bumps a generation counter which every instance's watcher
//!   ([`Flags::start_watcher`]) polls each [`WATCH_EVERY`], so the fleet follows within
//!   about a second;
//! - in any case a snapshot older than [`RELOAD_EVERY`] is reloaded (by the watcher, or by
//!   the next evaluation when no watcher runs), which bounds staleness without Redis or
//!   while Redis is down.
//!
//! A failed reload keeps the last good snapshot (and is retried a second later); before
//! the first good one, gated features fall back to their declared defaults and OFREP
//! answers 503, never a wrong "flag not found".

mod features;

pub use features::{CSV_IMPORT, FEATURES, Feature, LIST_COMPACT, declared, disabled};

use crate::metrics::{Metrics, UNKNOWN_FLAG};
use crate::principal::Principal;
use crate::problem::ApiResult;
use crate::redis_link::RedisLink;
use muster_domain::flag::{Flag, Reason};
use muster_store::Store;
use redis::AsyncCommands;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

/// Oldest a snapshot may be before it is reloaded: the staleness bound without Redis.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// How often the watcher checks the Redis generation (and the snapshot's age).
pub const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Wait before retrying a reload that failed.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// A generation not read yet.
const UNSEEN: u64 = u64::MAX;

/// Every flag as of one reload.
#[derive(Debug)]
pub struct Snapshot {
    /// Stored flags by key.
    pub flags: BTreeMap<String, Flag>,
    /// False until the first successful load.
    pub loaded: bool,
    next_check: Instant,
}

/// One flag evaluated for one subject.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluated {
    pub key: String,
    /// Whether the flag is on for the subject (a flag with variants serves one of them).
    #[serde(skip)]
    pub on: bool,
    pub value: Value,
    pub variant: String,
    pub reason: Reason,
    /// The stored flag's version; `None` for a declared feature with no flag stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// The outcome of evaluating one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Evaluated),
    NotFound,
    /// No flag has been loaded yet (the store has not answered since start).
    NotLoaded,
}

struct Shared {
    link: Arc<RedisLink>,
    key: String,
    seen: AtomicU64,
}

pub struct Flags {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    current: RwLock<Arc<Snapshot>>,
    /// One reload at a time; others use the snapshot they have.
    reloading: tokio::sync::Mutex<()>,
    redis: OnceLock<Shared>,
    watcher_started: AtomicBool,
}

impl Flags {
    /// Flags read from `store`, counted in `metrics`; nothing is loaded until first needed.
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Flags {
        let empty = Snapshot { flags: BTreeMap::new(), loaded: false, next_check: Instant::now() };
        Flags {
            store,
            metrics,
            current: RwLock::new(Arc::new(empty)),
            reloading: tokio::sync::Mutex::new(()),
            redis: OnceLock::new(),
            watcher_started: AtomicBool::new(false),
        }
    }

    /// Shares changes with the other instances through the generation counter at
    /// `{prefix}gen`. Only the first call counts.
    pub fn use_redis(&self, link: Arc<RedisLink>, prefix: &str) {
        let _ = self.redis.set(Shared { link, key: format!("{prefix}gen"), seen: AtomicU64::new(UNSEEN) });
    }

    /// Starts the background watcher (once; it ends when the flags are dropped). Without it
    /// evaluations still reload a stale snapshot themselves, but pay for it.
    pub fn start_watcher(self: &Arc<Self>) {
        if !self.watcher_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(watch(Arc::downgrade(self)));
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        self.current.read().expect("flags lock").clone()
    }

    /// The flags, reloaded first if the snapshot is stale. Before the first load every
    /// caller waits for it; afterwards a stale snapshot is served while one caller reloads.
    pub async fn snapshot(&self) -> Arc<Snapshot> {
        let cur = self.current();
        if cur.next_check > Instant::now() {
            return cur;
        }
        let _guard = if cur.loaded {
            match self.reloading.try_lock() {
                Ok(g) => g,
                Err(_) => return cur,
            }
        } else {
            self.reloading.lock().await
        };
        let cur = self.current();
        if cur.next_check > Instant::now() {
            return cur;
        }
        self.reload_locked().await;
        self.current()
    }

    /// Rereads every flag now.
    pub async fn reload(&self) {
        let _guard = self.reloading.lock().await;
        self.reload_locked().await;
    }

    async fn reload_locked(&self) {
        let next = match self.store.list_flags().await {
            Ok(rows) => {
                self.metrics.flags_reloaded(rows.len());
                Snapshot {
                    flags: rows.into_iter().map(|f| (f.key.to_string(), f)).collect(),
                    loaded: true,
                    next_check: Instant::now() + RELOAD_EVERY,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reload feature flags; keeping the current ones");
                let cur = self.current();
                Snapshot {
                    flags: cur.flags.clone(),
                    loaded: cur.loaded,
                    next_check: Instant::now() + RETRY_AFTER_FAILURE,
                }
            }
        };
        *self.current.write().expect("flags lock") = Arc::new(next);
    }

    /// After a change made through this instance: reload here, and tell the others.
    pub async fn changed(&self) {
        self.reload().await;
        if let Some(shared) = self.redis.get() {
            let key = shared.key.clone();
            match shared.link.run(|mut c| async move { c.incr::<_, _, u64>(key, 1).await }).await {
                // this instance is current: its watcher need not reload for its own change
                Some(generation) => shared.seen.store(generation, Ordering::Release),
                None => tracing::warn!(
                    "flag change not announced through Redis; other instances see it within {} s",
                    RELOAD_EVERY.as_secs()
                ),
            }
        }
    }

    /// Evaluates `key` for `subject`: a stored flag, else a declared feature at its default.
    pub async fn evaluate(&self, key: &str, subject: &str) -> Lookup {
        let snap = self.snapshot().await;
        let found = match (snap.flags.get(key), declared(key)) {
            (Some(flag), _) => Lookup::Found(evaluated(flag, subject)),
            (None, Some(feature)) if snap.loaded => Lookup::Found(default_of(feature)),
            (None, _) if snap.loaded => Lookup::NotFound,
            (None, _) => Lookup::NotLoaded,
        };
        match &found {
            Lookup::Found(e) => self.metrics.flag_evaluated(&e.key, &e.variant),
            Lookup::NotFound => self.metrics.flag_evaluated(UNKNOWN_FLAG, "not_found"),
            Lookup::NotLoaded => self.metrics.flag_evaluated(UNKNOWN_FLAG, "error"),
        }
        found
    }

    /// Every flag (stored and declared) for `subject`, by key; `None` before the first load.
    pub async fn evaluate_all(&self, subject: &str) -> Option<Vec<Evaluated>> {
        let snap = self.snapshot().await;
        if !snap.loaded {
            self.metrics.flag_evaluated(UNKNOWN_FLAG, "error");
            return None;
        }
        let mut all: BTreeMap<&str, Evaluated> = FEATURES.iter().map(|f| (f.key, default_of(f))).collect();
        for (key, flag) in &snap.flags {
            all.insert(key, evaluated(flag, subject));
        }
        let all: Vec<Evaluated> = all.into_values().collect();
        for e in &all {
            self.metrics.flag_evaluated(&e.key, &e.variant);
        }
        Some(all)
    }

    /// Whether `feature` is on for `subject` (its default until flags have loaded).
    pub async fn enabled(&self, feature: &Feature, subject: &str) -> bool {
        match self.evaluate(feature.key, subject).await {
            Lookup::Found(e) => e.on,
            Lookup::NotFound | Lookup::NotLoaded => feature.when_absent,
        }
    }

    /// Ok when `feature` is on for the caller, else the `feature-disabled` problem.
    pub async fn require(&self, feature: &Feature, caller: &Principal) -> ApiResult<()> {
        if self.enabled(feature, &caller.subject).await { Ok(()) } else { Err(disabled(feature)) }
    }
}

fn evaluated(flag: &Flag, subject: &str) -> Evaluated {
    let e = flag.evaluate(subject);
    Evaluated {
        key: flag.key.to_string(),
        on: e.on,
        value: e.value,
        variant: e.variant,
        reason: e.reason,
        version: Some(flag.version),
    }
}

fn default_of(feature: &Feature) -> Evaluated {
    let on = feature.when_absent;
    Evaluated {
        key: feature.key.to_owned(),
        on,
        value: Value::Bool(on),
        variant: if on { "on" } else { "off" }.to_owned(),
        reason: Reason::Default,
        version: None,
    }
}

/// Polls the Redis generation each [`WATCH_EVERY`] and reloads when it moved or the
/// snapshot got old; ends when the flags are dropped.
async fn watch(flags: Weak<Flags>) {
    loop {
        {
            let Some(f) = flags.upgrade() else { return };
            let mut due = f.current().next_check <= Instant::now();
            if let Some(shared) = f.redis.get() {
                let key = shared.key.clone();
                let read = shared.link.run(|mut c| async move { c.get::<_, Option<u64>>(key).await }).await;
                if let Some(generation) = read.map(|g| g.unwrap_or(0)) {
                    due |= shared.seen.swap(generation, Ordering::AcqRel) != generation;
                }
            }
            if due {
                f.reload().await;
            }
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}
