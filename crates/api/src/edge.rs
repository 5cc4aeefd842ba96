//! The one middleware around every route: request id, access line and metrics, header
//! limit, time limit, panic handling, security headers, and running writes to completion.
//!
//! These were eight layers (six here, the body limit, and the gate on `/v1`). Each layer
//! clones the boxed service below it and boxes a future on every request, which a profile of
//! a cached GET put at about a tenth of the server's CPU; as steps of one function they cost
//! nothing of the kind. The order is the layers' order, outermost first:
//!
//! 1. the request id ([`request_id`]): its scope covers everything below, so every line
//!    and problem body names it, and the response carries it and the build;
//! 2. the access log ([`access_log::serve`]): it sees the final status;
//! 3. the header limit: larger headers get 431;
//! 4. the time limit: a request running longer gets a 503 `timeout` problem;
//! 5. [`access_log::detached`]: a panic becomes a 500 problem, and writes run in a task of
//!    their own so a client hanging up cannot cut them off half way;
//! 6. CORS, when browser origins are configured ([`crate::cors`]): a preflight (any `OPTIONS`)
//!    is answered here, before the gate, because browsers send preflights without credentials;
//!    every other response, the gate's refusals included, gets the CORS headers on its way out;
//! 7. for `/v1` and `/ofrep` routes, the gate ([`gate::guard`]): authentication, rate
//!    limit, scope, idempotency keys;
//! 8. the security headers, on whatever comes back.
//!
//! CORS is a step here rather than a layer around the router so that preflights, like every
//! other response, carry the request id, the build and the security headers and have their
//! access line.
//!
//! The edge is applied to every route (`Router::layer`), so it runs after routing and knows
//! the matched route; the gate is a step here rather than a layer on the `/v1` routes for the
//! same reason as above.

use crate::problem::ApiError;
use crate::{AppState, access_log, gate, request_id};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower_http::cors::CorsLayer;

/// Largest total size of request headers; larger gets 431.
pub const HEADER_LIMIT: usize = 16 * 1024;

/// How long a CSV import may stream: a 50 MB upload on a slow link takes minutes.
pub const IMPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// What the edge needs: the app, its build header and its CORS policy, made once. As a tower
/// layer it wraps each route (`Router::layer`).
#[derive(Clone)]
pub struct Edge(Arc<Parts>);

struct Parts {
    state: AppState,
    build: HeaderValue,
    /// `None` when no browser origin is allowed: no CORS headers at all.
    cors: Option<CorsLayer>,
}

impl Edge {
    pub fn new(state: AppState, build: HeaderValue, cors: Option<CorsLayer>) -> Self {
        Edge(Arc::new(Parts { state, build, cors }))
    }
}

/// The rest of the request below the edge: the matched route's handler.
pub struct Next(Route);

impl Next {
    pub async fn run(self, req: Request) -> Response {
        use tower::ServiceExt;
        match self.0.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    }
}

impl tower::Layer<Route> for Edge {
    type Service = EdgeService;

    fn layer(&self, route: Route) -> EdgeService {
        EdgeService { edge: self.clone(), route }
    }
}

/// A route behind the edge. Its own service rather than `axum::middleware::from_fn`, which
/// on every request also boxed the route a second time and mapped its response through
/// two more layers.
#[derive(Clone)]
pub struct EdgeService {
    edge: Edge,
    route: Route,
}

impl tower::Service<Request> for EdgeService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower::Service::<Request>::poll_ready(&mut self.route, cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // the route that was polled ready serves this request; a clone stays for the next
        let route = self.route.clone();
        let next = Next(std::mem::replace(&mut self.route, route));
        Box::pin(serve(self.edge.clone(), req, next))
    }
}

/// The edge's work on one request (see the module documentation for what, in which order).
async fn serve(edge: Edge, req: Request, next: Next) -> Result<Response, Infallible> {
    let Parts { state: st, build, cors } = &*edge.0;
    let (id, id_header) = request_id::assign(&req);
    let mut resp = request_id::scope(
        id,
        access_log::serve(st, req, |req| async move {
            let resp = match oversized_headers(&req) {
                Some(refused) => refused,
                None => {
                    let limit = time_limit(st.request_timeout, &req);
                    let gated = gate::for_route(req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
                    let run = |req| pass(st.clone(), req, next, gated, cors.clone());
                    // boxed: the handler's future is kilobytes, and unboxed it would be copied
                    // with every future wrapped around it (the time limit, the access log,
                    // the request id, the middleware's own box)
                    match tokio::time::timeout(limit, Box::pin(access_log::detached(req, run))).await {
                        Ok(resp) => resp,
                        Err(_) => timed_out(limit),
                    }
                }
            };
            harden(resp)
        }),
    )
    .await;
    request_id::stamp(&mut resp, id_header, build.clone());
    Ok(resp)
}

/// The handler, behind CORS when it is configured and behind the gate when the route has one
/// (see [`gate::for_route`]).
async fn pass(st: AppState, req: Request, next: Next, gated: Option<bool>, cors: Option<CorsLayer>) -> Response {
    use tower::{Layer, ServiceExt};
    let Some(cors) = cors else { return guarded(st, req, next, gated).await };
    // CORS calls what it wraps at most once, and not at all for a preflight
    let mut once = Some((st, next));
    let inner = tower::service_fn(move |req: Request| {
        let parts = once.take();
        async move {
            let (st, next) = parts.expect("CORS calls the route once");
            Ok::<_, Infallible>(guarded(st, req, next, gated).await)
        }
    });
    match cors.layer(inner).oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// The handler, behind the gate when the route has one.
async fn guarded(st: AppState, req: Request, next: Next, gated: Option<bool>) -> Response {
    match gated {
        Some(idempotent) => gate::guard(st, req, next, idempotent).await,
        None => next.run(req).await,
    }
}

/// The 431 for headers larger than [`HEADER_LIMIT`] in all.
fn oversized_headers(req: &Request) -> Option<Response> {
    let header_bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    (header_bytes > HEADER_LIMIT).then(|| {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request headers too large",
            format!("the request headers exceed {} KiB", HEADER_LIMIT / 1024),
        )
        .into_response()
    })
}

/// The request's time limit: the configured one, or [`IMPORT_TIMEOUT`] for CSV imports.
fn time_limit(configured: Duration, req: &Request) -> Duration {
    if req.uri().path().ends_with("/import") { configured.max(IMPORT_TIMEOUT) } else { configured }
}

fn timed_out(limit: Duration) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        "Request timed out",
        format!("the request took longer than {} s and was abandoned; retry later", limit.as_secs()),
    )
    .into_response()
}

/// The security headers a JSON API wants: nothing it returns is meant to be rendered,
/// framed, sniffed or sent on as a referrer; nothing is cached unless a route says so.
fn harden(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.entry(name).or_insert(value);
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, NO_STORE);
    }
    resp
}

/// The security headers as constants: `HeaderValue::from_static` checks its bytes when it
/// runs, and in a loop over literals it ran on every response.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")),
    (header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000")),
];

const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
