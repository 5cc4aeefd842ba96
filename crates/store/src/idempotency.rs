//! `Idempotency-Key` records: a retried POST gets the first response back instead of
//! creating a second row. The key is claimed before the write (so two concurrent retries
//! cannot both run) and completed with the response after it.

use serde::{Deserialize, Serialize};

/// How long a key is remembered.
pub const RETENTION_HOURS: i64 = 24;
/// A claim older than this whose request never completed is treated as abandoned.
pub const ABANDONED_AFTER_SECS: i64 = 60;

/// A key as the client sent it, scoped to the principal that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub principal: String,
    pub key: String,
}

/// The response replayed for a repeated key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    /// Headers worth replaying (`Location`, `ETag`, `Content-Type`).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new: run the request, then complete or abort.
    Claimed,
    /// The key was used with another request body or target.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
    /// The first request finished: replay its response.
    Done(StoredResponse),
    /// The first request's write committed but its response was never recorded (the
    /// process or the database died in between): what it wrote, a path like
    /// `/v1/volunteers/{id}`, or `batch`. The request must not run again.
    Committed(String),
}

tokio::task_local! {
    /// The key of the request being served, while it runs: a backend that creates rows
    /// marks the key with what it wrote in the same transaction as the write, so a retry
    /// after a lost response finds the write instead of making it twice.
    pub static CURRENT: IdempotencyKey;
}

/// The key of the request being served, if it has one.
pub fn current() -> Option<IdempotencyKey> {
    CURRENT.try_with(Clone::clone).ok()
}
