//! The `muster` binary's parts: configuration, opening the store, serving, seeding.
//! `main.rs` only parses the command line and calls into these.

pub mod config;
pub mod seed;
pub mod server;
pub mod store;
pub mod token;

use config::Config;
use muster_api::auth::{AuthConfig, Authenticator};
use muster_api::ratelimit::RateLimiter;
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

/// Everything `serve` hands the router, built from the configuration.
pub async fn app_state(cfg: &Config, store: Arc<dyn Store>) -> anyhow::Result<AppState> {
    let mut secret = cfg.jwt_secret.clone();
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
    let limiter = match &cfg.redis_url {
        Some(url) => {
            RateLimiter::redis(url, RATE_LIMIT_PREFIX).map_err(|e| anyhow::anyhow!("MUSTER_REDIS_URL: {e}"))?
        }
        None => RateLimiter::local(),
    };
    let limits = Limits::new(limiter, cfg.rate_limit, cfg.trusted_proxies.clone());
    let mut state = AppState::new(store.clone(), build_info(cfg.build_number.as_deref()), auth, limits);
    state.request_timeout = cfg.request_timeout;
    state.batch_max = cfg.batch_max;
    state.cors_origins =
        Arc::new(cfg.cors_origins.iter().filter_map(|o| axum::http::HeaderValue::from_str(o).ok()).collect());
    tokio::spawn(state.limits.clone().reload_loop(store));
    Ok(state)
}
