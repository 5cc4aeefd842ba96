//! The E2E suite (`muster e2e`) against live servers: it passes on each backend (and, run by
//! `scripts/test`, each cache mode) at the default rate limit and leaves nothing behind; it
//! fails, naming the checks, against a server with another secret, a route that answers
//! 500, and a document with an operation no check covers; Ctrl-C still cleans up; nothing
//! listening is exit 2.

mod support;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use muster_api::auth::{AuthConfig, Secret};
use muster_api::ratelimit::Quota;
use muster_e2e::{Format, Outcome, Report, Tokens};
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Backend, Options, TEST_SECRET, TestApp, fresh_store, spawn_with};

fn signer(secret: &str) -> muster::token::Signer {
    muster::token::Signer { secret: Secret::new(secret.into()), issuer: None, audience: None }
}

fn options(base: &str) -> muster_e2e::Options {
    let mut o = muster_e2e::Options::new(base, Tokens::Minted(Arc::new(signer(TEST_SECRET))));
    o.include_rate_limit = true;
    o
}

/// A server at the production default of 100 requests a minute per caller.
async fn server(backend: Backend) -> TestApp {
    let opts = Options { rate: Quota::parse("100/min").unwrap(), ..Options::default() };
    spawn_with(fresh_store(backend).await, opts).await
}

async fn run(opts: &muster_e2e::Options) -> Report {
    muster_e2e::run(opts, std::future::pending()).await.expect("the target answers")
}

/// No row, flag or rate-limit override of any run is left (client error reports and the
/// flags' audit trail are append-only by design).
async fn assert_nothing_left(app: &TestApp) {
    let lists = [
        "/v1/candidates",
        "/v1/volunteers",
        "/v1/events",
        "/v1/attendances",
        "/v1/admin/flags",
        "/v1/admin/rate-limits",
    ];
    for list in lists {
        let r = app.get(list).await;
        assert_eq!(r.status, 200, "{list}: {}", r.body);
        assert_eq!(r.body["data"], json!([]), "{list} keeps rows of the suite");
    }
}

async fn the_suite_passes_and_cleans_up(backend: Backend) {
    let app = server(backend).await;
    let report = run(&options(&app.base)).await;
    assert!(report.ok(), "{}", report.render(Format::Human, false));
    assert_eq!(report.skipped, 0, "{}", report.render(Format::Human, false));
    assert!(report.passed >= 130, "{} checks", report.passed);
    let coverage = report.checks.iter().find(|c| c.name.starts_with("every operation of /openapi.json")).unwrap();
    assert_eq!(coverage.outcome, Outcome::Pass);
    assert!(report.build.as_deref().is_some_and(|b| b.starts_with(&muster::build_info(None).build)));
    for c in &report.checks {
        assert!(c.operation == "cleanup" || c.operation.contains(" /"), "{c:?}");
    }
    assert_nothing_left(&app).await;

    // a second run on the same server (the monitor's case) passes too
    let again = run(&options(&app.base)).await;
    assert!(again.ok(), "{}", again.render(Format::Human, false));
    assert_nothing_left(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_and_cleans_up_on_sqlite() {
    the_suite_passes_and_cleans_up(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_and_cleans_up_on_postgres() {
    the_suite_passes_and_cleans_up(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_is_ten_checks_and_read_only_writes_nothing() {
    let app = server(Backend::Sqlite).await;
    let mut smoke = options(&app.base);
    smoke.smoke = true;
    let report = run(&smoke).await;
    assert!(report.ok(), "{}", report.render(Format::Human, false));
    assert!(report.checks.len() <= 10, "{}", report.checks.len());
    assert_nothing_left(&app).await;

    // something to read, made outside the suite
    let cand = app.candidate().await;
    let vol = app.volunteer("reader@example.org").await;
    let event = app.event(&cand["id"], Some(3)).await;
    app.create("attendances", json!({"event_id": event["id"], "volunteer_id": vol["id"]})).await;
    let before: Vec<Value> = all_rows(&app).await;
    let mut read_only = options(&app.base);
    read_only.read_only = true;
    let report = run(&read_only).await;
    assert!(report.ok(), "{}", report.render(Format::Human, false));
    assert!(report.skipped > 50 && report.passed > 30, "{} passed, {} skipped", report.passed, report.skipped);
    for c in report.checks.iter().filter(|c| c.outcome == Outcome::Skip) {
        assert!(c.reason.is_some(), "{c:?}");
    }
    assert_eq!(all_rows(&app).await, before, "a read-only run changed data");
}

/// Every row of the four resources, as served.
async fn all_rows(app: &TestApp) -> Vec<Value> {
    let mut rows = Vec::new();
    for list in ["/v1/candidates", "/v1/volunteers", "/v1/events", "/v1/attendances"] {
        rows.extend(app.get(list).await.body["data"].as_array().unwrap().iter().cloned());
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_another_secret_fails_the_checks_that_need_a_token() {
    let opts = Options {
        auth: AuthConfig {
            hs256_secret: Some(Secret::new("another-secret-0123456789abcdef-0123".into())),
            ..Default::default()
        },
        ..Options::default()
    };
    let app = spawn_with(fresh_store(Backend::Sqlite).await, opts).await;
    let report = run(&options(&app.base)).await;
    assert!(!report.ok());
    let failed: Vec<_> = report.failures().collect();
    assert!(failed.len() > 20, "{}", report.render(Format::Human, false));
    for c in &failed {
        let why = c.reason.as_deref().unwrap_or("");
        assert!(c.status == Some(401) && why.contains("got 401"), "{c:?}");
    }
    for refusal in [
        "no token is a 401 with a Bearer challenge",
        "a token with a bad signature is a 401",
        "an expired token is a 401",
    ] {
        let c = report.checks.iter().find(|c| c.name == refusal).unwrap();
        assert_eq!(c.outcome, Outcome::Pass, "{c:?}");
    }
    assert!(report.failures().any(|c| c.name == "create a candidate"));
}

/// A proxy in front of `upstream` that answers some requests itself.
async fn proxy(upstream: String, fault: fn(&axum::http::Method, &str) -> Option<Response>) -> String {
    #[derive(Clone)]
    struct P {
        upstream: String,
        client: reqwest::Client,
        fault: fn(&axum::http::Method, &str) -> Option<Response>,
    }
    async fn forward(State(p): State<P>, req: Request) -> Response {
        let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
        if let Some(r) = (p.fault)(req.method(), &path) {
            return r;
        }
        let mut out = p.client.request(req.method().clone(), format!("{}{path}", p.upstream));
        for (k, v) in req.headers() {
            if k != "host" {
                out = out.header(k, v);
            }
        }
        let body = axum::body::to_bytes(req.into_body(), 64 << 20).await.unwrap();
        let answer = out.body(body).send().await.unwrap();
        let mut resp = Response::builder().status(answer.status().as_u16());
        for (k, v) in answer.headers().iter().filter(|(k, _)| *k != "content-length") {
            resp = resp.header(k, v);
        }
        let mut bytes = answer.bytes().await.unwrap();
        if path == "/openapi.json" {
            // the document with one operation no check covers
            let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
            doc["paths"]["/v1/extra"] = json!({"get": {"operationId": "extra"}});
            bytes = doc.to_string().into();
        }
        resp.body(Body::from(bytes)).unwrap()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(P { upstream, client: reqwest::Client::new(), fault });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// `muster e2e` as a person runs it, in its own process.
fn e2e(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MUSTER_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(std::env::temp_dir()).env("MUSTER_JWT_SECRET", TEST_SECRET).arg("e2e").args(args);
    cmd.output().expect("muster runs")
}

async fn e2e_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || e2e(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_that_answers_500_and_an_uncovered_operation_fail_the_run_by_name() {
    let app = spawn_with(fresh_store(Backend::Sqlite).await, Options::default()).await;
    let base = proxy(app.base.clone(), |method, path| {
        let id = path.strip_prefix("/v1/events/")?;
        (method == axum::http::Method::GET && !id.contains('/') && !id.contains('?'))
            .then(|| (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "broken on purpose").into_response())
    })
    .await;
    let out = e2e_async(vec!["--target".into(), base, "--format".into(), "json".into()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let failed: Vec<&Value> = report["checks"].as_array().unwrap().iter().filter(|c| c["outcome"] == "fail").collect();
    assert!(!failed.is_empty());
    for c in &failed {
        let op = c["operation"].as_str().unwrap();
        if op == "GET /openapi.json" {
            assert!(c["reason"].as_str().unwrap().contains("no check covers: GET /v1/extra"), "{c}");
        } else {
            assert_eq!(op, "GET /v1/events/{id}", "{c}");
            assert_eq!(c["status"], 500, "{c}");
        }
    }
    assert!(failed.iter().any(|c| c["operation"] == "GET /openapi.json"), "the coverage check did not fail");
    assert_eq!(report["failed"], failed.len());
    assert_nothing_left(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_run_and_still_cleans_up() {
    let app = server(Backend::Sqlite).await;
    let child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .current_dir(std::env::temp_dir())
        .env("MUSTER_JWT_SECRET", TEST_SECRET)
        .args(["e2e", "--target", &app.base, "--format", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // interrupt once the suite has written something
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = app.get("/v1/candidates").await;
        if r.body["data"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "the suite wrote nothing");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["interrupted"], true, "{report}");
    assert_nothing_left(&app).await;
}

#[test]
fn nothing_listening_is_exit_2_in_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = e2e(&["--target", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unreachable"), "{err}");
    for bad in [&["--target", "ftp://example.org"][..], &["--target", "http://127.0.0.1:1", "--format", "xml"]] {
        let out = e2e(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_output_is_written_beside_the_human_lines() {
    let app = spawn_with(fresh_store(Backend::Sqlite).await, Options::default()).await;
    let junit = std::env::temp_dir().join(format!("muster-e2e-{}.xml", uuid::Uuid::now_v7().simple()));
    let out = e2e_async(vec![
        "--target".into(),
        app.base.clone(),
        "--smoke".into(),
        "--junit".into(),
        junit.display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(human.contains("PASS") && !human.contains('\x1b'), "{human}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"muster e2e\"") && xml.contains("tests=\"10\""), "{xml}");
    let _ = std::fs::remove_file(junit);
}
