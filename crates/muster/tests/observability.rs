//! Logs and metrics as an operator reads them: the access line of each request parsed back
//! from the JSON the production subscriber writes, its classification (access, client
//! error, server error, client report), a real server error with the schema dropped under
//! the running service, a panic, and counters that move by exactly what happened.
//!
//! The log subscriber is process-wide, so every test writes into one buffer and picks out
//! its own lines by the request ids it sent; metrics are per app, so counts are exact even
//! with tests running side by side.

mod support;

use muster_api::auth::{AuthConfig, Authenticator, Secret};
use muster_api::cache::CacheMode;
use muster_api::ratelimit::{Quota, RateLimiter};
use muster_api::{AppState, Limits};
use muster_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex, Once};
use support::{Backend, TEST_SECRET, TestApp, mint};

// ---- capturing the log ----

static LOG: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(Arc::default);

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the production subscriber (JSON, scrubbing, routing by target) writing here.
fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let writer = Capture(LOG.clone());
        let outputs =
            muster::logging::Outputs::to(tracing_subscriber::fmt::writer::BoxMakeWriter::new(move || writer.clone()));
        let sub = muster::logging::subscriber(muster::config::LogFormat::Json, "info", outputs);
        tracing::subscriber::set_global_default(sub).expect("one subscriber per test binary");
        muster_api::access_log::install_panic_hook(true);
    });
}

fn all_lines() -> Vec<Value> {
    let text = String::from_utf8(LOG.lock().unwrap().clone()).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect()
}

fn all_text() -> String {
    String::from_utf8(LOG.lock().unwrap().clone()).unwrap()
}

/// The lines that name `request_id`.
fn lines_of(request_id: &str) -> Vec<Value> {
    all_lines().into_iter().filter(|l| l["request_id"] == request_id).collect()
}

/// The one line of a request; there must be exactly one.
fn line_of(request_id: &str) -> Value {
    let lines = lines_of(request_id);
    assert_eq!(lines.len(), 1, "one line per request: {lines:#?}");
    lines.into_iter().next().unwrap()
}

fn rid(tag: &str) -> String {
    format!("{tag}-{}", uuid::Uuid::now_v7().simple())
}

/// A request with its own request id and optional headers; returns the response and the id.
async fn traced(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (support::Resp, String) {
    let id = rid("obs");
    let mut h = vec![("x-request-id", id.as_str())];
    h.extend_from_slice(headers);
    (app.send(method, path, body, &h).await, id)
}

// ---- reading the metrics ----

/// Each sample of the exposition by its full series name (`name{labels}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn metric(app: &TestApp, series: &str) -> f64 {
    samples(&app.state.metrics.render()).get(series).copied().unwrap_or(0.0)
}

/// How much each series moved between two renders.
fn deltas(before: &str, after: &str) -> BTreeMap<String, f64> {
    let b = samples(before);
    samples(after)
        .into_iter()
        .filter_map(|(k, v)| {
            let d = v - b.get(&k).copied().unwrap_or(0.0);
            (d != 0.0).then_some((k, d))
        })
        .collect()
}

// ---- servers built here (for options the shared harness does not have) ----

/// An app like `spawn_app`'s, adjusted by `tune` and serving `extra` routes inside the
/// API's layers.
async fn spawn_custom(
    store: Arc<dyn Store>,
    tune: impl FnOnce(&mut AppState),
    extra: axum::Router<AppState>,
) -> TestApp {
    capture_logs();
    let auth =
        Authenticator::new(&AuthConfig { hs256_secret: Some(Secret::new(TEST_SECRET.into())), ..Default::default() })
            .unwrap();
    let limits = Limits::new(RateLimiter::local(), Quota::parse("1000000/min").unwrap(), Vec::new());
    let mut state = AppState::new(store, muster::build_info(None), auth, limits);
    tune(&mut state);
    let app = muster_api::build_router_with(state.clone(), extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).into_future(),
    );
    TestApp::attach(base, state)
}

on_both_backends!(
    each_request_writes_one_classified_line,
    secrets_and_personal_data_stay_out_of_the_log,
    business_counters_move_only_on_successful_creates,
    http_and_gate_counters,
    client_reports_are_logged_counted_and_kept,
);

async fn each_request_writes_one_classified_line(app: TestApp) {
    capture_logs();
    let (ok, id) = traced(&app, Method::GET, "/v1/candidates?limit=5", None, &[("user-agent", "obs-test/1.0")]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let l = line_of(&id);
    assert_eq!(
        (l["kind"].as_str(), l["target"].as_str(), l["level"].as_str()),
        (Some("access"), Some("muster::access"), Some("INFO"))
    );
    assert_eq!(
        (l["method"].as_str(), l["route"].as_str(), l["path"].as_str()),
        (Some("GET"), Some("/v1/candidates"), Some("/v1/candidates"))
    );
    assert_eq!(l["query"], "limit=5");
    assert_eq!(l["status"], 200);
    assert_eq!(l["sub"], "tester");
    assert_eq!(l["client_ip"], "127.0.0.1");
    assert_eq!(l["user_agent"], "obs-test/1.0");
    assert!(l["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{l}");
    assert!(l["bytes"].as_u64().is_some_and(|b| b > 0), "{l}");

    let ghost = "0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d";
    let (nf, id) = traced(&app, Method::GET, &format!("/v1/candidates/{ghost}"), None, &[]).await;
    nf.problem(404);
    let l = line_of(&id);
    assert_eq!(
        (l["kind"].as_str(), l["target"].as_str(), l["level"].as_str()),
        (Some("client_error"), Some("muster::client_error"), Some("INFO"))
    );
    assert_eq!(l["route"], "/v1/candidates/{id}", "the template, never the raw path");
    assert_eq!(l["problem"], "not-found");

    let (unauth, id) = traced(&app, Method::GET, "/v1/candidates", None, &[("authorization", "")]).await;
    unauth.problem(401);
    let l = line_of(&id);
    assert_eq!(
        (l["kind"].as_str(), l["level"].as_str(), l["problem"].as_str()),
        (Some("client_error"), Some("WARN"), Some("unauthorized"))
    );
    assert!(l.get("sub").is_none(), "no caller without a token: {l}");

    let (nowhere, id) = traced(&app, Method::GET, "/nowhere/at/all", None, &[]).await;
    nowhere.problem(404);
    assert_eq!(line_of(&id)["route"], "unmatched");

    let (health, id) = traced(&app, Method::GET, "/health", None, &[]).await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(lines_of(&id).is_empty(), "probes are logged at debug, below the default filter");

    let (created, id) =
        traced(&app, Method::POST, "/v1/candidates", Some(&json!({"name": "Log Me", "office": "Mayor"})), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(line_of(&id)["kind"], "access");
}

async fn secrets_and_personal_data_stay_out_of_the_log(app: TestApp) {
    capture_logs();
    let email = format!("ana.{}@example.org", uuid::Uuid::now_v7().simple());
    let body = json!({"first_name": "Ana", "last_name": "Garcia", "email": email, "phone": "(415) 555-0132"});
    app.create("volunteers", body.clone()).await;
    let (dup, dup_id) = traced(&app, Method::POST, "/v1/volunteers", Some(&body), &[]).await;
    dup.problem(409);
    let (_, filter_id) = traced(&app, Method::GET, &format!("/v1/volunteers?email={email}"), None, &[]).await;
    let bad_token = mint("mallory", "read", -3600);
    let (expired, expired_id) =
        traced(&app, Method::GET, "/v1/volunteers", None, &[("authorization", &format!("Bearer {bad_token}"))]).await;
    expired.problem(401);

    let q = line_of(&filter_id)["query"].as_str().unwrap().to_owned();
    assert!(q.starts_with("email=a***%40example.org") || q.starts_with("email=a***@example.org"), "{q}");
    assert_eq!(line_of(&dup_id)["kind"], "client_error");
    assert_eq!(line_of(&expired_id)["detail"], "the bearer token was refused: the token has expired");
    let text = all_text();
    for secret in [email.as_str(), "4155550132", "555-0132", app.token.as_str(), bad_token.as_str(), TEST_SECRET] {
        assert!(!text.contains(secret), "{secret:?} reached the log");
    }
}

async fn business_counters_move_only_on_successful_creates(app: TestApp) {
    capture_logs();
    let before = app.state.metrics.render();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let c = app.candidate().await;
    let e = app.event(&c["id"], Some(1)).await;
    let v1 = app.volunteer(&format!("one-{tag}@example.org")).await;
    let v2 = app.volunteer(&format!("two-{tag}@example.org")).await;
    // refused creates count nothing
    app.post(
        "/v1/volunteers",
        &json!({"first_name": "A", "last_name": "B", "email": format!("ONE-{tag}@example.org")}),
    )
    .await
    .problem(409);
    app.post("/v1/volunteers", &json!({"first_name": "", "email": "nope"})).await.problem(422);
    app.post("/v1/events", &json!({"title": "no candidate"})).await.problem(422);
    // a replayed idempotent create is one volunteer
    let body = json!({"first_name": "Ida", "last_name": "Em", "email": format!("ida-{tag}@example.org")});
    for _ in 0..2 {
        let r = app.send(Method::POST, "/v1/volunteers", Some(&body), &[("idempotency-key", &tag)]).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let seated = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v1["id"]})).await;
    let waiting = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v2["id"]})).await;
    assert_eq!((seated["status"].as_str(), waiting["status"].as_str()), (Some("registered"), Some("waitlisted")));
    app.post("/v1/attendances", &json!({"event_id": e["id"], "volunteer_id": v2["id"]})).await.problem(409);
    // a second check-in returns the first one and is not counted again
    let seat = format!("/v1/attendances/{}/check-in", seated["id"].as_str().unwrap());
    for _ in 0..2 {
        assert_eq!(app.post(&seat, &json!({})).await.status, StatusCode::OK);
    }
    app.post(&format!("/v1/attendances/{}/check-in", waiting["id"].as_str().unwrap()), &json!({})).await.problem(409);

    // the audit trail is written off the request path: wait for it
    app.state.audit.flush().await;
    let moved = deltas(&before, &app.state.metrics.render());
    let business: BTreeMap<&str, f64> = moved
        .iter()
        .filter(|(k, _)| k.starts_with("muster_") && k.contains("_total") && !k.starts_with("muster_audit_"))
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    // the three volunteers' creation is on the audit trail: one entry, or two when a window
    // of the writer closed between them
    let audited = moved.get("muster_audit_entries_written_total").copied().unwrap_or(0.0);
    assert!((1.0..=3.0).contains(&audited), "{moved:?}");
    assert_eq!(
        business,
        BTreeMap::from([
            ("muster_attendances_created_total{status=\"registered\"}", 1.0),
            ("muster_attendances_created_total{status=\"waitlisted\"}", 1.0),
            ("muster_candidates_created_total", 1.0),
            ("muster_checkins_total", 1.0),
            ("muster_events_created_total", 1.0),
            ("muster_volunteers_created_total", 3.0),
        ])
    );

    // the gauges count rows, not requests
    app.state.metrics.set_counts(&app.state.store.counts().await.unwrap());
    let text = app.state.metrics.render();
    let now = samples(&text);
    assert_eq!(now["muster_rows{table=\"volunteers\"}"], 3.0);
    assert_eq!(now["muster_rows{table=\"attendances\"}"], 2.0);
    assert_eq!(now["muster_attendances{status=\"attended\"}"], 1.0);
    assert_eq!(now["muster_attendances{status=\"waitlisted\"}"], 1.0);
    assert!(now["muster_rows_refreshed_timestamp_seconds"] > 1.7e9);
}

async fn http_and_gate_counters(app: TestApp) {
    capture_logs();
    let before = app.state.metrics.render();
    for _ in 0..3 {
        assert_eq!(app.get("/v1/events").await.status, StatusCode::OK);
    }
    app.get("/v1/events/0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d").await.problem(404);
    app.send(Method::GET, "/v1/events", None, &[("authorization", "")]).await.problem(401);
    let expired = format!("Bearer {}", mint("old", "read", -3600));
    app.send(Method::GET, "/v1/events", None, &[("authorization", &expired)]).await.problem(401);
    let reader = format!("Bearer {}", mint("reader", "read", 3600));
    app.send(Method::POST, "/v1/events", Some(&json!({})), &[("authorization", &reader)]).await.problem(403);
    app.send(Method::GET, "/v1/events", None, &[("authorization", "Bearer not-a-jwt")]).await.problem(401);
    let moved = deltas(&before, &app.state.metrics.render());
    let expect = [
        ("http_requests_total{method=\"GET\",route=\"/v1/events\",status=\"200\"}", 3.0),
        ("http_requests_total{method=\"GET\",route=\"/v1/events/{id}\",status=\"404\"}", 1.0),
        ("http_client_errors_total{method=\"GET\",route=\"/v1/events/{id}\",status=\"404\"}", 1.0),
        ("http_requests_total{method=\"GET\",route=\"/v1/events\",status=\"401\"}", 3.0),
        ("http_client_errors_total{method=\"GET\",route=\"/v1/events\",status=\"401\"}", 3.0),
        ("http_client_errors_total{method=\"POST\",route=\"/v1/events\",status=\"403\"}", 1.0),
        ("muster_auth_failures_total{reason=\"missing\"}", 1.0),
        ("muster_auth_failures_total{reason=\"expired\"}", 1.0),
        ("muster_auth_failures_total{reason=\"malformed\"}", 1.0),
        ("muster_auth_failures_total{reason=\"insufficient_scope\"}", 1.0),
        ("http_request_duration_seconds_count{method=\"GET\",route=\"/v1/events\"}", 6.0),
    ];
    for (series, n) in expect {
        assert_eq!(moved.get(series), Some(&n), "{series}: {moved:#?}");
    }
    assert!(!moved.keys().any(|k| k.starts_with("http_server_errors_total")), "{moved:#?}");
    assert_eq!(metric(&app, "http_requests_in_flight"), 0.0);
}

async fn client_reports_are_logged_counted_and_kept(app: TestApp) {
    capture_logs();
    // a token without any scope may still report its errors
    let reader = format!("Bearer {}", mint("web-app", "", 3600));
    let report = json!({
        "message": "TypeError: cannot read 'email' of undefined (user ana@example.org)",
        "stack": "at render (app.js:10:5)\nat main (app.js:1:1)",
        "url": "https://app.example.org/events?access_token=abc123&tab=2",
        "release": "web-1.4.2",
        "level": "fatal",
    });
    let before = metric(&app, "muster_client_reports_total{level=\"fatal\"}");
    let (r, id) = traced(&app, Method::POST, "/v1/client-errors", Some(&report), &[("authorization", &reader)]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "any valid token may report: {}", r.body);
    let lines = lines_of(&id);
    let report_line = lines.iter().find(|l| l["kind"] == "client_report").expect("a client_report line");
    assert_eq!(
        (report_line["target"].as_str(), report_line["level"].as_str()),
        (Some("muster::client_report"), Some("WARN"))
    );
    assert_eq!(report_line["report_level"], "fatal");
    assert_eq!(report_line["message"], "TypeError: cannot read 'email' of undefined (user a***@example.org)");
    assert_eq!(report_line["url"], "https://app.example.org/events?access_token=***&tab=2");
    assert_eq!(report_line["report_id"], r.body["id"]);
    assert_eq!(report_line["sub"], "web-app");
    assert!(lines.iter().any(|l| l["kind"] == "access" && l["status"] == 202), "{lines:#?}");
    assert_eq!(metric(&app, "muster_client_reports_total{level=\"fatal\"}"), before + 1.0);

    let listed = app.get("/v1/admin/client-errors?level=fatal").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["data"][0]["id"], r.body["id"]);
    assert_eq!(listed.body["data"][0]["release"], "web-1.4.2");
    assert_eq!(listed.body["data"][0]["request_id"], id.as_str());
    app.send(Method::GET, "/v1/admin/client-errors", None, &[("authorization", &reader)]).await.problem(403);

    app.send(Method::POST, "/v1/client-errors", Some(&json!({"message": "x", "level": "meh"})), &[]).await.problem(422);
    let huge = json!({"message": "x".repeat(40 * 1024)});
    app.send(Method::POST, "/v1/client-errors", Some(&huge), &[]).await.problem(413);
    let unreported = metric(&app, "muster_client_reports_total{level=\"error\"}");
    assert_eq!(unreported, 0.0, "refused reports are not counted");
}

// ---- on one backend: a real server error, a panic, a report budget, the admin listener ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_schema_is_a_server_error_line_with_its_cause() {
    capture_logs();
    let store = muster_store_postgres::testing::fresh_store().await;
    let mut conn = store.connection().await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&mut *conn).await.unwrap();
    let app = support::spawn_with(Arc::new(store), support::Options::default()).await;
    app.candidate().await;
    let before = app.state.metrics.render();

    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&mut *conn).await.unwrap();
    let (r, id) = traced(&app, Method::GET, "/v1/candidates", None, &[]).await;
    r.problem(500);
    let l = line_of(&id);
    assert_eq!(
        (l["kind"].as_str(), l["target"].as_str(), l["level"].as_str()),
        (Some("server_error"), Some("muster::server_error"), Some("ERROR"))
    );
    assert_eq!(l["status"], 500);
    assert_eq!(l["problem"], "internal");
    let cause = l["cause"].as_str().unwrap();
    assert!(cause.contains("does not exist"), "the database's own words reach the log, not the client: {cause}");
    assert!(!r.body.to_string().contains("does not exist"));

    let moved = deltas(&before, &app.state.metrics.render());
    assert_eq!(
        moved.get("http_server_errors_total{method=\"GET\",route=\"/v1/candidates\",status=\"500\"}"),
        Some(&1.0)
    );
    assert!(!moved.keys().any(|k| k.starts_with("http_client_errors_total")), "{moved:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_500_and_a_server_error_line() {
    let boom = axum::Router::new().route(
        "/boom",
        axum::routing::get(|| async {
            if std::hint::black_box(true) {
                panic!("kaboom while serving ana@example.org");
            }
            "unreachable"
        }),
    );
    let app = spawn_custom(support::fresh_store(Backend::Sqlite).await, |_| {}, boom).await;
    let (r, id) = traced(&app, Method::GET, "/boom", None, &[]).await;
    r.problem(500);
    assert_eq!(r.body["request_id"], id.as_str());
    let l = line_of(&id);
    assert_eq!(
        (l["kind"].as_str(), l["level"].as_str(), l["route"].as_str()),
        (Some("server_error"), Some("ERROR"), Some("/boom"))
    );
    assert_eq!(l["cause"], "handler panicked: kaboom while serving a***@example.org");
    assert!(l["panic_at"].as_str().unwrap().contains("observability.rs"), "{l}");
    assert_eq!(metric(&app, "muster_panics_total"), 1.0);
    // the server survived
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reports_have_their_own_budget() {
    let app = spawn_custom(
        support::fresh_store(Backend::Sqlite).await,
        |st| st.client_reports.rate = Quota::parse("2/min").unwrap(),
        axum::Router::new(),
    )
    .await;
    let report = json!({"message": "again"});
    for _ in 0..2 {
        assert_eq!(app.post("/v1/client-errors", &report).await.status, StatusCode::ACCEPTED);
    }
    let refused = app.post("/v1/client-errors", &report).await;
    refused.problem(429);
    assert!(refused.header("retry-after").is_some());
    assert_eq!(metric(&app, "muster_rate_limited_total{policy=\"client_reports\"}"), 1.0);
    assert_eq!(metric(&app, "muster_client_reports_total{level=\"error\"}"), 2.0);
    assert_eq!(app.get("/v1/candidates").await.status, StatusCode::OK, "the general budget is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_rate_limit_counts_its_refusals() {
    let app = spawn_custom(
        support::fresh_store(Backend::Sqlite).await,
        |st| {
            let limits = Limits::new(RateLimiter::local(), Quota::parse("2/min").unwrap(), Vec::new());
            st.limits = Arc::new(limits);
        },
        axum::Router::new(),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(app.get("/v1/candidates").await.status, StatusCode::OK);
    }
    let (r, id) = traced(&app, Method::GET, "/v1/candidates", None, &[]).await;
    r.problem(429);
    assert_eq!(metric(&app, "muster_rate_limited_total{policy=\"default\"}"), 1.0);
    assert_eq!(line_of(&id)["level"], "WARN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_on_the_admin_listener_only() {
    capture_logs();
    let app = support::spawn_app(Backend::Postgres).await;
    let candidate = app.candidate().await;
    let id = candidate["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/candidates/{id}")).await.status, StatusCode::OK);
    app.get("/v1/nowhere").await.problem(404);
    app.get("/metrics").await.problem(404);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = format!("http://{}", listener.local_addr().unwrap());
    let server = muster::server::AdminServer::spawn(listener, app.state.clone());
    let r = reqwest::get(format!("{admin}/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = r.text().await.unwrap();
    let s = samples(&text);
    assert_eq!(s["muster_candidates_created_total"], 1.0);
    assert!(s["muster_store_pool_max_connections{pool=\"primary\"}"] >= 1.0);
    assert!(s.contains_key("muster_store_pool_connections{pool=\"primary\",state=\"in_use\"}"));
    assert_eq!(s["muster_cache_hits_total{resource=\"events\"}"], 0.0);
    assert_eq!(s["muster_cache_evictions_total"], 0.0);
    if support::cache_mode_under_test() == CacheMode::Memory {
        // the candidate just read is held: its key, body and ETag
        assert!(s["muster_cache_memory_bytes"] > 100.0, "{}", s["muster_cache_memory_bytes"]);
    } else {
        assert_eq!(s["muster_cache_memory_bytes"], 0.0, "no memory cache");
    }
    assert!(s["muster_store_query_duration_seconds_count"] >= 1.0, "statement timings reach the histogram");
    assert!(text.contains("muster_build_info{build="));
    promtool_accepts(&text);
    server.stop().await;
}

/// `promtool check metrics` on an exposition; CI sets `MUSTER_REQUIRE_PROMTOOL` so a
/// missing promtool fails there instead of skipping.
fn promtool_accepts(text: &str) {
    let spawned = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if std::env::var_os("MUSTER_REQUIRE_PROMTOOL").is_none() => {
            eprintln!("promtool not run ({e}); install the Debian package `prometheus` to check the exposition");
            return;
        }
        Err(e) => panic!("promtool is required (MUSTER_REQUIRE_PROMTOOL) but cannot run: {e}"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}\n---\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_health_and_fallbacks_are_metrics() {
    let scrape = |app: &TestApp| {
        let state = app.state.clone();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/metrics", listener.local_addr().unwrap());
            let server = muster::server::AdminServer::spawn(listener, state);
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            server.stop().await;
            samples(&text)
        }
    };
    let up = support::spawn_with(
        support::fresh_store(Backend::Sqlite).await,
        support::Options { redis_url: Some("redis://127.0.0.1:6379".into()), ..Default::default() },
    )
    .await;
    assert_eq!(up.get("/v1/candidates").await.status, StatusCode::OK);
    let s = scrape(&up).await;
    assert_eq!(s.get("muster_redis_up{used_for=\"rate_limit\"}"), Some(&1.0), "{s:#?}");
    assert_eq!(s["muster_rate_limit_fallbacks_total"], 0.0);

    // nothing listens on port 1: every check falls back to the in-process limiter
    let down = support::spawn_with(
        support::fresh_store(Backend::Sqlite).await,
        support::Options { redis_url: Some("redis://127.0.0.1:1".into()), ..Default::default() },
    )
    .await;
    assert_eq!(down.get("/v1/candidates").await.status, StatusCode::OK, "served without Redis");
    let s = scrape(&down).await;
    assert_eq!(s.get("muster_redis_up{used_for=\"rate_limit\"}"), Some(&0.0));
    assert!(s["muster_rate_limit_fallbacks_total"] >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cors_preflight_goes_through_the_edge() {
    let origin = "https://app.example.org";
    let app = spawn_custom(
        support::fresh_store(Backend::Sqlite).await,
        |st| st.cors_origins = Arc::new(vec![axum::http::HeaderValue::from_static(origin)]),
        axum::Router::new(),
    )
    .await;
    // as a browser sends it: no credentials
    let preflight = |id: Option<&str>| {
        let mut req = app
            .client
            .request(Method::OPTIONS, format!("{}/v1/candidates", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type,idempotency-key");
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let id = rid("preflight");
    let r = preflight(Some(&id)).await.unwrap();
    let h = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(r.status(), StatusCode::OK, "answered before the gate, which would want a token");
    assert_eq!(h("access-control-allow-origin").as_deref(), Some(origin));
    assert!(h("access-control-allow-methods").is_some_and(|m| m.contains("POST")), "{:?}", r.headers());
    assert!(h("access-control-allow-headers").is_some_and(|m| m.contains("idempotency-key")), "{:?}", r.headers());
    assert_eq!(h("x-request-id").as_deref(), Some(id.as_str()), "the request id is echoed");
    let build = h("x-muster-build").expect("the build header");
    assert_eq!(build, format!("{}+{}.{}", app.state.build.version, app.state.build.build, app.state.build.commit));
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
        ("strict-transport-security", "max-age=63072000"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(h(name).as_deref(), Some(value), "{name}");
    }
    assert!(h("www-authenticate").is_none() && h("ratelimit").is_none(), "the gate did not see it: {:?}", r.headers());
    let l = line_of(&id);
    assert_eq!(
        (l["kind"].as_str(), l["method"].as_str(), l["route"].as_str(), l["status"].as_u64()),
        (Some("access"), Some("OPTIONS"), Some("/v1/candidates"), Some(200))
    );
    assert_eq!(metric(&app, "http_requests_total{method=\"OPTIONS\",route=\"/v1/candidates\",status=\"200\"}"), 1.0);

    // without an id of its own the preflight gets one, like any request
    let r = preflight(None).await.unwrap();
    let id = r.headers().get("x-request-id").and_then(|v| v.to_str().ok()).expect("a generated request id");
    assert_eq!(line_of(id)["method"], "OPTIONS");

    // the gate's refusal of the real request still carries CORS, so the page can read it
    let (refused, id) =
        traced(&app, Method::GET, "/v1/candidates", None, &[("origin", origin), ("authorization", "")]).await;
    refused.problem(401);
    assert_eq!(refused.header("access-control-allow-origin"), Some(origin));
    assert!(refused.header("access-control-expose-headers").is_some_and(|e| e.contains("x-request-id")));
    assert_eq!(refused.header("x-request-id"), Some(id.as_str()));
    assert_eq!(line_of(&id)["status"], 401);
}
