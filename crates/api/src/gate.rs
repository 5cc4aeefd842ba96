//! The `/v1` gate: authenticate the caller, charge its rate budget, check its scope.
//! OpenFeature's `/ofrep` paths pass it too, needing `read` (evaluating is reading).
//!
//! The budget is charged before the scope check and also for requests whose token is
//! refused (by client address), so guessing tokens costs budget like anything else.
//! Every `/v1` response, refusals included, carries `RateLimit-Policy` and `RateLimit`.

use crate::AppState;
use crate::auth::{AuthError, Scope};
use crate::edge::Next;
use crate::limits::{client_ip, cost_of};
use crate::problem::ApiError;
use crate::ratelimit::Quota;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::cell::RefCell;
use std::net::SocketAddr;

pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The policy name in the RateLimit headers.
const POLICY: &str = "default";

/// The scope a request needs: administration, reading, or changing.
pub fn needed_scope(method: &Method, path: &str) -> Scope {
    if path.starts_with("/v1/admin/") || path == "/v1/admin" {
        Scope::Admin
    } else if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || path.starts_with("/ofrep/") {
        Scope::Read
    } else {
        Scope::Write
    }
}

/// Which gate a matched route passes: `Some(true)` for `/v1` (with idempotency keys),
/// `Some(false)` for `/ofrep` (evaluating a flag writes nothing), `None` for the rest
/// (probes, docs, version, and requests that matched no route).
pub fn for_route(route: Option<&str>) -> Option<bool> {
    let route = route?;
    if route.starts_with("/v1/") {
        Some(true)
    } else if route.starts_with("/ofrep/") {
        Some(false)
    } else {
        None
    }
}

/// Serves `req` behind the gate: authenticated, charged, scope-checked, and for `/v1` a POST
/// that passes is also checked for its `Idempotency-Key` ([`crate::idempotency::layer`]),
/// keyed to the caller the gate authenticated. Called by the edge ([`crate::edge`]) for
/// gated routes rather than being a layer of its own: each layer clones the boxed service
/// below it and boxes a future on every request.
pub async fn guard(st: AppState, mut req: Request, next: Next, idempotent: bool) -> Response {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let auth = st.auth.authenticate(authorization).await;
    let (key, quota) = match &auth {
        Ok(p) => (["sub:", p.subject.as_str()].concat(), st.limits.quota_for(&p.subject)),
        Err(_) => {
            let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
            let xff = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
            let ip = client_ip(peer, xff, &st.limits.trusted_proxies);
            (format!("ip:{}", ip.map_or_else(|| "unknown".to_owned(), |i| i.to_string())), st.limits.default)
        }
    };
    let cost = cost_of(req.method(), req.uri().path());
    let decision = st.limits.limiter.check(&key, &quota, cost).await;
    if let Ok(p) = &auth {
        crate::access_log::note_caller(&p.subject);
    }
    let mut resp = if let Some(secs) = decision.retry_after_secs().filter(|_| !decision.allowed) {
        st.metrics.rate_limited("default");
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("the rate limit for this caller is used up; retry in {secs} s (see the RateLimit headers)"),
        )
        .with_header(header::RETRY_AFTER, &format!("{secs}"))
        .into_response()
    } else {
        match auth {
            Err(e) => {
                st.metrics.auth_failure(e.reason());
                unauthorized(&e)
            }
            Ok(principal) => {
                let needed = needed_scope(req.method(), req.uri().path());
                // reporting a client's own error touches no campaign data: any valid token may
                let open = req.uri().path() == crate::routes::client_errors::PATH;
                if needed == Scope::Admin && principal.candidates.is_some() {
                    // administration is instance-wide (every campaign's limits, flags, audit)
                    st.metrics.auth_failure("insufficient_scope");
                    confined_admin()
                } else if open || principal.scopes.allows(needed) {
                    req.extensions_mut().insert(principal);
                    if idempotent && crate::idempotency::applies(&req) {
                        // boxed: only keyed POSTs take this path, and its future is kilobytes
                        Box::pin(crate::idempotency::layer(State(st.clone()), req, next)).await
                    } else {
                        next.run(req).await
                    }
                } else {
                    st.metrics.auth_failure("insufficient_scope");
                    forbidden(needed, &principal.scopes.names())
                }
            }
        }
    };
    let h = resp.headers_mut();
    if let Some(v) = policy_value(&quota) {
        h.insert(RATELIMIT_POLICY.clone(), v);
    }
    if let Ok(v) = HeaderValue::from_str(&decision.header(POLICY)) {
        h.insert(RATELIMIT.clone(), v);
    }
    resp
}

/// The `RateLimit-Policy` value for `quota`. Nearly every request on a thread has the
/// quota of the one before (the default, or a busy caller's), so each thread keeps the
/// last value it built instead of formatting it per request.
fn policy_value(quota: &Quota) -> Option<HeaderValue> {
    thread_local! {
        static LAST: RefCell<Option<(Quota, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((q, v)) = &*last
            && q == quota
        {
            return Some(v.clone());
        }
        let v = HeaderValue::from_str(&quota.policy_header(POLICY)).ok()?;
        *last = Some((*quota, v.clone()));
        Some(v)
    })
}

fn unauthorized(e: &AuthError) -> Response {
    let (challenge, detail) = match e {
        AuthError::Missing => (
            "Bearer realm=\"muster\"".to_owned(),
            "this call needs a bearer token: send Authorization: Bearer <JWT>".to_owned(),
        ),
        AuthError::Invalid(why) => (
            format!(
                "Bearer realm=\"muster\", error=\"invalid_token\", error_description=\"{}\"",
                why.replace('"', "'")
            ),
            format!("the bearer token was refused: {why}"),
        ),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail)
        .with_header(header::WWW_AUTHENTICATE, &challenge)
        .into_response()
}

fn confined_admin() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient-scope",
        "Insufficient scope",
        "administration spans every campaign: it needs an `admin` token without a `candidates` claim",
    )
    .into_response()
}

fn forbidden(needed: Scope, granted: &str) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient-scope",
        "Insufficient scope",
        format!("this call needs the `{needed}` scope; the token grants: {granted}"),
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        &format!("Bearer realm=\"muster\", error=\"insufficient_scope\", scope=\"{needed}\""),
    )
    .into_response()
}
