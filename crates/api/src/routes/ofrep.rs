//! The OpenFeature Remote Evaluation Protocol (OFREP), so any OpenFeature SDK with an OFREP
//! provider reads Muster's flags: `POST /ofrep/v1/evaluate/flags/{key}`, the bulk
//! `POST /ofrep/v1/evaluate/flags` (with `ETag`/`If-None-Match` for polling web clients),
//! and `GET /ofrep/v1/configuration`.
//!
//! These paths are outside `/v1`, so the router mounts them behind the same gate with the
//! `read` scope (see `gate::needed_scope`): a token, a rate budget and its headers, like
//! every other call. Bodies and errors follow the OFREP schema, not problem+json, because
//! SDKs parse them: `{key, value, reason, variant, metadata}` on success,
//! `{key, errorCode, errorDetails}` on failure (400 `PARSE_ERROR`, `INVALID_CONTEXT`,
//! `TARGETING_KEY_MISSING`; 404 `FLAG_NOT_FOUND`). 401, 403 and 429 come from the gate.
//!
//! The subject is `context.targetingKey`; when a request has none, the caller's own token
//! `sub`, so a browser app calling with its user's token needs no context at all and gets
//! the same answers as `GET /v1/flags`. An empty `targetingKey` is `TARGETING_KEY_MISSING`.

use crate::AppState;
use crate::flags::{Evaluated, Lookup};
use crate::principal::Principal;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use muster_domain::flag::parse_subject;
use serde_json::{Value, json};

/// What a request's context says about the subject, or the OFREP error it earns.
fn subject(body: &[u8], caller: &Principal) -> Result<String, (&'static str, String)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(caller.subject.clone());
    }
    let parsed: Value =
        serde_json::from_slice(body).map_err(|e| ("PARSE_ERROR", format!("the body is not valid JSON: {e}")))?;
    let Value::Object(request) = parsed else {
        return Err(("PARSE_ERROR", "the body must be a JSON object like {\"context\": {...}}".into()));
    };
    let context = match request.get("context") {
        None => return Ok(caller.subject.clone()),
        Some(Value::Object(c)) => c,
        Some(_) => return Err(("INVALID_CONTEXT", "context must be an object".into())),
    };
    match context.get("targetingKey") {
        None => Ok(caller.subject.clone()),
        Some(Value::String(k)) if k.trim().is_empty() => {
            Err(("TARGETING_KEY_MISSING", "context.targetingKey is empty".into()))
        }
        Some(Value::String(k)) => {
            parse_subject(k).map(str::to_owned).map_err(|m| ("INVALID_CONTEXT", format!("context.targetingKey {m}")))
        }
        Some(_) => Err(("INVALID_CONTEXT", "context.targetingKey must be a string".into())),
    }
}

fn success(e: &Evaluated) -> Value {
    let metadata = match e.version {
        Some(v) => json!({"version": v}),
        None => json!({}),
    };
    json!({"key": e.key, "value": e.value, "reason": e.reason, "variant": e.variant, "metadata": metadata})
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, Json(body)).into_response()
}

/// A body that could not be read (too large, cut off) is a parse error in OFREP's terms.
fn unreadable(r: &BytesRejection) -> (&'static str, String) {
    ("PARSE_ERROR", format!("the body could not be read: {}", r.body_text()))
}

fn not_loaded() -> Response {
    let mut resp = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"errorDetails": "feature flags are not loaded yet (the store has not answered); retry shortly"}),
    );
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// `POST /ofrep/v1/evaluate/flags/{key}`.
async fn evaluate_one(
    State(st): State<AppState>,
    Path(key): Path<String>,
    Extension(caller): Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let subject = body.as_ref().map_err(unreadable).and_then(|b| subject(b, &caller));
    let subject = match subject {
        Ok(s) => s,
        Err((code, details)) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"key": key, "errorCode": code, "errorDetails": details}),
            );
        }
    };
    match st.flags.evaluate(&key, &subject).await {
        Lookup::Found(e) => json_response(StatusCode::OK, &success(&e)),
        Lookup::NotFound => json_response(
            StatusCode::NOT_FOUND,
            &json!({"key": key, "errorCode": "FLAG_NOT_FOUND", "errorDetails": format!("no flag {key:?}")}),
        ),
        Lookup::NotLoaded => not_loaded(),
    }
}

/// `POST /ofrep/v1/evaluate/flags`: every flag for the context. The ETag digests the
/// answer, so a client polling with `If-None-Match` gets 304 until something it would see
/// changes.
async fn evaluate_all(
    State(st): State<AppState>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let subject = match body.as_ref().map_err(unreadable).and_then(|b| subject(b, &caller)) {
        Ok(s) => s,
        Err((code, details)) => {
            return json_response(StatusCode::BAD_REQUEST, &json!({"errorCode": code, "errorDetails": details}));
        }
    };
    let Some(all) = st.flags.evaluate_all(&subject).await else { return not_loaded() };
    let body = json!({"flags": all.iter().map(success).collect::<Vec<_>>()});
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let tag = format!("\"o{}\"", crate::cache::short_hash(&bytes));
    let mut resp = if crate::extract::not_modified(headers.get(header::IF_NONE_MATCH), &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&tag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    resp
}

/// `GET /ofrep/v1/configuration`: what providers may assume (polling supported, how often
/// it is worth it, the value types served).
async fn configuration() -> Json<Value> {
    Json(json!({
        "name": "muster",
        "capabilities": {
            "cacheInvalidation": {"polling": {"enabled": true, "minPollingIntervalMs": 1000}},
            "flagEvaluation": {"supportedTypes": ["boolean", "string"]}
        }
    }))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(evaluate_one))
        .route("/ofrep/v1/evaluate/flags", post(evaluate_all))
        .route("/ofrep/v1/configuration", get(configuration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Scope, Scopes};

    fn caller() -> Principal {
        Principal { subject: "tok-sub".into(), scopes: Scopes::of(&[Scope::Read]), candidates: None }
    }

    #[test]
    fn the_subject_comes_from_the_context_or_the_token() {
        let c = caller();
        assert_eq!(subject(b"", &c).unwrap(), "tok-sub");
        assert_eq!(subject(b"{}", &c).unwrap(), "tok-sub");
        assert_eq!(subject(br#"{"context": {}}"#, &c).unwrap(), "tok-sub");
        assert_eq!(subject(br#"{"context": {"targetingKey": "user-7", "plan": "pro"}}"#, &c).unwrap(), "user-7");
        for (body, code) in [
            (&b"{nope"[..], "PARSE_ERROR"),
            (b"[1]", "PARSE_ERROR"),
            (br#"{"context": 3}"#, "INVALID_CONTEXT"),
            (br#"{"context": null}"#, "INVALID_CONTEXT"),
            (br#"{"context": {"targetingKey": null}}"#, "INVALID_CONTEXT"),
            (br#"{"context": {"targetingKey": 7}}"#, "INVALID_CONTEXT"),
            (br#"{"context": {"targetingKey": "a\u0000b"}}"#, "INVALID_CONTEXT"),
            (br#"{"context": {"targetingKey": "  "}}"#, "TARGETING_KEY_MISSING"),
        ] {
            assert_eq!(subject(body, &c).unwrap_err().0, code, "{}", String::from_utf8_lossy(body));
        }
    }
}
