//! Operational endpoints, open to everyone: liveness, readiness, version.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long `/ready` waits for the store before calling it down.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`: the process is up and serving. Says nothing about dependencies, so an
/// orchestrator does not restart a healthy process because the database is down.
async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: 200 when the store answers and the server is not draining; else 503, with
/// each check's detail in the body.
async fn ready(State(st): State<AppState>) -> Response {
    let draining = st.draining.load(Ordering::Relaxed);
    let started = Instant::now();
    let store = match tokio::time::timeout(STORE_CHECK_TIMEOUT, st.store.ping()).await {
        Ok(Ok(())) => json!({"status": "up", "backend": st.store.backend(),
                             "latency_ms": started.elapsed().as_secs_f64() * 1000.0}),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: store check failed");
            json!({"status": "down", "backend": st.store.backend(), "error": "the store did not answer the check"})
        }
        Err(_) => json!({"status": "down", "backend": st.store.backend(), "error": "the store check timed out"}),
    };
    let up = store["status"] == "up";
    // Redis is an optimisation, not a dependency: without it each instance limits on its
    // own, so it degrades readiness detail but never readiness itself
    let mut used_for = Vec::new();
    let mut redis = None;
    if let Some(h) = st.limits.limiter.redis_healthy() {
        used_for.push("rate_limit");
        redis = Some(h);
    }
    if let Some(h) = st.cache.redis_healthy() {
        used_for.push("cache");
        redis = Some(redis.unwrap_or(true) && h);
    }
    let (code, status) = match (draining, up) {
        (true, _) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
        (false, false) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (false, true) if redis == Some(false) => (StatusCode::OK, "degraded"),
        (false, true) => (StatusCode::OK, "ready"),
    };
    let mut checks = json!({"store": store, "cache": {"mode": st.cache.mode().as_str()}});
    if let Some(healthy) = redis {
        checks["redis"] = if healthy {
            json!({"status": "up", "used_for": used_for})
        } else {
            json!({"status": "down", "used_for": used_for,
                   "effect": "rate limits are per instance and the cache is bypassed until Redis answers again"})
        };
    }
    (code, Json(json!({"status": status, "draining": draining, "checks": checks}))).into_response()
}

/// `GET /version`: which build is answering.
async fn version(State(st): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"version": st.build.version, "build": st.build.build, "commit": st.build.commit}))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/ready", get(ready)).route("/version", get(version))
}
