//! `/v1/admin/rate-limits`: give a principal its own rate limit without a restart.
//! `/v1/admin/audit`: the audit trail of personal data ([`crate::audit`]).
//! Needs the `admin` scope (the gate checks it for every `/v1/admin` path).

use crate::AppState;
use crate::extract::{JsonObject, Query};
use crate::limits::quota_of;
use crate::principal::Principal;
use crate::problem::{ApiError, ApiResult};
use crate::ratelimit::Quota;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Json, Router};
use muster_domain::ValidationErrors;
use muster_domain::input::{Fields, int_in, string};
use muster_store::{AuditQuery, RateLimitOverride};
use serde_json::{Value, json};

fn view(o: &RateLimitOverride) -> Value {
    let quota = quota_of(o);
    json!({
        "subject": o.subject,
        "limit": o.limit,
        "period_seconds": o.period_ms as f64 / 1000.0,
        "burst": o.burst,
        "policy": quota.map(|q| q.policy_header("default")),
        "updated_by": o.updated_by,
        "updated_at": o.updated_at,
    })
}

async fn list(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = st.store.list_rate_limits().await?;
    Ok(Json(json!({"data": rows.iter().map(view).collect::<Vec<_>>(), "next_cursor": null})))
}

fn subject(raw: &str) -> ApiResult<String> {
    if raw.is_empty() || raw.len() > 256 || raw.chars().any(char::is_control) {
        return Err(ApiError::not_found("a subject is 1 to 256 printable characters"));
    }
    Ok(raw.to_owned())
}

/// `PUT /v1/admin/rate-limits/{subject}` with `{"rate": "1000/min", "burst": 200}`
/// (burst optional, default the rate's count).
async fn put(
    State(st): State<AppState>,
    Path(raw): Path<String>,
    Extension(caller): Extension<Principal>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let subject = subject(&raw)?;
    let mut f = Fields::new(&body, &["rate", "burst"]);
    let rate = f.required("rate", |v| Quota::parse(string(v)?));
    let burst = f.optional("burst", |v| int_in(v, 1, 1_000_000_000));
    f.finish(|| ())?;
    let mut quota = rate.ok_or_else(|| ApiError::validation(ValidationErrors::single("rate", "is required")))?;
    if let Some(b) = burst {
        quota = quota.with_burst(u32::try_from(b).expect("bounded"));
    }
    let o = RateLimitOverride {
        subject,
        limit: i64::from(quota.limit),
        period_ms: i64::try_from(quota.period.as_millis()).unwrap_or(i64::MAX),
        burst: i64::from(quota.burst),
        updated_by: caller.subject,
        updated_at: muster_domain::now_micros(),
    };
    st.store.put_rate_limit(&o).await?;
    reload(&st).await;
    Ok(Json(view(&o)))
}

async fn delete(State(st): State<AppState>, Path(raw): Path<String>) -> ApiResult<StatusCode> {
    let subject = subject(&raw)?;
    st.store.delete_rate_limit(&subject).await.map_err(|e| match e {
        muster_store::StoreError::NotFound { .. } => ApiError::not_found(format!(
            "no rate-limit override for subject {subject:?}; GET /v1/admin/rate-limits lists them"
        )),
        other => other.into(),
    })?;
    reload(&st).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies a change on this instance now; the others pick it up on their next reload.
async fn reload(st: &AppState) {
    if let Err(e) = st.limits.reload(&*st.store).await {
        tracing::warn!(error = %e, "rate-limit overrides saved but not reloaded here yet");
    }
}

/// `GET /v1/admin/audit?sub=&volunteer_id=&from=&to=&limit=&cursor=`: the audit trail of
/// personal data, newest first.
async fn audit(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref(), &["sub", "volunteer_id", "from", "to"])?;
    let query = AuditQuery {
        subject: q.text("sub"),
        volunteer_id: q.uuid("volunteer_id"),
        from: q.timestamp("from"),
        to: q.timestamp("to"),
        page: q.page(),
    };
    q.finish()?;
    Ok(crate::resource::page_body(st.store.list_audit(&query).await?))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/audit", get(audit))
        .route("/v1/admin/rate-limits", get(list))
        .route("/v1/admin/rate-limits/{subject}", axum::routing::put(put).delete(delete))
}
