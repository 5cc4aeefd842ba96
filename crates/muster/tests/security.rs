//! The security edge: authentication attacks, scopes on every route, exact rate budgets,
//! a budget shared through Redis, Redis going away, admin overrides, CORS and hardening.

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use muster_api::auth::AuthConfig;
use muster_api::ratelimit::Quota;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use support::{Backend, Options, TEST_SECRET, TestApp, mint, spawn_with};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

fn hs(claims: &Value) -> String {
    sign(Algorithm::HS256, None, &EncodingKey::from_secret(TEST_SECRET.as_bytes()), claims)
}

async fn sqlite_app(opts: Options) -> TestApp {
    spawn_with(support::fresh_store(Backend::Sqlite).await, opts).await
}

async fn with_token(app: &TestApp, method: Method, path: &str, token: &str) -> support::Resp {
    let body = (method == Method::POST || method == Method::PATCH || method == Method::PUT).then(|| json!({}));
    let auth = format!("Bearer {token}");
    app.send(method, path, body.as_ref(), &[("authorization", &auth)]).await
}

/// Asserts a 401 whose challenge says `invalid_token` (or no error code for a missing token).
fn assert_401(r: &support::Resp, code: Option<&str>) {
    r.problem(401);
    let challenge = r.header("www-authenticate").expect("401 carries WWW-Authenticate");
    assert!(challenge.starts_with("Bearer realm=\"muster\""), "{challenge}");
    match code {
        Some(c) => assert!(challenge.contains(&format!("error=\"{c}\"")), "{challenge}"),
        None => assert!(!challenge.contains("error="), "{challenge}"),
    }
    let text = r.body.to_string();
    assert!(!text.contains(TEST_SECRET), "no key material in errors");
}

#[tokio::test]
async fn refuses_every_bad_token() {
    let app = sqlite_app(Options::default()).await;
    let r = app.send(Method::GET, "/v1/candidates", None, &[("authorization", "")]).await;
    assert_401(&r, None);
    let good = json!({"sub": "eve", "scope": "admin", "exp": now() + 600});
    let forged =
        sign(Algorithm::HS256, None, &EncodingKey::from_secret(b"not-the-server-secret-at-all-0123456789"), &good);
    let mut parts: Vec<String> = hs(&good).split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(br#"{"sub":"eve","scope":"admin","exp":99999999999,"extra":1}"#);
    let tampered = parts.join(".");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"eve","scope":"admin","exp":{}}}"#, now() + 600))
    );
    let hs512 = sign(Algorithm::HS512, None, &EncodingKey::from_secret(TEST_SECRET.as_bytes()), &good);
    let cases = [
        ("Bearer not.a.jwt", "garbage"),
        ("Bearer ", "empty"),
        (&*format!("Basic {}", hs(&good)), "wrong scheme"),
        (&*format!("Bearer {forged}"), "wrong key"),
        (&*format!("Bearer {tampered}"), "tampered payload"),
        (&*format!("Bearer {none}"), "alg none"),
        (&*format!("Bearer {hs512}"), "algorithm not accepted"),
        (&*format!("Bearer {}", hs(&json!({"sub": "eve", "scope": "admin", "exp": now() - 120}))), "expired"),
        (
            &*format!(
                "Bearer {}",
                hs(&json!({"sub": "eve", "scope": "admin", "exp": now() + 600, "nbf": now() + 300}))
            ),
            "not yet valid",
        ),
        (&*format!("Bearer {}", hs(&json!({"sub": "eve", "scope": "admin"}))), "no exp"),
        (&*format!("Bearer {}", hs(&json!({"scope": "admin", "exp": now() + 600}))), "no sub"),
    ];
    for (header, what) in cases {
        let r = app.send(Method::GET, "/v1/candidates", None, &[("authorization", header)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
        assert_401(&r, Some("invalid_token"));
    }
    // a token within the clock-skew leeway is fine
    let skewed = hs(&json!({"sub": "eve", "scope": "read", "exp": now() - 5}));
    assert_eq!(with_token(&app, Method::GET, "/v1/candidates", &skewed).await.status, StatusCode::OK);
    for open in ["/health", "/ready", "/version"] {
        let r = app.send(Method::GET, open, None, &[("authorization", "")]).await;
        assert_eq!(r.status, StatusCode::OK, "{open} stays open");
    }
}

#[tokio::test]
async fn scopes_on_every_route() {
    let app = sqlite_app(Options::default()).await;
    let c = app.candidate().await;
    let id = c["id"].as_str().unwrap();
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/v1/candidates".into()),
        (Method::POST, "/v1/candidates".into()),
        (Method::GET, format!("/v1/candidates/{id}")),
        (Method::PATCH, format!("/v1/candidates/{id}")),
        (Method::DELETE, format!("/v1/candidates/{id}")),
        (Method::GET, format!("/v1/candidates/{id}/events")),
        (Method::GET, "/v1/volunteers".into()),
        (Method::POST, "/v1/volunteers".into()),
        (Method::GET, format!("/v1/volunteers/{id}/attendances")),
        (Method::GET, "/v1/events".into()),
        (Method::POST, "/v1/events".into()),
        (Method::GET, format!("/v1/events/{id}/attendances")),
        (Method::GET, "/v1/attendances".into()),
        (Method::POST, "/v1/attendances".into()),
        (Method::POST, format!("/v1/attendances/{id}/check-in")),
        (Method::GET, "/v1/admin/rate-limits".into()),
        (Method::PUT, "/v1/admin/rate-limits/someone".into()),
        (Method::DELETE, "/v1/admin/rate-limits/someone".into()),
    ];
    let read = mint("reader", "read", 600);
    let write = mint("writer", "write", 600);
    let admin = mint("boss", "admin", 600);
    for (method, path) in &routes {
        let needed = if path.starts_with("/v1/admin") {
            "admin"
        } else if *method == Method::GET {
            "read"
        } else {
            "write"
        };
        for (token, grants) in [(&read, "read"), (&write, "write"), (&admin, "admin")] {
            let r = with_token(&app, method.clone(), path, token).await;
            let allowed = grants == "admin" || grants == needed;
            if allowed {
                assert_ne!(r.status, StatusCode::FORBIDDEN, "{method} {path} with {grants}: {}", r.body);
                assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{method} {path} with {grants}");
            } else {
                let p = r.problem(403);
                assert!(p["detail"].as_str().unwrap().contains(&format!("`{needed}`")), "{p}");
                let challenge = r.header("www-authenticate").unwrap();
                assert!(challenge.contains(&format!("scope=\"{needed}\"")), "{challenge}");
            }
        }
    }
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_when_configured() {
    let mut opts = Options::default();
    opts.auth.issuer = Some("https://id.example.org/".into());
    opts.auth.audience = Some("muster".into());
    let app = sqlite_app(opts).await;
    let base = |extra: Value| {
        let mut c = json!({"sub": "ann", "scope": "read", "exp": now() + 600});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        hs(&c)
    };
    let right = base(json!({"iss": "https://id.example.org/", "aud": "muster"}));
    assert_eq!(with_token(&app, Method::GET, "/v1/events", &right).await.status, StatusCode::OK);
    for wrong in [
        base(json!({"aud": "muster"})),
        base(json!({"iss": "https://evil.example.org/", "aud": "muster"})),
        base(json!({"iss": "https://id.example.org/", "aud": "someone-else"})),
        base(json!({"iss": "https://id.example.org/"})),
    ] {
        assert_401(&with_token(&app, Method::GET, "/v1/events", &wrong).await, Some("invalid_token"));
    }
}

/// A JWKS endpoint that counts fetches and can be switched off.
struct Idp {
    url: String,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

async fn idp() -> Idp {
    let fetches = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let (f, d) = (fetches.clone(), down.clone());
    let jwks: Value = serde_json::from_str(include_str!("fixtures/jwks.json")).unwrap();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (f, d, jwks) = (f.clone(), d.clone(), jwks.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                if d.load(Ordering::SeqCst) {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({})))
                } else {
                    (axum::http::StatusCode::OK, axum::Json(jwks))
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Idp { url, fetches, down }
}

#[tokio::test]
async fn identity_provider_tokens_via_jwks() {
    let idp = idp().await;
    let opts =
        Options { auth: AuthConfig { jwks_url: Some(idp.url.clone()), ..AuthConfig::default() }, ..Options::default() };
    let app = sqlite_app(opts).await;
    let claims = json!({"sub": "sso-user", "scope": "read write", "exp": now() + 600});
    let rsa = EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa_private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(include_bytes!("fixtures/ec_private.pem")).unwrap();
    let rs256 = sign(Algorithm::RS256, Some("rsa-1"), &rsa, &claims);
    let es256 = sign(Algorithm::ES256, Some("ec-1"), &ec, &claims);
    assert_eq!(with_token(&app, Method::GET, "/v1/events", &rs256).await.status, StatusCode::OK);
    assert_eq!(with_token(&app, Method::GET, "/v1/events", &es256).await.status, StatusCode::OK);
    // a key of the wrong type for its kid, and HS256 made with the public key (algorithm
    // confusion), are both refused
    let wrong_type = sign(Algorithm::ES256, Some("rsa-1"), &ec, &claims);
    assert_401(&with_token(&app, Method::GET, "/v1/events", &wrong_type).await, Some("invalid_token"));
    let confused = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(include_bytes!("fixtures/rsa_public.pem")),
        &claims,
    );
    assert_401(&with_token(&app, Method::GET, "/v1/events", &confused).await, Some("invalid_token"));
    // made-up key ids do not turn into a flood of fetches
    let before = idp.fetches.load(Ordering::SeqCst);
    for i in 0..20 {
        let t = sign(Algorithm::RS256, Some(&format!("made-up-{i}")), &rsa, &claims);
        assert_401(&with_token(&app, Method::GET, "/v1/events", &t).await, Some("invalid_token"));
    }
    assert!(idp.fetches.load(Ordering::SeqCst) - before <= 1, "refetches are rate-bounded");
    // the provider going down does not lock out holders of known keys
    idp.down.store(true, Ordering::SeqCst);
    assert_eq!(with_token(&app, Method::GET, "/v1/events", &rs256).await.status, StatusCode::OK);
}

#[tokio::test]
async fn exact_budget_with_headers() {
    let app = sqlite_app(Options { rate: Quota::parse("5/min").unwrap(), ..Options::default() }).await;
    let token = mint("counted", "read", 600);
    for i in 0..5 {
        let r = with_token(&app, Method::GET, "/v1/candidates", &token).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}");
        assert_eq!(r.header("ratelimit-policy"), Some("\"default\";q=5;w=60"));
        let rl = r.header("ratelimit").unwrap();
        assert!(rl.starts_with(&format!("\"default\";r={};t=", 4 - i)), "{rl}");
    }
    let r = with_token(&app, Method::GET, "/v1/candidates", &token).await;
    r.problem(429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "one request frees up every 12 s: {retry}");
    assert!(r.header("ratelimit").unwrap().starts_with("\"default\";r=0;"));
    // another caller has its own budget
    assert_eq!(
        with_token(&app, Method::GET, "/v1/candidates", &mint("other", "read", 600)).await.status,
        StatusCode::OK
    );
    // callers without a valid token are budgeted by address, and refusals cost budget too
    for _ in 0..5 {
        assert_eq!(with_token(&app, Method::GET, "/v1/candidates", "junk").await.status, StatusCode::UNAUTHORIZED);
    }
    with_token(&app, Method::GET, "/v1/candidates", "junk").await.problem(429);
}

#[tokio::test]
async fn admin_overrides_a_callers_limit_without_restart() {
    let app = sqlite_app(Options { rate: Quota::parse("10/min").unwrap(), ..Options::default() }).await;
    let admin = [("authorization", &*format!("Bearer {}", mint("ops", "admin", 600)))].map(|(k, v)| (k, v.to_owned()));
    let admin: Vec<(&str, &str)> = admin.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let put = app
        .send(Method::PUT, "/v1/admin/rate-limits/loadtest", Some(&json!({"rate": "100/min", "burst": 8})), &admin)
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["updated_by"], "ops");
    let token = mint("loadtest", "read", 600);
    for i in 0..8 {
        assert_eq!(with_token(&app, Method::GET, "/v1/events", &token).await.status, StatusCode::OK, "request {i}");
    }
    let r = with_token(&app, Method::GET, "/v1/events", &token).await;
    r.problem(429);
    // GCRA: 8 at once, refilled at 100/min, so the window for q=8 is 4.8 s, rounded up
    assert_eq!(r.header("ratelimit-policy"), Some("\"default\";q=8;w=5"));
    let list = app.send(Method::GET, "/v1/admin/rate-limits", None, &admin).await;
    assert_eq!(list.body["data"][0]["subject"], "loadtest");
    let bad = app.send(Method::PUT, "/v1/admin/rate-limits/x", Some(&json!({"rate": "lots"})), &admin).await;
    assert_eq!(bad.problem(422)["errors"][0]["field"], "rate");
    let del = app.send(Method::DELETE, "/v1/admin/rate-limits/loadtest", None, &admin).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    app.send(Method::DELETE, "/v1/admin/rate-limits/loadtest", None, &admin).await.problem(404);
}

#[tokio::test]
async fn two_instances_share_one_redis_budget() {
    let store = support::fresh_store(Backend::Sqlite).await;
    let prefix = format!("muster-test:{}:", uuid::Uuid::now_v7().simple());
    let opts = || Options {
        rate: Quota::parse("6/min").unwrap(),
        redis_url: Some("redis://127.0.0.1:6379".into()),
        redis_prefix: Some(prefix.clone()),
        ..Options::default()
    };
    let a = spawn_with(store.clone(), opts()).await;
    let b = spawn_with(store, opts()).await;
    let token = mint("fleet-user", "read", 600);
    let mut ok = 0;
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        if with_token(app, Method::GET, "/v1/candidates", &token).await.status == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 6, "one budget across both instances");
    assert_eq!(a.state.limits.limiter.fallbacks() + b.state.limits.limiter.fallbacks(), 0);
}

#[tokio::test]
async fn redis_going_away_does_not_take_the_api_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app = sqlite_app(Options { redis_url: Some(url), ..Options::default() }).await;
    let token = mint("resilient", "read write", 600);
    assert_eq!(with_token(&app, Method::GET, "/v1/candidates", &token).await.status, StatusCode::OK);
    redis.kill().unwrap();
    redis.wait().unwrap();
    for _ in 0..5 {
        let r = with_token(&app, Method::GET, "/v1/candidates", &token).await;
        assert_eq!(r.status, StatusCode::OK, "served without Redis: {}", r.body);
        assert!(r.header("ratelimit").is_some(), "still limited, locally");
    }
    assert!(app.state.limits.limiter.fallbacks() > 0);
    assert_eq!(app.state.limits.limiter.redis_healthy(), Some(false));
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "Redis down degrades, it does not unready: {}", ready.body);
    assert_eq!(ready.body["status"], "degraded");
    assert_eq!(ready.body["checks"]["redis"]["status"], "down");
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_caller() {
    let app = sqlite_app(Options::default()).await;
    let body = json!({"name": "Same Key", "office": "Mayor"});
    let first = format!("Bearer {}", mint("alice", "write", 600));
    let second = format!("Bearer {}", mint("bob", "write", 600));
    let a = app
        .send(Method::POST, "/v1/candidates", Some(&body), &[("authorization", &first), ("idempotency-key", "k1")])
        .await;
    let b = app
        .send(Method::POST, "/v1/candidates", Some(&body), &[("authorization", &second), ("idempotency-key", "k1")])
        .await;
    assert_eq!((a.status, b.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a.body["id"], b.body["id"], "one caller's key never replays another's response");
}

#[tokio::test]
async fn cors_is_closed_unless_configured_and_headers_are_hardened() {
    let closed = sqlite_app(Options::default()).await;
    let r = closed.send(Method::GET, "/v1/candidates", None, &[("origin", "https://evil.example")]).await;
    assert!(r.header("access-control-allow-origin").is_none());
    for (h, v) in
        [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("cache-control", "private, no-cache")]
    {
        assert_eq!(r.header(h), Some(v), "{h}");
    }
    let problem = closed.get("/v1/nowhere").await;
    assert_eq!(problem.header("cache-control"), Some("no-store"), "only revalidatable GETs may be stored");
    assert!(r.header("server").is_none(), "no server banner");
    let big = "x".repeat(20 * 1024);
    closed.send(Method::GET, "/v1/candidates", None, &[("x-padding", &big)]).await.problem(431);

    let open = sqlite_app(Options { cors_origins: vec!["https://app.example.org"], ..Options::default() }).await;
    let pre = open
        .send(
            Method::OPTIONS,
            "/v1/candidates",
            None,
            &[
                ("origin", "https://app.example.org"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization,content-type,idempotency-key"),
            ],
        )
        .await;
    assert_eq!(pre.header("access-control-allow-origin"), Some("https://app.example.org"));
    let other = open.send(Method::GET, "/v1/candidates", None, &[("origin", "https://evil.example")]).await;
    assert!(other.header("access-control-allow-origin").is_none());
}
