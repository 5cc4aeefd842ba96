//! `Idempotency-Key` records: a retried POST gets the first response back instead of
//! creating a second row. The key is claimed before the write (so two concurrent retries
//! cannot both run) and completed with the response after it.
//!
//! Each attempt claims with a token of its own ([`Claim`]). Releasing a claim and marking
//! what the request wrote only act on the row while it still holds that token, so an
//! attempt that outlived its claim (taken over after [`ABANDONED_AFTER_SECS`]) can neither
//! release its successor's claim nor write a second time. That is what lets a request
//! whose release failed (the database was down when it ended) keep retrying the release
//! until the database answers, however long the outage: its retries then go through within
//! a second of recovery instead of answering 409 until the claim is abandoned.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// One attempt's hold on a key: the key and a token no other attempt shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub key: IdempotencyKey,
    pub token: Uuid,
}

impl Claim {
    /// A new attempt at `key`.
    pub fn new(key: IdempotencyKey) -> Self {
        Claim { key, token: Uuid::now_v7() }
    }
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
    /// The claim of the request being served, while it runs: a backend that creates rows
    /// marks the key with what it wrote in the same transaction as the write, so a retry
    /// after a lost response finds the write instead of making it twice.
    pub static CURRENT: Claim;
}

/// The claim of the request being served, if it has one.
pub fn current() -> Option<Claim> {
    CURRENT.try_with(Clone::clone).ok()
}

/// What an attempt that found the key already claimed does: take the claim over, or answer
/// with what the row says (`None`: take it over). The rule both backends apply to the row
/// they read.
#[cfg(feature = "sql")]
pub fn decide(row: crate::rows::IdempotencyRow, fingerprint: &str, now: DateTime<Utc>) -> Option<IdempotencyBegin> {
    let (fp, response, created_at, resource) = row;
    let expired = created_at < now - Duration::hours(RETENTION_HOURS);
    // a claim whose write committed is never abandoned: running it again would write twice
    let abandoned =
        response.is_none() && resource.is_none() && created_at < now - Duration::seconds(ABANDONED_AFTER_SECS);
    if expired || abandoned {
        return None;
    }
    Some(match (response, resource) {
        _ if fp != fingerprint => IdempotencyBegin::Mismatch,
        (Some(sqlx::types::Json(r)), _) => IdempotencyBegin::Done(r),
        (None, Some(written)) => IdempotencyBegin::Committed(written),
        (None, None) => IdempotencyBegin::InProgress,
    })
}

/// The message of the error a write gets when its claim was taken over by a retry.
pub const TAKEN_OVER: &str =
    "this request's Idempotency-Key was taken over by a retry (the request ran past the claim); nothing was written";
