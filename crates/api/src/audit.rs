//! The audit trail of personal data: every change to a volunteer and every response that
//! showed contact details, with who, when, what, the request ids and the build.
//!
//! Handlers hand what they did to [`AuditLog::record`], which only queues it: a read pays
//! for a channel send, never a database round trip. One writer task folds what arrives
//! into entries, one per caller, action, route and query for each [`WINDOW`] (a campaign's
//! texting tool reading 50,000 volunteers a second makes a handful of rows, not 50,000,
//! each naming every volunteer it showed, how many answers, and their request ids), and
//! stores them in one statement per window. Nothing is dropped silently: what cannot be
//! queued (the queue is full) or stored (after one retry) is counted in
//! `muster_audit_failures_total` and logged as a server error. The writer also deletes
//! entries older than the retention (`MUSTER_AUDIT_RETENTION`) every hour.

use crate::metrics::Metrics;
use crate::principal::Principal;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::Method;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use muster_store::{AuditEntry, Store};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// How long the writer folds what arrives before it stores the entries.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Request ids kept in one entry; past it the entry is stored and a new one started.
pub const MAX_REQUEST_IDS: usize = 1000;
/// Volunteers named in one entry; past it likewise.
pub const MAX_VOLUNTEERS: usize = 10_000;
/// Things done waiting to be folded at most; past it, new ones are counted as failures.
pub const QUEUE: usize = 50_000;
/// Default retention (`MUSTER_AUDIT_RETENTION`): 400 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);
/// How often old entries are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

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

enum Msg {
    Seen(Seen),
    /// Answered once everything queued before it is stored (tests, shutdown, Lambda).
    Flush(oneshot::Sender<()>),
}

/// The queue and its writer task (started with the first entry).
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    rx: Mutex<Option<mpsc::Receiver<Msg>>>,
    started: OnceLock<()>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    retention: Duration,
    build: String,
}

impl AuditLog {
    /// `build`: the release label entries carry ([`crate::BuildInfo::label`]).
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>, retention: Duration, build: String) -> AuditLog {
        let (tx, rx) = mpsc::channel(QUEUE);
        AuditLog { tx, rx: Mutex::new(Some(rx)), started: OnceLock::new(), store, metrics, retention, build }
    }

    fn start(&self) {
        self.started.get_or_init(|| {
            if let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let writer = Writer {
                    store: self.store.clone(),
                    metrics: self.metrics.clone(),
                    build: self.build.clone(),
                    open: HashMap::new(),
                };
                tokio::spawn(writer.run(rx, self.retention));
            }
        });
    }

    /// Queues what a request did; never waits.
    pub fn record(&self, seen: Seen) {
        self.start();
        if let Err(e) = self.tx.try_send(Msg::Seen(seen)) {
            self.metrics.audit_failed(1);
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the audit queue is full",
                mpsc::error::TrySendError::Closed(_) => "the audit writer has stopped",
            };
            tracing::error!(kind = "server_error", reason = why, "an audit entry could not be queued");
        }
    }

    /// [`AuditLog::flush`] when anything was ever recorded (else there is nothing to wait for).
    pub async fn flush_if_started(&self) {
        if self.started.get().is_some() {
            self.flush().await;
        }
    }

    /// Waits until everything queued so far is stored (or has failed and been counted).
    pub async fn flush(&self) {
        self.start();
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
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
    seen: HashSet<Uuid>,
    request_ids: Vec<String>,
}

struct Writer {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    build: String,
    open: HashMap<Key, Open>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, retention: Duration) {
        let mut window = tokio::time::interval(WINDOW);
        window.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purge = tokio::time::interval(PURGE_EVERY);
        let mut msgs = Vec::with_capacity(1024);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut msgs, 1024) => {
                    if n == 0 {
                        self.store_open().await;
                        return;
                    }
                    let mut flushes = Vec::new();
                    let mut full = Vec::new();
                    for m in msgs.drain(..) {
                        match m {
                            Msg::Seen(s) => full.extend(self.fold(s)),
                            Msg::Flush(done) => flushes.push(done),
                        }
                    }
                    if !full.is_empty() {
                        self.write(&full).await;
                    }
                    if !flushes.is_empty() {
                        self.store_open().await;
                        for done in flushes {
                            let _ = done.send(());
                        }
                    }
                }
                _ = window.tick() => self.store_open().await,
                _ = purge.tick() => {
                    let age = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
                    match self.store.purge_audit(Utc::now() - age).await {
                        Ok(n) if n > 0 => tracing::info!(deleted = n, "audit entries past their retention purged"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "purging old audit entries failed; retrying in an hour"),
                    }
                }
            }
        }
    }

    /// Folds `s` into its open entry; returns the entry when it is full.
    fn fold(&mut self, s: Seen) -> Option<AuditEntry> {
        let key = Key {
            subject: s.who.subject,
            action: s.action,
            method: s.who.method,
            route: Route(s.who.route),
            query: s.query,
        };
        if !self.open.contains_key(&key) {
            let fresh = Open {
                first: s.at,
                last: s.at,
                count: 0,
                volunteers: Vec::new(),
                seen: HashSet::new(),
                request_ids: Vec::new(),
            };
            self.open.insert(key.clone(), fresh);
        }
        let open = self.open.get_mut(&key)?;
        open.last = open.last.max(s.at);
        open.count += s.count;
        for v in s.volunteer_ids {
            if open.seen.insert(v) {
                open.volunteers.push(v);
            }
        }
        open.request_ids.extend(s.request_id);
        if open.request_ids.len() >= MAX_REQUEST_IDS || open.volunteers.len() >= MAX_VOLUNTEERS {
            let open = self.open.remove(&key)?;
            return Some(self.entry(key, open));
        }
        None
    }

    fn entry(&self, key: Key, open: Open) -> AuditEntry {
        let path = key.route.as_str();
        AuditEntry {
            id: Uuid::now_v7(),
            at: open.first,
            last_at: open.last,
            subject: key.subject,
            action: key.action.to_owned(),
            route: format!("{} {path}", key.method),
            volunteer_ids: open.volunteers,
            count: i64::try_from(open.count).unwrap_or(i64::MAX),
            query: key.query.filter(|q| !q.is_empty()),
            request_ids: open.request_ids,
            build: self.build.clone(),
        }
    }

    async fn store_open(&mut self) {
        if self.open.is_empty() {
            return;
        }
        // ids in the order of the entries' first requests: the trail reads newest first by id
        let mut open: Vec<(Key, Open)> = std::mem::take(&mut self.open).into_iter().collect();
        open.sort_by_key(|(_, o)| o.first);
        let entries: Vec<AuditEntry> = open.into_iter().map(|(k, o)| self.entry(k, o)).collect();
        self.write(&entries).await;
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
    pub fn seen(&self, action: &'static str, volunteer_ids: Vec<Uuid>, count: usize, query: Option<&str>) -> Seen {
        Seen {
            action,
            who: self.clone(),
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
