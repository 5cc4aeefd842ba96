//! Muster's HTTP API.
//!
//! [`build_router`] is the one route table; any runtime (the `muster serve` listener, a
//! Lambda adapter, tests calling `oneshot`) serves the same router. Handlers parse input
//! into domain types at the edge, call the [`Store`], and answer with JSON or a problem;
//! the layers around them give every response a request id, a build header, a time limit,
//! and a problem body even when a handler panics.

pub mod extract;
pub mod idempotency;
pub mod principal;
pub mod problem;
pub mod request_id;
pub mod resource;
pub mod routes;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use muster_store::Store;
use problem::ApiError;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;

/// Largest request body accepted (JSON); larger is refused with 413 before it is read.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Which build is running; shown by `/version` and the `X-Muster-Build` header.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: &'static str,
    /// The build number: commits in the history, or `MUSTER_BUILD_NUMBER`.
    pub build: String,
    pub commit: String,
}

impl BuildInfo {
    fn header(&self) -> HeaderValue {
        HeaderValue::from_str(&format!("{}+{}.{}", self.version, self.build, self.commit))
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    }
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub build: Arc<BuildInfo>,
    /// Set on SIGTERM: `/ready` answers 503 so load balancers stop sending traffic.
    pub draining: Arc<AtomicBool>,
    /// A request running longer than this gets a 503 problem.
    pub request_timeout: Duration,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, build: BuildInfo) -> Self {
        AppState {
            store,
            build: Arc::new(build),
            draining: Arc::new(AtomicBool::new(false)),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The whole API as one router.
pub fn build_router(state: AppState) -> Router {
    let v1 = Router::new()
        .merge(routes::candidates::router())
        .merge(routes::volunteers::router())
        .merge(routes::events::router())
        .merge(routes::attendances::router())
        // Authentication and rate limiting attach here, to /v1 only.
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer));
    let timeout = state.request_timeout;
    let build = state.build.header();
    Router::new()
        .merge(routes::ops::router())
        .merge(v1)
        .fallback(|| async { ApiError::not_found("no route matches this path; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this path does not accept that method; the Allow header lists those it does",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_panic| ApiError::internal("handler panicked").into_response()))
        .layer(middleware::from_fn(move |req: Request, next: Next| time_limit(timeout, req, next)))
        .layer(middleware::from_fn(move |req: Request, next: Next| request_id::layer(build.clone(), req, next)))
        .with_state(state)
}

async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            format!("the request took longer than {} s and was abandoned; retry later", limit.as_secs()),
        )
        .into_response(),
    }
}
