//! Muster's HTTP API.
//!
//! [`build_router`] is the one route table; any runtime (the `muster serve` listener, a
//! Lambda adapter, tests calling `oneshot`) serves the same router. Handlers parse input
//! into domain types at the edge, call the [`Store`], and answer with JSON or a problem;
//! the layers around them give every response a request id, a build header, a time limit,
//! and a problem body even when a handler panics.

pub mod access;
pub mod access_log;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod cache;
pub mod csv;
pub mod edge;
pub use edge::{HEADER_LIMIT, IMPORT_TIMEOUT};
pub mod extract;
pub mod flags;
pub mod gate;
pub mod idempotency;
pub mod json;
pub mod limits;
pub mod list_format;
pub mod metrics;
pub mod openapi;
pub mod principal;
pub mod problem;
pub mod problem_types;
pub mod ratelimit;
pub mod redact;
pub mod redis_link;
pub mod request_id;
pub mod resource;
pub mod routes;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use muster_store::Store;
use problem::ApiError;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use auth::Authenticator;
pub use limits::Limits;

/// A hash map for the per-request lookups (verified tokens, rate-limit buckets, quota
/// overrides). A cached GET makes several such lookups, some keyed by a whole token, and
/// std's SipHash showed in its profile; foldhash (randomly seeded per map, its `quality`
/// variant) is much cheaper. The keys are verified tokens and subjects, or client
/// addresses, not arbitrary attacker-chosen strings.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;

/// Largest request body accepted (JSON); larger is refused with 413 before it is read.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Largest batch body: 1000 events with long descriptions fit.
pub const BATCH_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The body limit of a path: batch calls carry many rows.
pub fn body_limit_for(path: &str) -> usize {
    if path.ends_with("/batch") { BATCH_BODY_LIMIT } else { BODY_LIMIT }
}

/// Which build is running; shown by `/version` and the `X-Muster-Build` header.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: &'static str,
    /// The build number: commits in the history, or `MUSTER_BUILD_NUMBER`.
    pub build: String,
    pub commit: String,
}

impl BuildInfo {
    /// `0.1.0+412.1a2b3c4`: the `X-Muster-Build` header and the audit trail's `build`.
    pub fn label(&self) -> String {
        format!("{}+{}.{}", self.version, self.build, self.commit)
    }

    fn header(&self) -> HeaderValue {
        HeaderValue::from_str(&self.label()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    }
}

/// What handlers share: one pointer, so the per-request clones that middleware makes
/// cost one atomic increment, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl std::ops::DerefMut for AppState {
    /// Configuration happens once, before the router holds the state.
    fn deref_mut(&mut self) -> &mut Shared {
        Arc::get_mut(&mut self.0).expect("AppState is configured before it is shared")
    }
}

/// The fields of [`AppState`].
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub build: Arc<BuildInfo>,
    /// Set on SIGTERM: `/ready` answers 503 so load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
    /// A request running longer than this gets a 503 problem.
    pub request_timeout: Duration,
    pub auth: Arc<Authenticator>,
    pub limits: Arc<Limits>,
    /// Browser origins allowed to call the API (CORS); empty means none.
    pub cors_origins: Arc<Vec<HeaderValue>>,
    /// Most operations in one batch call.
    pub batch_max: usize,
    /// Batch calls processed at once; the others wait (see [`batch::handle`]).
    pub batch_slots: Arc<tokio::sync::Semaphore>,
    /// Cached responses (none, in process, or Redis).
    pub cache: Arc<cache::Cache>,
    /// What this app counts; served on the admin listener (`metrics::admin_router`).
    pub metrics: Arc<metrics::Metrics>,
    /// How client error reports are limited and kept.
    pub client_reports: routes::client_errors::ClientReportPolicy,
    /// Feature flags, held in memory and evaluated per caller.
    pub flags: Arc<flags::Flags>,
    /// The audit trail of personal data, written off the request path.
    pub audit: Arc<audit::AuditLog>,
    /// Idempotency claims to release when the database answers again.
    pub releases: Arc<idempotency::Releases>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, build: BuildInfo, auth: Authenticator, limits: Limits) -> Self {
        let metrics = Arc::new(metrics::Metrics::new(&build));
        let flags = Arc::new(flags::Flags::new(store.clone(), metrics.clone()));
        let audit =
            Arc::new(audit::AuditLog::new(store.clone(), metrics.clone(), audit::DEFAULT_RETENTION, build.label()));
        let releases = idempotency::Releases::new(store.clone());
        AppState(Arc::new(Shared {
            store,
            releases,
            build: Arc::new(build),
            draining: Arc::new(AtomicBool::new(false)),
            request_timeout: Duration::from_secs(30),
            auth: Arc::new(auth),
            limits: Arc::new(limits),
            cors_origins: Arc::new(Vec::new()),
            batch_max: batch::DEFAULT_BATCH_MAX,
            batch_slots: Arc::new(tokio::sync::Semaphore::new(batch::DEFAULT_BATCH_CONCURRENCY)),
            cache: Arc::new(cache::Cache::none()),
            metrics,
            client_reports: routes::client_errors::ClientReportPolicy::default(),
            flags,
            audit,
        }))
    }
}

/// The whole API as one router.
pub fn build_router(state: AppState) -> Router {
    build_router_with(state, Router::new())
}

/// The API with `extra` routes served inside the same layers (request id, access log,
/// panic handling); tests mount handlers that misbehave on purpose this way.
pub fn build_router_with(state: AppState, extra: Router<AppState>) -> Router {
    let edge = edge::Edge::new(state.clone(), state.build.header(), cors(&state.cors_origins));
    // the edge puts the /v1 routes, and OFREP's (outside /v1: its paths are the protocol's),
    // behind the gate (gate::for_route)
    Router::new()
        .merge(routes::ops::router())
        .merge(routes::docs::router())
        .merge(routes::candidates::router())
        .merge(routes::volunteers::router())
        .merge(routes::events::router())
        .merge(routes::attendances::router())
        .merge(routes::admin::router())
        .merge(routes::client_errors::router())
        .merge(routes::flags::router())
        .merge(routes::ofrep::router())
        .merge(extra)
        .fallback(|| async { ApiError::not_found("no route matches this path; see /openapi.json") })
        .method_not_allowed_fallback(|method: Method, uri: axum::http::Uri| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                format!("{method} is not allowed on {}; the Allow header lists the methods it takes", uri.path()),
            )
        })
        .layer(edge)
        .with_state(state)
}

/// CORS for the configured origins only; with none configured no CORS headers are sent
/// and browsers keep other sites' pages out. The edge applies it per request
/// ([`edge`], step 6), so everything it holds is cheap to clone: the origins are shared.
fn cors(origins: &Arc<Vec<HeaderValue>>) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins = origins.clone();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| origins.contains(origin)))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                idempotency::IDEMPOTENCY_KEY.clone(),
                request_id::X_REQUEST_ID.clone(),
            ])
            .expose_headers([
                header::LOCATION,
                header::ETAG,
                header::RETRY_AFTER,
                gate::RATELIMIT.clone(),
                gate::RATELIMIT_POLICY.clone(),
                request_id::X_REQUEST_ID.clone(),
            ])
            .max_age(Duration::from_secs(600)),
    )
}
