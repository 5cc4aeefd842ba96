//! The `muster` binary's parts: configuration, opening the store, serving, seeding.
//! `main.rs` only parses the command line and calls into these.

pub mod alloc;
pub mod aws_secrets;
pub mod canary;
pub mod config;
pub mod e2e;
pub mod json_lines;
pub mod lambda;
pub mod logging;
pub mod monitor;
pub mod seed;
pub mod server;
pub mod store;
pub mod token;

use config::Config;
use muster_api::auth::{AuthConfig, Authenticator};
use muster_api::cache::{Cache, CacheMode};
use muster_api::ratelimit::RateLimiter;
use muster_api::routes::client_errors::ClientReportPolicy;
use muster_api::{AppState, BuildInfo, Limits};
use muster_store::Store;
use std::sync::Arc;

/// This build's identity; `MUSTER_BUILD_NUMBER` overrides the commit count.
pub fn build_info(override_number: Option<&str>) -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        build: override_number.unwrap_or(env!("MUSTER_BUILD_COUNT")).to_owned(),
        commit: env!("MUSTER_COMMIT").to_owned(),
    }
}

/// `muster --version`: version, build and commit.
pub const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (build ", env!("MUSTER_BUILD_COUNT"), ", commit ", env!("MUSTER_COMMIT"), ")");

/// Where Redis keys of the shared rate limiter live.
pub const RATE_LIMIT_PREFIX: &str = "muster:rl:";
/// Where Redis keys of the shared response cache live.
pub const CACHE_PREFIX: &str = "muster:cache:";
/// Where the feature flags' generation counter lives in Redis.
pub const FLAGS_PREFIX: &str = "muster:flags:";

/// How long after start-up the row gauges are first counted and old client reports first
/// purged (both scan tables; neither is needed to serve).
pub const STARTUP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How the binary serves the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `muster serve`: a long-lived server with its admin listener.
    Serve,
    /// `muster lambda`: one request at a time per execution environment, frozen between
    /// invocations, nothing scraped, a read-only file system.
    Lambda,
}

/// Everything `serve` (or `lambda`) hands the router, built from the configuration.
pub async fn app_state(cfg: &Config, store: Arc<dyn Store>, mode: Mode) -> anyhow::Result<AppState> {
    let mut secret = cfg.jwt_secret.clone();
    if secret.is_none() && cfg.jwt_jwks_url.is_none() && mode == Mode::Lambda {
        // no development secret on Lambda: its file system is read-only, and every
        // execution environment would make its own
        anyhow::bail!("MUSTER_JWT_SECRET or MUSTER_JWT_JWKS_URL must be set under muster lambda");
    }
    if secret.is_none() && cfg.jwt_jwks_url.is_none() {
        let (dev, created) = token::dev_secret(std::path::Path::new("."))?;
        tracing::warn!(
            path = token::DEV_SECRET_PATH,
            created,
            "no MUSTER_JWT_SECRET or MUSTER_JWT_JWKS_URL: using the development secret (`muster token` signs with \
             it); set one of them in production"
        );
        secret = Some(dev);
    }
    let auth = Authenticator::new(&AuthConfig {
        hs256_secret: secret,
        jwks_url: cfg.jwt_jwks_url.clone(),
        issuer: cfg.jwt_issuer.clone(),
        audience: cfg.jwt_audience.clone(),
    })
    .map_err(|e| anyhow::anyhow!("MUSTER_JWT_JWKS_URL: {e}"))?;
    if let Some(jwks) = auth.jwks() {
        jwks.refresh(true).await;
    }
    // one Redis connection for the limiter and the cache
    let link = match &cfg.redis_url {
        Some(url) => Some(
            muster_api::redis_link::RedisLink::new(url, muster_api::redis_link::RedisOptions::default())
                .map_err(|e| anyhow::anyhow!("MUSTER_REDIS_URL: {e}"))?,
        ),
        None => None,
    };
    let limiter = match &link {
        Some(link) => RateLimiter::on_link(link.clone(), RATE_LIMIT_PREFIX),
        None => RateLimiter::local(),
    };
    let limits = Limits::new(limiter, cfg.rate_limit, cfg.trusted_proxies.clone());
    let mut state = AppState::new(store.clone(), build_info(cfg.build_number.as_deref()), auth, limits);
    state.request_timeout = cfg.request_timeout;
    state.batch_max = cfg.batch_max;
    let overrides = cfg.cache_ttl_overrides.iter().copied().collect();
    state.cache = Arc::new(match (cfg.cache, &link) {
        _ if cfg.cache_ttl.is_zero() => Cache::none(),
        (CacheMode::Memory, _) => Cache::memory(cfg.cache_ttl, overrides, cfg.cache_memory_bytes),
        (CacheMode::Redis, Some(link)) => Cache::redis(link.clone(), CACHE_PREFIX, cfg.cache_ttl, overrides),
        _ => Cache::none(),
    });
    state.cors_origins =
        Arc::new(cfg.cors_origins.iter().filter_map(|o| axum::http::HeaderValue::from_str(o).ok()).collect());
    state.client_reports = ClientReportPolicy {
        rate: cfg.client_report_rate,
        retention: cfg.client_report_retention,
        ..ClientReportPolicy::default()
    };
    state.audit = Arc::new(muster_api::audit::AuditLog::new(
        store.clone(),
        state.metrics.clone(),
        cfg.audit_retention,
        state.build.label(),
    ));
    tokio::spawn(state.limits.clone().reload_loop(store.clone()));
    // flags: changes made on another instance arrive through Redis within a second, or
    // within muster_api::flags::RELOAD_EVERY without it
    if let Some(link) = &link {
        state.flags.use_redis(link.clone(), FLAGS_PREFIX);
    }
    state.flags.start_watcher();
    // housekeeping waits until start-up is over: the first requests get the pool and the CPU;
    // the row gauges are for Prometheus, which scrapes no Lambda environment
    if mode == Mode::Lambda {
        let purge = muster_api::routes::client_errors::purge_loop(store, state.client_reports);
        tokio::spawn(async move {
            tokio::time::sleep(STARTUP_GRACE).await;
            purge.await;
        });
        return Ok(state);
    }
    let counts = muster_api::metrics::refresh_counts_loop(state.clone(), muster_api::metrics::COUNTS_EVERY);
    let purge = muster_api::routes::client_errors::purge_loop(store, state.client_reports);
    tokio::spawn(async move {
        tokio::time::sleep(STARTUP_GRACE).await;
        tokio::join!(counts, purge);
    });
    Ok(state)
}
