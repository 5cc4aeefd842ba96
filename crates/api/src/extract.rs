//! Extractors that fail with problem+json instead of axum's plain-text rejections, so a
//! malformed body, a bad id or a stray query parameter gets the same error shape as
//! everything else.

use crate::problem::{ApiError, ApiResult};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use muster_domain::{FieldError, parse_timestamp};
use muster_store::{Cursor, DEFAULT_LIMIT, MAX_LIMIT, Page};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A request body that is a JSON object, of at most [`crate::BODY_LIMIT`] bytes.
pub struct JsonObject(pub Map<String, Value>);

/// `application/json`, or any `application/*+json`, with or without parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> ApiResult<Self> {
        read_object(req, crate::BODY_LIMIT).await
    }
}

/// Reads a JSON object body of at most `limit` bytes: 415 for another content type, 413
/// when too large (before reading, when the length is declared), 400 when unreadable.
pub async fn read_object(req: Request, limit: usize) -> ApiResult<JsonObject> {
    parse_object(&read_json(req, limit).await?)
}

/// Reads a JSON body of at most `limit` bytes without parsing it: 415 for another content
/// type, 413 when too large (before reading, when the length is declared), 400 when unreadable.
pub async fn read_json(req: Request, limit: usize) -> ApiResult<axum::body::Bytes> {
    if !is_json(req.headers()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    refuse_oversized(req.headers(), limit)?;
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| unreadable_body(&e, limit))
}

/// The problem for a body that could not be read to its end: larger than `limit` (413), stalled
/// for longer than the server waits between two reads of it (408, `MUSTER_BODY_READ_TIMEOUT`:
/// the server wraps bodies in tower-http's `TimeoutBody`), or cut off (400).
pub fn unreadable_body(e: &axum::Error, limit: usize) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return body_too_large(limit);
        }
        if c.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                "Request body timed out",
                "the body stopped arriving before its end; send it again on a new connection",
            );
        }
        cause = c.source();
    }
    ApiError::bad_request("the request body could not be read")
}

/// Refuses a body whose declared length is over the limit before reading any of it, so a
/// client that announces gigabytes is answered at once instead of after the upload.
pub fn refuse_oversized(headers: &HeaderMap, limit: usize) -> ApiResult<()> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(body_too_large(limit)),
        _ => Ok(()),
    }
}

pub fn body_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        "Request body too large",
        format!("the body is larger than the {} KiB limit", limit / 1024),
    )
}

/// Parses bytes as a JSON object, with the parser's position in the message.
pub fn parse_object(bytes: &[u8]) -> ApiResult<JsonObject> {
    let value: Value = serde_json::from_slice(bytes).map_err(malformed)?;
    match value {
        Value::Object(m) => Ok(JsonObject(m)),
        other => Err(ApiError::validation(muster_domain::ValidationErrors::single(
            "(body)",
            format!("must be a JSON object, not {}", muster_domain::input::kind(&other)),
        ))),
    }
}

/// The 400 for a body the JSON parser refused, with its position.
pub fn malformed(e: serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed-json",
        "Malformed JSON",
        format!("the body is not valid JSON: {e}"),
    )
}

/// The `{id}` in a path, as a UUID. A malformed id names no resource, so it is a 404.
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such resource"))?;
        Uuid::parse_str(&raw)
            .map(Id)
            .map_err(|_| ApiError::not_found(format!("{raw:?} is not an id this API issued (ids are UUIDs)")))
    }
}

/// The strong ETag for a row version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The version named by `If-Match`: absent or `*` means "any".
///
/// A header that is not `*` or a list of entity tags is a malformed request (400); well-formed
/// tags that name no version of ours simply do not match (412).
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(raw) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let s = raw.to_str().unwrap_or("").trim();
    if s == "*" {
        return Ok(None);
    }
    let tags = entity_tags(s)
        .ok_or_else(|| ApiError::bad_request("If-Match must be * or a comma-separated list of ETags like \"v3\""))?;
    tags.iter()
        .filter(|(weak, _)| !weak)
        .find_map(|(_, tag)| tag.strip_prefix('v')?.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                "If-Match must hold an ETag this API issued, like \"v3\" (weak ETags never match)",
            )
        })
}

/// Parses `W/"a", "b"` into (weak, opaque) pairs; `None` when it is not an entity-tag list
/// (RFC 9110 §8.8.3).
pub fn entity_tags(s: &str) -> Option<Vec<(bool, &str)>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let (weak, quoted) = match part.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, part),
        };
        let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80) {
            return None;
        }
        out.push((weak, inner));
    }
    Some(out)
}

/// The request's `If-None-Match`, the one header a cached read answers to. Taking the
/// whole `HeaderMap` as an extractor clones every header of every read.
pub struct IfNoneMatch(pub Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

/// Whether `If-None-Match` already names this ETag (weak comparison, as RFC 9110 says
/// for `If-None-Match`).
pub fn not_modified(if_none_match: Option<&HeaderValue>, tag: &str) -> bool {
    if_none_match.and_then(|v| v.to_str().ok()).is_some_and(|s| {
        s.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t == tag || t.strip_prefix("W/") == Some(tag)
        })
    })
}

/// Query parameters read one by one, every problem collected; unknown names are refused
/// so a typo (`?candidate=`) is an error instead of a silently unfiltered list.
pub struct Query {
    pairs: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

/// Parameters every list accepts.
pub const LIST_PARAMS: &[&str] = &["limit", "cursor", "updated_since", "ids"];

impl Query {
    pub fn parse(raw: Option<&str>, known: &[&str]) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|_| ApiError::bad_request("the query string is not valid URL encoding"))?;
        let mut errors = Vec::new();
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !known.contains(&k.as_str()) && !LIST_PARAMS.contains(&k.as_str()) {
                let mut all: Vec<&str> = known.to_vec();
                all.extend_from_slice(LIST_PARAMS);
                errors
                    .push(FieldError::new(k, format!("is not a parameter here; expected one of: {}", all.join(", "))));
            } else if pairs[..i].iter().any(|(p, _)| p == k) {
                errors.push(FieldError::new(k, "is given more than once"));
            }
        }
        Ok(Query { pairs, errors })
    }

    /// Whether the query names `name`.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The parameter parsed with `parse`; a failure is recorded under its name.
    pub fn get<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let raw = self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())?;
        match parse(raw) {
            Ok(v) => Some(v),
            Err(m) => {
                self.errors.push(FieldError::new(name, m));
                None
            }
        }
    }

    pub fn uuid(&mut self, name: &str) -> Option<Uuid> {
        self.get(name, |s| Uuid::parse_str(s).map_err(|_| "must be a UUID".to_owned()))
    }

    pub fn text(&mut self, name: &str) -> Option<String> {
        self.get(name, |s| {
            let s = s.trim();
            if s.is_empty() || s.len() > 320 { Err("must be 1 to 320 characters".into()) } else { Ok(s.to_owned()) }
        })
    }

    pub fn timestamp(&mut self, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.get(name, parse_timestamp)
    }

    /// `ids`: up to [`MAX_LIMIT`] comma-separated UUIDs (a batch GET).
    pub fn ids(&mut self) -> Option<Vec<Uuid>> {
        self.get("ids", |s| {
            let ids: Result<Vec<Uuid>, String> = s
                .split(',')
                .map(|x| Uuid::parse_str(x.trim()).map_err(|_| format!("{:?} is not a UUID", x.trim())))
                .collect();
            match ids {
                Ok(v) if v.is_empty() || v.len() > MAX_LIMIT as usize => {
                    Err(format!("must list 1 to {MAX_LIMIT} comma-separated ids"))
                }
                other => other,
            }
        })
    }

    /// `limit` and `cursor`.
    pub fn page(&mut self) -> Page {
        let limit = self
            .get("limit", |s| match s.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(format!("must be a whole number from 1 to {MAX_LIMIT}")),
            })
            .unwrap_or(DEFAULT_LIMIT);
        let after = self.get("cursor", Cursor::decode).map(|c| c.0);
        Page { limit, after }
    }

    pub fn finish(self) -> ApiResult<()> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::bad_query(self.errors)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"v3\""));
        assert_eq!(if_match(&h).unwrap(), Some(3));
        h.insert(header::IF_MATCH, HeaderValue::from_static("W/\"v3\""));
        assert_eq!(if_match(&h).unwrap_err().status, StatusCode::PRECONDITION_FAILED, "weak tags never match");
        h.insert(header::IF_MATCH, HeaderValue::from_static("\"x\", \"v7\""));
        assert_eq!(if_match(&h).unwrap(), Some(7));
        for junk in ["", "v3", "\"v3", "\"a\"b\"", "W/v3"] {
            h.insert(header::IF_MATCH, HeaderValue::from_str(junk).unwrap());
            assert_eq!(if_match(&h).unwrap_err().status, StatusCode::BAD_REQUEST, "{junk:?}");
        }
        h.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&h).unwrap(), None);
    }

    #[test]
    fn query_refuses_unknown_and_repeated() {
        let mut q = Query::parse(Some("limit=500&limit=2&colour=red&cursor=zzz"), &["status"]).unwrap();
        let _ = q.page();
        let err = q.finish().unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "colour", "limit", "cursor"]);
    }
}
