//! The one error response: `application/problem+json` (RFC 9457).
//!
//! Every failure in the API becomes an [`ApiError`]; its body carries `type`, `title`,
//! `status`, `detail`, the request id and, for validation, one `{field, message}` per
//! problem. 5xx bodies say nothing about internals: the cause goes to the log, tagged
//! with the same request id.

use crate::request_id;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::{FieldError, ValidationErrors};
use muster_store::StoreError;
use serde::Serialize;

/// Where `type` URIs point: a section of the error reference served with the API docs.
pub const TYPE_BASE: &str = "/docs/problems#";

/// A problem response; boxed so `Result<T, ApiError>` stays one word wide on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<Problem>);

/// What a problem response says.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable machine-readable kind; the `type` URI is [`TYPE_BASE`] + slug.
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub headers: HeaderMap,
    /// Logged, never sent.
    pub cause: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    type_: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Problem {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            headers: HeaderMap::new(),
            cause: None,
        }))
    }

    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    pub fn validation(errors: ValidationErrors) -> Self {
        let n = errors.0.len();
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid input",
            format!("{n} field{} failed validation; see errors", if n == 1 { "" } else { "s" }),
        );
        e.errors = errors.0;
        e
    }

    /// A problem with the query string (400), listing each offending parameter.
    pub fn bad_query(errors: Vec<FieldError>) -> Self {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "Invalid query parameter",
            "one or more query parameters are not accepted; see errors",
        );
        e.errors = errors;
        e
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        let mut e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "something went wrong on our side; quote the request_id if you report it",
        );
        e.cause = Some(cause.into());
        e
    }

    pub fn unavailable(cause: impl Into<String>) -> Self {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "a dependency is not answering; retry shortly",
        )
        .with_header(header::RETRY_AFTER, "1");
        e.cause = Some(cause.into());
        e
    }
}

impl ApiError {
    /// The problem as a JSON value, for embedding (a batch item's `error`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": format!("{TYPE_BASE}{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
            "errors": self.errors,
        })
    }
}

impl std::ops::Deref for ApiError {
    type Target = Problem;
    fn deref(&self) -> &Problem {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut Problem {
        &mut self.0
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::validation(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => ApiError::not_found(format!("no {entity} with that id")),
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::Invalid(v) => ApiError::validation(v),
            StoreError::PreconditionFailed { entity, expected } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                format!(
                    "the {entity} is not at \"v{expected}\" (the If-Match ETag): it changed since, or never had \
                     that version; GET it for its current ETag, reapply your change and retry"
                ),
            ),
            // the store error's own text ("store unavailable: …") keeps the cause chain whole
            e @ StoreError::Unavailable(_) => ApiError::unavailable(e.to_string()),
            e @ StoreError::Internal(_) => ApiError::internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        let request_id = request_id::current();
        // the access log writes the cause on the request's one line; outside it (a problem
        // built where no request is being logged) the cause would be lost, so log it here
        if let Some(cause) = &this.cause
            && this.status.is_server_error()
            && !crate::access_log::in_request()
        {
            tracing::error!(target: crate::access_log::SERVER_ERROR, kind = "server_error", request_id = request_id.as_deref(),
                            status = this.status.as_u16(), cause = %crate::redact::scrub(cause), "request failed");
        }
        let log =
            crate::access_log::ProblemLog { slug: this.slug, detail: this.detail.clone(), cause: this.cause.clone() };
        let body = Body {
            type_: format!("{TYPE_BASE}{}", this.slug),
            title: this.title,
            status: this.status.as_u16(),
            detail: &this.detail,
            request_id,
            errors: &this.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (this.status, json).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        resp.headers_mut().extend(this.headers);
        resp.extensions_mut().insert(log);
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
