//! Feature flags over HTTP: `/v1/admin/flags` to manage them (the gate requires `admin`
//! for every `/v1/admin` path) and `GET /v1/flags` to read them as the caller gets them.
//!
//! Every change goes through the store with the caller's `sub`, which stamps the flag's
//! `updated_by` and writes the audit trail in the same transaction; the handler then
//! reloads this instance's flags and announces the change to the others
//! ([`crate::flags::Flags::changed`]). Flags carry versions like rows do: `ETag` on reads,
//! `If-Match` on changes.

use crate::AppState;
use crate::extract::{JsonObject, Query, etag, if_match, not_modified};
use crate::principal::Principal;
use crate::problem::{ApiError, ApiResult};
use crate::resource::page_body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use muster_domain::ValidationErrors;
use muster_domain::flag::{Flag, FlagKey, FlagPatch, FlagSpec};
use muster_store::FlagChangeQuery;
use serde_json::json;

/// A key from a path: one that cannot exist names no flag (404).
fn key_of(raw: &str) -> ApiResult<FlagKey> {
    FlagKey::parse(raw)
        .map_err(|_| ApiError::not_found(format!("no flag {raw:?} (flag keys are letters, digits, '-', '_', '.')")))
}

/// The flag with its ETag.
fn with_etag(status: StatusCode, flag: &Flag) -> Response {
    let mut resp = (status, Json(flag)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(flag.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// `GET /v1/admin/flags`: every flag, by key (flags are few: one page).
async fn list_flags(State(st): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let flags = st.store.list_flags().await?;
    Ok(Json(json!({"data": flags, "next_cursor": null})))
}

/// `GET /v1/admin/flags/{key}`.
async fn get_flag(State(st): State<AppState>, Path(raw): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    let flag = st.store.get_flag(key_of(&raw)?.as_str()).await?;
    if not_modified(headers.get(header::IF_NONE_MATCH), &etag(flag.version)) {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag(flag.version)).expect("ASCII"));
        return Ok(resp);
    }
    Ok(with_etag(StatusCode::OK, &flag))
}

/// `PUT /v1/admin/flags/{key}`: create (201) or replace (200) the whole flag.
async fn put_flag(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let key = FlagKey::parse(&raw).map_err(|m| ValidationErrors::single("key", m));
    let spec = FlagSpec::from_json(&body);
    let (key, spec) = match (key, spec) {
        (Ok(k), Ok(s)) => (k, s),
        (Err(mut a), Err(b)) => {
            a.0.extend(b.0);
            return Err(a.into());
        }
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let expected = if_match(&headers)?;
    let (flag, created) = st.store.put_flag(&key, spec, expected, &caller.subject).await?;
    st.flags.changed().await;
    if created {
        let mut resp = with_etag(StatusCode::CREATED, &flag);
        if let Ok(v) = HeaderValue::from_str(&format!("/v1/admin/flags/{key}")) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Ok(resp)
    } else {
        Ok(with_etag(StatusCode::OK, &flag))
    }
}

/// `PATCH /v1/admin/flags/{key}`: change some settings (the usual way to move a rollout).
async fn patch_flag(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let key = key_of(&raw)?;
    let patch = FlagPatch::from_json(&body)?;
    let expected = if_match(&headers)?;
    let flag = st.store.update_flag(key.as_str(), patch, expected, &caller.subject).await?;
    st.flags.changed().await;
    Ok(with_etag(StatusCode::OK, &flag))
}

/// `DELETE /v1/admin/flags/{key}`: gone; a declared feature falls back to its default.
async fn delete_flag(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let key = key_of(&raw)?;
    let expected = if_match(&headers)?;
    st.store.delete_flag(key.as_str(), expected, &caller.subject).await?;
    st.flags.changed().await;
    Ok(StatusCode::NO_CONTENT)
}

async fn changes(st: &AppState, key: Option<String>, raw: Option<&str>, params: &[&str]) -> ApiResult<Response> {
    let mut q = Query::parse(raw, params)?;
    let key = key.or_else(|| q.text("key"));
    let page = q.page();
    q.finish()?;
    let listed = st.store.list_flag_changes(&FlagChangeQuery { key, page }).await?;
    Ok(page_body(listed))
}

/// `GET /v1/admin/flag-changes?key=&limit=&cursor=`: the audit trail, newest first.
async fn all_changes(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    changes(&st, None, raw.as_deref(), &["key"]).await
}

/// `GET /v1/admin/flags/{key}/changes`: one flag's history (kept after it is deleted).
async fn flag_changes(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let key = key_of(&raw)?;
    changes(&st, Some(key.to_string()), q.as_deref(), &[]).await
}

/// `GET /v1/flags`: every flag as the caller gets it (stored ones and the server's gated
/// features), with an ETag so a client polling it mostly gets 304s.
async fn my_flags(
    State(st): State<AppState>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(flags) = st.flags.evaluate_all(&caller.subject).await else {
        return Err(ApiError::unavailable("feature flags have not been loaded from the store yet"));
    };
    let body = serde_json::to_vec(&json!({"subject": caller.subject, "flags": flags}))
        .map_err(|e| ApiError::internal(format!("serialising flags: {e}")))?;
    let tag = format!("\"f{}\"", crate::cache::short_hash(&body));
    let mut resp = if not_modified(headers.get(header::IF_NONE_MATCH), &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, crate::resource::APPLICATION_JSON)], body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&tag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, crate::resource::PRIVATE_NO_CACHE);
    Ok(resp)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/flags", get(my_flags))
        .route("/v1/admin/flags", get(list_flags))
        .route("/v1/admin/flags/{key}", get(get_flag).put(put_flag).patch(patch_flag).delete(delete_flag))
        .route("/v1/admin/flags/{key}/changes", get(flag_changes))
        .route("/v1/admin/flag-changes", get(all_changes))
}
