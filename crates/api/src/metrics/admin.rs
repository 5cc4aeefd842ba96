//! The admin listener's router and the gauges that need refreshing.
//!
//! `/metrics` lives on a listener of its own (`MUSTER_ADMIN_LISTEN`, loopback by default),
//! never on the public one: it describes the whole fleet's traffic and is for Prometheus,
//! not for callers. Pool, Redis and cache gauges are read at scrape time because reading them
//! costs nothing; row totals need queries, so a background task refreshes them every
//! [`COUNTS_EVERY`] and scrapes never touch the database.

use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;

/// How often the row gauges are refreshed: a handful of counts per instance per minute.
pub const COUNTS_EVERY: Duration = Duration::from_secs(60);

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` and `GET /health` for the admin listener.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .with_state(state)
}

async fn metrics(State(st): State<AppState>) -> Response {
    st.metrics.set_pools(&st.store.pool_stats());
    st.metrics.set_redis("rate_limit", st.limits.limiter.redis_healthy());
    st.metrics.set_redis("cache", st.cache.redis_healthy());
    st.metrics.set_rate_limit_fallbacks(st.limits.limiter.fallbacks());
    st.metrics.set_cache(st.cache.evictions(), st.cache.memory_bytes());
    let mut resp = st.metrics.render().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    resp
}

/// Refreshes the row gauges now, then every `every`, forever. A failed count is logged
/// and the gauges keep their last values (`muster_rows_refreshed_timestamp_seconds` shows
/// how old they are).
pub async fn refresh_counts_loop(state: AppState, every: Duration) {
    let metrics = Arc::clone(&state.metrics);
    loop {
        match state.store.counts().await {
            Ok(c) => metrics.set_counts(&c),
            Err(e) => tracing::warn!(error = %e, "could not refresh the row gauges; keeping the last values"),
        }
        tokio::time::sleep(every).await;
    }
}
