//! Request ids and the headers every response carries.
//!
//! The id is the client's `X-Request-Id` when it sent a sane one, else a fresh UUIDv7.
//! Sane: short, printable, and with nothing scrubbing would mask (no email, phone number or
//! credential), so every log line can write it as it is.
//! It lives in a task-local for the request's lifetime so that error bodies and log
//! lines can name it without threading it through every function.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static X_MUSTER_BUILD: HeaderName = HeaderName::from_static("x-muster-build");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id (for work moved to another task).
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The current request's id, when called while serving one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Calls `f` with the current request's id, without copying it.
pub fn with_current<R>(f: impl FnOnce(Option<&str>) -> R) -> R {
    let mut f = Some(f);
    match REQUEST_ID.try_with(|id| f.take().map(|f| f(Some(id)))) {
        Ok(Some(r)) => r,
        // not serving a request (`f` was not called)
        _ => f.take().map(|f| f(None)).expect("called once"),
    }
}

/// Client ids are echoed only when short and printable, so they cannot inject log lines,
/// and when scrubbing would leave them as they are, so they carry no personal data or
/// secret into the logs (and the logs need not scrub them).
fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    let clean = ok && matches!(crate::redact::scrub(s), std::borrow::Cow::Borrowed(_));
    clean.then(|| s.to_owned())
}

/// Assigns the request's id (the client's when acceptable, else a fresh UUIDv7); returns it
/// as text and as the header value the response will carry. The code below reads it from
/// the task-local ([`current`]), not from the request's headers, so they are left as sent.
pub fn assign(req: &Request) -> (String, HeaderValue) {
    let id = req.headers().get(&X_REQUEST_ID).and_then(acceptable).unwrap_or_else(|| {
        // encoded straight into a buffer: `to_string` goes through the formatting machinery
        uuid::Uuid::now_v7().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned()
    });
    let value = HeaderValue::from_str(&id).expect("checked printable ASCII");
    (id, value)
}

/// Stamps the id and the build on a response.
pub fn stamp(resp: &mut Response, id: HeaderValue, build: HeaderValue) {
    resp.headers_mut().insert(X_REQUEST_ID.clone(), id);
    resp.headers_mut().insert(X_MUSTER_BUILD.clone(), build);
}
