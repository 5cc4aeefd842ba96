//! The audit trail of personal data: every change to a volunteer and every response that
//! showed contact details, with who, when, what, the request id and the build.
//!
//! Handlers hand entries to [`AuditLog::record`], which only queues them; one writer task
//! stores them in batches (whatever has queued since its last write, up to [`BATCH`]), so a
//! read pays for a channel send, not a database round trip. Nothing is dropped silently: an
//! entry that cannot be queued (the queue is full) or written (after one retry) is counted in
//! `muster_audit_failures_total` and logged as a server error. The writer also deletes
//! entries older than the retention (`MUSTER_AUDIT_RETENTION`) every hour.

use crate::metrics::Metrics;
use crate::principal::Principal;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use muster_store::{AuditEntry, Store};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Entries written per statement batch at most.
pub const BATCH: usize = 500;
/// Entries waiting to be written at most; past it, new ones are counted as failures.
pub const QUEUE: usize = 20_000;
/// Default retention (`MUSTER_AUDIT_RETENTION`): 400 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);
/// How often old entries are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

enum Msg {
    Entry(AuditEntry),
    /// Answered once everything queued before it is written (tests, shutdown).
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
}

impl AuditLog {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>, retention: Duration) -> AuditLog {
        let (tx, rx) = mpsc::channel(QUEUE);
        AuditLog { tx, rx: Mutex::new(Some(rx)), started: OnceLock::new(), store, metrics, retention }
    }

    /// The retention this log purges by.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    fn start(&self) {
        self.started.get_or_init(|| {
            if let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() {
                tokio::spawn(writer(rx, self.store.clone(), self.metrics.clone(), self.retention));
            }
        });
    }

    /// Queues `entry` for the writer; never waits.
    pub fn record(&self, entry: AuditEntry) {
        self.start();
        if let Err(e) = self.tx.try_send(Msg::Entry(entry)) {
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

    /// Waits until every entry queued so far is written (or has failed and been counted).
    pub async fn flush(&self) {
        self.start();
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(mut rx: mpsc::Receiver<Msg>, store: Arc<dyn Store>, metrics: Arc<Metrics>, retention: Duration) {
    let mut purge = tokio::time::interval(PURGE_EVERY);
    let mut msgs = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut msgs, BATCH) => {
                if n == 0 {
                    return;
                }
                let mut entries = Vec::with_capacity(n);
                let mut flushes = Vec::new();
                for m in msgs.drain(..) {
                    match m {
                        Msg::Entry(e) => entries.push(e),
                        Msg::Flush(done) => flushes.push(done),
                    }
                }
                write(&*store, &metrics, &entries).await;
                for done in flushes {
                    let _ = done.send(());
                }
            }
            _ = purge.tick() => {
                let before = chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
                match store.purge_audit(before).await {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "audit entries past their retention purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging old audit entries failed; retrying in an hour"),
                }
            }
        }
    }
}

/// Writes a batch, retrying once after a moment (a failover, a full pool); what still
/// fails is counted and logged, never dropped without a trace.
async fn write(store: &dyn Store, metrics: &Metrics, entries: &[AuditEntry]) {
    if entries.is_empty() {
        return;
    }
    let mut result = store.insert_audit(entries).await;
    if result.is_err() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        result = store.insert_audit(entries).await;
    }
    match result {
        Ok(()) => metrics.audit_written(entries.len() as u64),
        Err(e) => {
            metrics.audit_failed(entries.len() as u64);
            let ids: Vec<String> = entries.iter().take(10).map(|e| e.id.to_string()).collect();
            tracing::error!(
                kind = "server_error",
                entries = entries.len(),
                first_ids = %ids.join(","),
                error = %e,
                "audit entries could not be written"
            );
        }
    }
}

/// Who is asking and through which route: what an audit entry names.
#[derive(Debug, Clone)]
pub struct Who {
    pub subject: String,
    /// `GET /v1/volunteers/{id}`.
    pub route: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Who {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let path = parts.extensions.get::<MatchedPath>().map_or_else(|| parts.uri.path(), MatchedPath::as_str);
        Ok(Who { subject: Principal::subject_of(&parts.extensions), route: format!("{} {path}", parts.method) })
    }
}

impl Who {
    /// An entry made now by this caller.
    pub fn entry(
        &self,
        build: &crate::BuildInfo,
        action: &str,
        volunteer_ids: Vec<Uuid>,
        count: usize,
        query: Option<&str>,
    ) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            at: chrono::Utc::now(),
            subject: self.subject.clone(),
            action: action.to_owned(),
            route: self.route.clone(),
            volunteer_ids,
            count: i64::try_from(count).unwrap_or(i64::MAX),
            query: query.filter(|q| !q.is_empty()).map(str::to_owned),
            request_id: crate::request_id::current(),
            build: build.label(),
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
