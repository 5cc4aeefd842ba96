//! The audit trail of personal data: every change to a volunteer and every response that
//! showed contact details, with who, when, what, the request ids and the build.
//!
//! A handler hands what it did to [`AuditLog::record`], which folds it, there and then,
//! into an open entry of one of a few shards (by thread): one entry per caller, action,
//! route and query. A read pays for a lock that is almost never contended and a hash-map
//! update: no channel, no task to wake, no database round trip. Once a [`WINDOW`] the writer
//! task takes every shard's entries and stores them in one statement: a texting tool that
//! reads 50,000 volunteers a second leaves a handful of rows a second, each naming every
//! volunteer it showed, how many answers, and their request ids. Nothing is dropped
//! silently: what finds no room (the writer is behind, [`MAX_OPEN`] entries wait) or cannot
//! be stored (after one retry) is counted in `muster_audit_failures_total` and logged as a
//! server error. The writer also deletes entries older than the retention
//! (`MUSTER_AUDIT_RETENTION`) every hour.

use crate::metrics::Metrics;
use crate::principal::Principal;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::Method;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use muster_store::{AuditEntry, Store};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

/// How long entries stay open before the writer stores them.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Request ids kept in one entry; past it the entry is closed and a new one started. High
/// enough that a busy caller's second is one entry: each entry costs the database a row and
/// its volunteer ids an index entry each, so entries per second are what must stay few.
pub const MAX_REQUEST_IDS: usize = 20_000;
/// Volunteers named in one entry; past it likewise.
pub const MAX_VOLUNTEERS: usize = 10_000;
/// Entries open or waiting to be stored at most (while the database is away); past it,
/// what arrives is counted as lost.
pub const MAX_OPEN: usize = 100_000;
/// Default retention (`MUSTER_AUDIT_RETENTION`): 400 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);
/// How often old entries are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
const SHARDS: usize = 16;

/// One request's part of the trail, as a handler reports it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub action: &'static str,
    pub who: Who,
    pub volunteer_ids: Vec<Uuid>,
    /// Volunteers changed or shown.
    pub count: usize,
    /// The list query, or the import's options.
    pub query: Option<String>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// The trail's open entries and its writer (started with the first record).
pub struct AuditLog {
    shards: Box<[Mutex<crate::FastMap<Key, Open>>]>,
    /// Entries closed early (full), waiting for the writer.
    closed: Mutex<Vec<(Key, Open)>>,
    /// Entries open or closed and not yet handed to the store.
    pending: AtomicUsize,
    wake: Notify,
    flushes: mpsc::UnboundedSender<oneshot::Sender<()>>,
    flush_rx: Mutex<Option<mpsc::UnboundedReceiver<oneshot::Sender<()>>>>,
    started: OnceLock<()>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    retention: Duration,
    build: String,
}

impl AuditLog {
    /// `build`: the release label entries carry ([`crate::BuildInfo::label`]).
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>, retention: Duration, build: String) -> AuditLog {
        let (flushes, flush_rx) = mpsc::unbounded_channel();
        AuditLog {
            shards: (0..SHARDS).map(|_| Mutex::new(crate::FastMap::default())).collect(),
            closed: Mutex::new(Vec::new()),
            pending: AtomicUsize::new(0),
            wake: Notify::new(),
            flushes,
            flush_rx: Mutex::new(Some(flush_rx)),
            started: OnceLock::new(),
            store,
            metrics,
            retention,
            build,
        }
    }

    fn start(self: &Arc<Self>) {
        self.started.get_or_init(|| {
            if let Some(rx) = lock(&self.flush_rx).take() {
                tokio::spawn(Arc::clone(self).run(rx));
            }
        });
    }

    /// Folds what a request did into the trail; never waits on anything but a shard's lock.
    pub fn record(self: &Arc<Self>, seen: Seen) {
        self.start();
        let key = Key {
            subject: seen.who.subject,
            action: seen.action,
            method: seen.who.method,
            route: Route(seen.who.route),
            query: seen.query,
        };
        let mut shard = lock(&self.shards[shard_of_thread()]);
        if !shard.contains_key(&key) {
            if self.pending.fetch_add(1, Ordering::Relaxed) >= MAX_OPEN {
                self.pending.fetch_sub(1, Ordering::Relaxed);
                drop(shard);
                self.metrics.audit_failed(1);
                tracing::error!(kind = "server_error", "an audit entry found no room: the writer is behind");
                return;
            }
            shard.insert(key.clone(), Open::new(seen.at));
        }
        let Some(open) = shard.get_mut(&key) else { return };
        open.fold(seen.at, seen.count, seen.volunteer_ids, seen.request_id);
        if open.full()
            && let Some(full) = shard.remove(&key)
        {
            drop(shard);
            lock(&self.closed).push((key, full));
            self.wake.notify_one();
        }
    }

    /// [`AuditLog::flush`] when anything was ever recorded (else there is nothing to wait for).
    pub async fn flush_if_started(self: &Arc<Self>) {
        if self.started.get().is_some() {
            self.flush().await;
        }
    }

    /// Waits until everything recorded so far is stored (or has failed and been counted).
    pub async fn flush(self: &Arc<Self>) {
        self.start();
        let (done, wait) = oneshot::channel();
        if self.flushes.send(done).is_ok() {
            self.wake.notify_one();
            let _ = wait.await;
        }
    }

    async fn run(self: Arc<Self>, mut flushes: mpsc::UnboundedReceiver<oneshot::Sender<()>>) {
        let mut window = tokio::time::interval(WINDOW);
        window.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purge = tokio::time::interval(PURGE_EVERY);
        loop {
            tokio::select! {
                () = self.wake.notified() => {
                    let waiting: Vec<oneshot::Sender<()>> = std::iter::from_fn(|| flushes.try_recv().ok()).collect();
                    if waiting.is_empty() {
                        let full = std::mem::take(&mut *lock(&self.closed));
                        self.store_all(full).await;
                    } else {
                        self.store_all(self.take_all()).await;
                        for done in waiting {
                            let _ = done.send(());
                        }
                    }
                }
                _ = window.tick() => self.store_all(self.take_all()).await,
                _ = purge.tick() => {
                    let age = chrono::Duration::from_std(self.retention).unwrap_or(chrono::Duration::MAX);
                    match self.store.purge_audit(Utc::now() - age).await {
                        Ok(n) if n > 0 => tracing::info!(deleted = n, "audit entries past their retention purged"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "purging old audit entries failed; retrying in an hour"),
                    }
                }
            }
        }
    }

    /// Every entry, closed or open.
    fn take_all(&self) -> Vec<(Key, Open)> {
        let mut all = std::mem::take(&mut *lock(&self.closed));
        for shard in &*self.shards {
            all.extend(std::mem::take(&mut *lock(shard)));
        }
        all
    }

    async fn store_all(&self, mut open: Vec<(Key, Open)>) {
        if open.is_empty() {
            return;
        }
        // ids in the order of the entries' first requests: the trail reads newest first by id
        open.sort_by_key(|(_, o)| o.first);
        let entries: Vec<AuditEntry> = open.into_iter().map(|(k, o)| self.entry(k, o)).collect();
        self.write(&entries).await;
        self.pending.fetch_sub(entries.len(), Ordering::Relaxed);
    }

    fn entry(&self, key: Key, open: Open) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            at: open.first,
            last_at: open.last,
            route: format!("{} {}", key.method, key.route.as_str()),
            subject: key.subject,
            action: key.action.to_owned(),
            volunteer_ids: open.volunteers,
            count: i64::try_from(open.count).unwrap_or(i64::MAX),
            query: key.query.filter(|q| !q.is_empty()),
            request_ids: open.request_ids,
            build: self.build.clone(),
        }
    }

    /// Stores entries, retrying once after a moment (a failover, a full pool); what still
    /// fails is counted and logged, never dropped without a trace.
    async fn write(&self, entries: &[AuditEntry]) {
        let mut result = self.store.insert_audit(entries).await;
        if result.is_err() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            result = self.store.insert_audit(entries).await;
        }
        let n = entries.len() as u64;
        match result {
            Ok(()) => self.metrics.audit_written(n),
            Err(e) => {
                self.metrics.audit_failed(n);
                let firsts: Vec<String> =
                    entries.iter().take(5).map(|e| format!("{} {} {}", e.subject, e.action, e.route)).collect();
                tracing::error!(
                    kind = "server_error",
                    entries = entries.len(),
                    first = %firsts.join("; "),
                    error = %e,
                    "audit entries could not be stored"
                );
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's shard: threads take shards in turn, so runtime workers rarely share one.
fn shard_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// What folds into one entry: the same caller, action, route and query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    subject: String,
    action: &'static str,
    method: Method,
    route: Route,
    query: Option<String>,
}

/// A matched route, compared by its text.
#[derive(Debug, Clone)]
struct Route(Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("(unmatched)", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_str().hash(h);
    }
}

/// An entry being folded.
struct Open {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    count: usize,
    volunteers: Vec<Uuid>,
    seen: HashSet<Uuid, foldhash::quality::RandomState>,
    request_ids: Vec<String>,
}

impl Open {
    fn new(at: DateTime<Utc>) -> Open {
        Open {
            first: at,
            last: at,
            count: 0,
            volunteers: Vec::new(),
            seen: HashSet::default(),
            request_ids: Vec::new(),
        }
    }

    fn fold(&mut self, at: DateTime<Utc>, count: usize, volunteers: Vec<Uuid>, request_id: Option<String>) {
        self.first = self.first.min(at);
        self.last = self.last.max(at);
        self.count += count;
        for v in volunteers {
            if self.seen.insert(v) {
                self.volunteers.push(v);
            }
        }
        self.request_ids.extend(request_id);
    }

    fn full(&self) -> bool {
        self.request_ids.len() >= MAX_REQUEST_IDS || self.volunteers.len() >= MAX_VOLUNTEERS
    }
}

/// Who is asking and through which route: what an audit entry names.
#[derive(Debug, Clone)]
pub struct Who {
    pub subject: String,
    pub method: Method,
    pub route: Option<MatchedPath>,
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Who {
            subject: Principal::subject_of(&parts.extensions),
            method: parts.method.clone(),
            route: parts.extensions.get::<MatchedPath>().cloned(),
        })
    }
}

impl Who {
    /// What this caller did now.
    pub fn seen(self, action: &'static str, volunteer_ids: Vec<Uuid>, count: usize, query: Option<&str>) -> Seen {
        Seen {
            action,
            who: self,
            volunteer_ids,
            count,
            query: query.map(str::to_owned),
            request_id: crate::request_id::current(),
            at: Utc::now(),
        }
    }
}

/// The rows in a list body as the API writes it: objects (`{"data":[{"id":…},…]}`, each
/// volunteer's object starting with its id) counted without parsing; the compact table
/// (`{"columns":…,"rows":[…]}`) parsed for its length.
pub fn rows_in(body: &[u8]) -> usize {
    if body.starts_with(b"{\"data\":") {
        return memchr::memmem::find_iter(body, b"{\"id\":").count();
    }
    #[derive(serde::Deserialize)]
    struct Table {
        #[serde(default)]
        rows: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Table>(body).map_or(0, |t| t.rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_names_each_volunteer_once_and_closes_when_full() {
        let t0 = Utc::now();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut open = Open::new(t0);
        open.fold(t0 + chrono::Duration::milliseconds(5), 1, vec![a], Some("r1".into()));
        open.fold(t0 - chrono::Duration::milliseconds(5), 2, vec![b, a], Some("r2".into()));
        open.fold(t0, 20, vec![], None);
        assert_eq!(open.volunteers, [a, b]);
        assert_eq!(open.count, 23);
        assert_eq!(open.request_ids, ["r1", "r2"]);
        assert_eq!(
            (open.first, open.last),
            (t0 - chrono::Duration::milliseconds(5), t0 + chrono::Duration::milliseconds(5))
        );
        assert!(!open.full());
        for i in 0..MAX_REQUEST_IDS {
            open.fold(t0, 1, vec![], Some(format!("x{i}")));
        }
        assert!(open.full());
    }

    #[test]
    fn list_rows_are_counted_in_either_format() {
        assert_eq!(rows_in(br#"{"data":[{"id":"a","tags":[]},{"id":"b"}],"next_cursor":null}"#), 2);
        assert_eq!(rows_in(br#"{"data":[],"next_cursor":null}"#), 0);
        assert_eq!(rows_in(br#"{"columns":["id"],"rows":[["a"],["b"],["c"]],"next_cursor":null}"#), 3);
    }
}
