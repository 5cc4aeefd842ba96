//! `Idempotency-Key` for every `POST` under `/v1`.
//!
//! A middleware, so handlers stay unaware: it claims the key in the store before the
//! request runs (a concurrent retry gets 409, not a second row), runs it, and keeps the
//! response so a retry with the same key and body gets it back byte for byte. The same key
//! with another body or path is a client bug: 422. Server errors release the key, so a
//! retry really retries: at once, or after a 503 (a dependency away) and when the release
//! itself fails, by [`Releases`] within a second of the database answering.

use crate::AppState;
use crate::edge::Next;
use crate::principal::Principal;
use crate::problem::ApiError;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_store::{Claim, IdempotencyBegin, IdempotencyKey, StoredResponse};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Response headers worth replaying.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Whether [`layer`] has anything to do: a POST with an `Idempotency-Key`, except imports,
/// which stream and answer the header themselves (they refuse it).
pub fn applies(req: &Request) -> bool {
    req.method() == Method::POST
        && !req.uri().path().ends_with("/import")
        && req.headers().contains_key(&IDEMPOTENCY_KEY)
}

pub async fn layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if !applies(&req) {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(&IDEMPOTENCY_KEY) else { return next.run(req).await };
    let key = match raw.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => {
            k.to_owned()
        }
        _ => {
            return ApiError::bad_request("Idempotency-Key must be 1 to 255 printable ASCII characters")
                .into_response();
        }
    };
    let limit = crate::body_limit_for(req.uri().path());
    if let Err(e) = crate::extract::refuse_oversized(req.headers(), limit) {
        return e.into_response();
    }
    let key = IdempotencyKey { principal: Principal::subject_of(req.extensions()), key };
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(e) => return crate::extract::unreadable_body(&e, limit).into_response(),
    };
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), &bytes);

    let claimed_at = Instant::now();
    let claim = Claim::new(key);
    let key = &claim.key;
    match st.store.idempotency_begin(&claim, &fingerprint).await {
        Err(e) => {
            // The claim may have been made even so (the insert reached the database, its
            // answer did not): release it once the database answers, or retries would get
            // 409 until it is abandoned.
            if matches!(e, muster_store::StoreError::Unavailable(_)) {
                st.releases.add(claim, claimed_at);
            }
            ApiError::from(e).into_response()
        }
        Ok(IdempotencyBegin::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was already used for a different request; use a new key for a new request",
        )
        .into_response(),
        Ok(IdempotencyBegin::InProgress) => {
            ApiError::conflict("a request with this Idempotency-Key is still being processed; retry shortly")
                .with_header(header::RETRY_AFTER, "1")
                .into_response()
        }
        Ok(IdempotencyBegin::Done(stored)) => replay(&stored),
        Ok(IdempotencyBegin::Committed(written)) => recover(&st, key, &written).await,
        Ok(IdempotencyBegin::Claimed) => {
            // the store records what this request writes on the key, in the write's transaction
            let run = next.run(Request::from_parts(parts, Body::from(bytes)));
            let resp = muster_store::idempotency::CURRENT.scope(claim.clone(), run).await;
            let status = resp.status();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // a dependency is away: releasing now would likely wait out another timeout
                // before the client hears anything; the worker releases it within a second of
                // the database answering
                st.releases.add(claim, claimed_at);
                return resp;
            }
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                if let Err(e) = st.store.idempotency_abort(&claim).await {
                    tracing::warn!(error = %e, "could not release an idempotency key; retrying in the background");
                    st.releases.add(claim, claimed_at);
                }
                return resp;
            }
            let (parts, body) = resp.into_parts();
            let Ok(bytes) = to_bytes(body, usize::MAX).await else {
                return ApiError::internal("response body unreadable").into_response();
            };
            let stored = StoredResponse {
                status: status.as_u16(),
                headers: KEPT_HEADERS
                    .iter()
                    .filter_map(|h| Some((h.to_string(), parts.headers.get(h)?.to_str().ok()?.to_owned())))
                    .collect(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            };
            if let Err(e) = st.store.idempotency_complete(key, &stored).await {
                // The write itself succeeded; a retry will see "in progress" until the
                // claim is abandoned, which is safe (no duplicate), just slower.
                tracing::warn!(error = %e, "could not record an idempotent response");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}

/// How long a release keeps looking for a claim after the database first answers it: a
/// claim sent before an outage can reach the database after it, behind the release.
const LATE_CLAIM: Duration = Duration::from_secs(5);
/// Claims waiting to be released, at most; past it the oldest are left to be abandoned.
const MAX_PENDING: usize = 10_000;

/// Claims whose release failed, or whose making went unanswered (the database was away when
/// their request ended), released once the database answers again, so retries go through
/// within about a second of recovery instead of waiting for the claim to be abandoned.
///
/// One task works them all, once a second: during an outage that costs one attempt a second
/// however many requests failed (a task each would try to connect hundreds of times a second,
/// and after the outage compete with requests for the pool), and afterwards the releases run
/// one after another on one connection. A release names its attempt's token, so it can never
/// free a claim another attempt holds. Each is tried until it frees the claim, or for
/// [`LATE_CLAIM`] after the database first answered without one there, or until the claim
/// would be abandoned anyway (`ABANDONED_AFTER_SECS`), when any retry may take the key over.
pub struct Releases {
    store: std::sync::Arc<dyn muster_store::Store>,
    pending: std::sync::Mutex<std::collections::VecDeque<Pending>>,
    worker: std::sync::atomic::AtomicBool,
}

struct Pending {
    claim: Claim,
    claimed_at: Instant,
    /// When the database first answered this release without freeing a claim.
    answered: Option<Instant>,
}

impl Releases {
    pub fn new(store: std::sync::Arc<dyn muster_store::Store>) -> std::sync::Arc<Releases> {
        std::sync::Arc::new(Releases {
            store,
            pending: std::sync::Mutex::new(std::collections::VecDeque::new()),
            worker: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Releases `claim` in the background; its worker starts with the first one.
    pub fn add(self: &std::sync::Arc<Self>, claim: Claim, claimed_at: Instant) {
        {
            let mut pending = self.lock();
            if pending.len() >= MAX_PENDING {
                pending.pop_front();
                tracing::warn!("too many idempotency keys waiting for release; the oldest is left to be abandoned");
            }
            pending.push_back(Pending { claim, claimed_at, answered: None });
        }
        if !self.worker.swap(true, std::sync::atomic::Ordering::AcqRel) {
            tokio::spawn(Releases::work(std::sync::Arc::downgrade(self)));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn work(me: std::sync::Weak<Releases>) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(me) = me.upgrade() else { return };
            me.pass().await;
        }
    }

    /// One try at everything pending, stopping at the first the database does not answer.
    async fn pass(&self) {
        let abandoned = Duration::from_secs(muster_store::idempotency::ABANDONED_AFTER_SECS.unsigned_abs());
        let batch: Vec<Pending> = self.lock().drain(..).collect();
        let mut keep = Vec::new();
        let mut down = false;
        for mut p in batch {
            if p.claimed_at.elapsed() >= abandoned {
                continue;
            }
            if down {
                keep.push(p);
                continue;
            }
            match self.store.idempotency_abort(&p.claim).await {
                // still unreachable: the rest wait for the next pass
                Err(_) => {
                    down = true;
                    keep.push(p);
                }
                Ok(true) => tracing::info!("idempotency key released after the database came back"),
                Ok(false) => {
                    if p.answered.get_or_insert_with(Instant::now).elapsed() < LATE_CLAIM {
                        keep.push(p);
                    }
                }
            }
        }
        let mut pending = self.lock();
        for p in keep.into_iter().rev() {
            pending.push_front(p);
        }
    }
}

/// What identifies a request for its key: method, path and body.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update([0]);
    hash.update(path);
    hash.update([0]);
    hash.update(body);
    format!("{:x}", hash.finalize())
}

/// The first request wrote `written` and committed, but its response was never recorded:
/// answer the retry with what was created (201, as the first answer would have been) and
/// record that answer, rather than writing a second time.
async fn recover(st: &AppState, key: &IdempotencyKey, written: &str) -> Response {
    let lost = || {
        ApiError::conflict(format!(
            "the first request with this Idempotency-Key was applied ({written}) but its answer was lost and \
             cannot be rebuilt; read what it wrote instead of retrying"
        ))
        .into_response()
    };
    let Some((body, version)) = current_row(st, written).await else { return lost() };
    let etag = crate::extract::etag(version);
    let stored = StoredResponse {
        status: StatusCode::CREATED.as_u16(),
        headers: vec![
            (header::CONTENT_TYPE.to_string(), "application/json".to_owned()),
            (header::LOCATION.to_string(), written.to_owned()),
            (header::ETAG.to_string(), etag),
        ],
        body,
    };
    if let Err(e) = st.store.idempotency_complete(key, &stored).await {
        tracing::warn!(error = %e, "could not record a recovered idempotent response");
    }
    replay(&stored)
}

/// The row at `/v1/{collection}/{id}` as the API shows it, and its version.
async fn current_row(st: &AppState, path: &str) -> Option<(String, i64)> {
    let (collection, id) = path.strip_prefix("/v1/")?.split_once('/')?;
    let id = uuid::Uuid::parse_str(id).ok()?;
    let s = &*st.store;
    let json = |v: serde_json::Result<String>| v.ok();
    match collection {
        "candidates" => {
            s.get_candidate(id).await.ok().and_then(|r| Some((json(serde_json::to_string(&r))?, r.version)))
        }
        "volunteers" => {
            s.get_volunteer(id).await.ok().and_then(|r| Some((json(serde_json::to_string(&r))?, r.version)))
        }
        "events" => s.get_event(id).await.ok().and_then(|r| Some((json(serde_json::to_string(&r))?, r.version))),
        "attendances" => {
            s.get_attendance(id).await.ok().and_then(|r| Some((json(serde_json::to_string(&r))?, r.version)))
        }
        _ => None,
    }
}

fn replay(stored: &StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, stored.body.clone()).into_response();
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            resp.headers_mut().insert(n, v);
        }
    }
    resp.headers_mut().insert(IDEMPOTENT_REPLAYED.clone(), HeaderValue::from_static("true"));
    resp
}
