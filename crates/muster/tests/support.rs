//! `spawn_app`: the real server on port 0 over a fresh store, and a typed client for it.

#![allow(dead_code, reason = "each test binary uses a different part of the support code")]

use muster_api::auth::{AuthConfig, Authenticator, Secret};
use muster_api::cache::{Cache, CacheMode};
use muster_api::ratelimit::{Quota, RateLimiter};
use muster_api::redis_link::{RedisLink, RedisOptions};
use muster_api::{AppState, Limits};
use muster_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The HS256 secret test servers accept.
pub const TEST_SECRET: &str = "muster-test-secret-0123456789abcdef-0123";

/// A token signed with [`TEST_SECRET`]: `sub`, space-separated `scope`, valid for `ttl` seconds
/// (negative for an expired one).
pub fn mint(sub: &str, scope: &str, ttl: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"sub": sub, "scope": scope, "iat": now, "exp": now + ttl});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap()
}

/// How a test server differs from the default (a huge budget, local limiter).
pub struct Options {
    pub rate: Quota,
    pub redis_url: Option<String>,
    /// Key prefix in Redis; instances sharing one share a budget (default: unique per app).
    pub redis_prefix: Option<String>,
    pub auth: AuthConfig,
    pub cors_origins: Vec<&'static str>,
    pub batch_max: usize,
    /// The cache; default from `MUSTER_TEST_CACHE` (none, memory, redis; memory if unset),
    /// so CI runs the whole suite once per mode.
    pub cache: CacheMode,
    pub cache_ttl: Duration,
    /// Redis key prefix of the cache; instances sharing one share cached entries.
    pub cache_prefix: Option<String>,
    /// The build number `/version` reports (`MUSTER_BUILD_NUMBER`; default this build's).
    pub build_number: Option<String>,
    /// Header and body read timeouts and the connection cap (default: the server's defaults).
    pub connections: muster::server::ConnectionLimits,
}

/// The cache mode the suite runs with.
pub fn cache_mode_under_test() -> CacheMode {
    match std::env::var("MUSTER_TEST_CACHE").as_deref() {
        Ok("none") => CacheMode::None,
        Ok("redis") => CacheMode::Redis,
        Ok("memory") | Err(_) => CacheMode::Memory,
        Ok(other) => panic!("MUSTER_TEST_CACHE={other:?}: use none, memory or redis"),
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate: Quota::parse("1000000/min").unwrap(),
            redis_url: None,
            redis_prefix: None,
            cors_origins: Vec::new(),
            batch_max: 1000,
            cache: cache_mode_under_test(),
            cache_ttl: Duration::from_secs(60),
            cache_prefix: None,
            build_number: None,
            connections: muster::server::ConnectionLimits::default(),
            auth: AuthConfig { hs256_secret: Some(Secret::new(TEST_SECRET.into())), ..AuthConfig::default() },
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Sent on every request that does not set its own Authorization (`admin` scope).
    pub token: String,
    pub state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn fresh_store(backend: Backend) -> Arc<dyn Store> {
    match backend {
        Backend::Sqlite => Arc::new(muster_store_sqlite::testing::fresh_store().await),
        Backend::Postgres => {
            Arc::new(muster_store_postgres::testing::fresh_store_observed(Some(muster::store::observe_operation)).await)
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_with(fresh_store(backend).await, Options::default()).await
}

/// A server over `store` (several servers may share one, like instances of a fleet).
pub async fn spawn_with(store: Arc<dyn Store>, opts: Options) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    spawn_on(listener, store, opts).await
}

/// A server on `listener` (a test that stops a server and starts another on its port).
pub async fn spawn_on(listener: tokio::net::TcpListener, store: Arc<dyn Store>, opts: Options) -> TestApp {
    let base = format!("http://{}", listener.local_addr().unwrap());
    let limiter = match &opts.redis_url {
        Some(url) => {
            let prefix =
                opts.redis_prefix.clone().unwrap_or_else(|| format!("muster-test:{}:", uuid::Uuid::now_v7().simple()));
            RateLimiter::redis(url, &prefix).unwrap()
        }
        None => RateLimiter::local(),
    };
    let auth = Authenticator::new(&opts.auth).unwrap();
    if let Some(jwks) = auth.jwks() {
        jwks.refresh(true).await;
    }
    let mut state = AppState::new(
        store,
        muster::build_info(opts.build_number.as_deref()),
        auth,
        Limits::new(limiter, opts.rate, Vec::new()),
    );
    state.batch_max = opts.batch_max;
    state.cache = Arc::new(match opts.cache {
        CacheMode::None => Cache::none(),
        CacheMode::Memory => Cache::memory(opts.cache_ttl, HashMap::new(), 16 << 20),
        CacheMode::Redis => {
            let url = opts.redis_url.clone().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
            let link = RedisLink::new(&url, RedisOptions::default()).unwrap();
            let prefix = opts
                .cache_prefix
                .clone()
                .unwrap_or_else(|| format!("muster-test-cache:{}:", uuid::Uuid::now_v7().simple()));
            Cache::redis(link, &prefix, opts.cache_ttl, HashMap::new())
        }
    });
    state.cors_origins =
        Arc::new(opts.cors_origins.iter().map(|o| axum::http::HeaderValue::from_str(o).unwrap()).collect());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(muster::server::run(
        listener,
        state.clone(),
        opts.connections,
        async {
            let _ = rx.await;
        },
        Duration::ZERO,
        Duration::from_secs(5),
    ));
    TestApp { base, client: reqwest::Client::new(), token: mint("tester", "admin", 3600), state, stop: Some(tx) }
}

/// A response, read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status, and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.body);
        for field in ["type", "title", "status", "detail", "request_id"] {
            assert!(self.body.get(field).is_some(), "problem lacks {field}: {}", self.body);
        }
        assert_eq!(self.body["status"], status);
        let text = self.body.to_string().to_lowercase();
        for leak in ["sqlx", "sqlite", "postgres", "constraint", "panicked", "stack", "syntax error"] {
            assert!(!text.contains(leak), "problem leaks {leak:?}: {text}");
        }
        &self.body
    }

    /// The `field` of each validation error.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or("").to_owned()).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    /// A client for a server a test started itself (with a router of its own making).
    pub fn attach(base: String, state: AppState) -> TestApp {
        TestApp { base, client: reqwest::Client::new(), token: mint("tester", "admin", 3600), state, stop: None }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            req = req.bearer_auth(&self.token);
        }
        for (k, v) in headers {
            // an empty Authorization means "send none"
            if !(k.eq_ignore_ascii_case("authorization") && v.is_empty()) {
                req = req.header(*k, *v);
            }
        }
        let r = req.send().await.expect("request sent");
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body read");
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Resp { status, headers, body }
    }

    /// `POST /v1/volunteers/import{query}` with `csv` as `text/csv`, as `token`.
    pub async fn import_csv(&self, token: &str, query: &str, csv: impl Into<reqwest::Body>) -> Resp {
        let r = self
            .client
            .post(format!("{}/v1/volunteers/import{query}", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv; charset=utf-8")
            .body(csv)
            .send()
            .await
            .expect("request sent");
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Creates a row and returns its JSON, asserting 201.
    pub async fn create(&self, collection: &str, body: Value) -> Value {
        let r = self.post(&format!("/v1/{collection}"), &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "creating {collection}: {}", r.body);
        r.body
    }

    pub async fn candidate(&self) -> Value {
        self.create("candidates", serde_json::json!({"name": "Maria Lopez", "office": "Mayor"})).await
    }

    pub async fn volunteer(&self, email: &str) -> Value {
        self.create("volunteers", serde_json::json!({"first_name": "Ana", "last_name": "Garcia", "email": email})).await
    }

    pub async fn event(&self, candidate_id: &Value, capacity: Option<i64>) -> Value {
        self.create(
            "events",
            serde_json::json!({"candidate_id": candidate_id, "title": "Canvass", "event_type": "canvass",
                "starts_at": "2026-11-07T14:00:00Z", "ends_at": "2026-11-07T17:00:00Z", "capacity": capacity}),
        )
        .await
    }
}

/// Instantiates each listed async fn (taking a `TestApp`) once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::spawn_app($crate::support::Backend::Sqlite).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::spawn_app($crate::support::Backend::Postgres).await).await;
                }
            )+
        }
    };
}
