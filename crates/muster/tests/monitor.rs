//! The monitor against real servers: killing the target opens an incident within two
//! intervals and a restart closes it, with both webhook messages delivered to a receiver on
//! 127.0.0.1 (whose first answer is a 500, so the retry is exercised too); a new build on
//! the target is a deploy marker in the store and on the dashboard; a maintenance window
//! posted to `POST /api/maintenance` while the target is down keeps the outage out of
//! availability and shows it apart; `/ready` failing fast sends one budget-burn alert, and
//! none (nor an incident) while the failures are inside a maintenance window.

mod support;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use muster_api::auth::Secret;
use muster_e2e::Tokens;
use muster_monitor::db::Db;
use muster_monitor::{E2eMode, Monitor, Settings, Target};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Backend, Options, TEST_SECRET, TestApp, fresh_store, spawn_on};

/// A fresh SQLite store for one monitor.
async fn monitor_db() -> (Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("muster-monitor-test-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = Db::open(&format!("sqlite://{}", dir.join("monitor.db").display())).await.unwrap();
    (db, dir)
}

async fn start(settings: Settings, db: Db) -> Monitor {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Monitor::start(settings, db, listener).await.unwrap()
}

/// What the receiver got, and how many calls it answered.
type Received = (Arc<Mutex<Vec<Value>>>, Arc<std::sync::atomic::AtomicUsize>);

/// A webhook receiver on 127.0.0.1 that keeps every body; its first answer is a 500.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|State((got, calls)): State<Received>, Json(body): Json<Value>| async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                got.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }),
        )
        .with_state((got.clone(), calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// The API on `addr` (port 0 for any), over `store`, reporting `build`.
async fn api_on(addr: SocketAddr, store: Arc<dyn muster_store::Store>, build: &str) -> TestApp {
    let mut tries = 0;
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            // the old server may still be closing its last connection
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot listen on {addr} again: {e}"),
        }
    };
    spawn_on(listener, store, Options { build_number: Some(build.into()), ..Options::default() }).await
}

async fn until<T>(what: &str, within: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn settings(app: &TestApp) -> Settings {
    let mut s = Settings::new(vec![Target { name: "api".into(), url: app.base.clone(), metrics: None }]);
    s.interval = Duration::from_secs(1);
    s.probe_interval = Duration::from_millis(250);
    s.timeout = Duration::from_secs(2);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_opens_an_incident_within_two_intervals_and_a_restart_closes_it() {
    let store = fresh_store(Backend::Sqlite).await;
    let app = api_on("127.0.0.1:0".parse().unwrap(), store.clone(), "7").await;
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let (hook, got) = receiver().await;
    let (db, _dir) = monitor_db().await;
    let mut s = settings(&app);
    s.e2e = E2eMode::Smoke;
    let signer = muster::token::Signer { secret: Secret::new(TEST_SECRET.into()), issuer: None, audience: None };
    s.tokens = Some(Tokens::Minted(Arc::new(signer)));
    s.webhooks = vec![hook];
    let interval = s.interval;
    let monitor = start(s, db.clone()).await;
    let base = format!("http://{}", monitor.addr);

    // healthy first: E2E runs pass and no incident opens
    until("a passing E2E run", Duration::from_secs(10), async || {
        let runs = db.probes("api", "e2e", 0, i64::MAX).await.unwrap();
        runs.iter().any(|p| p.ok).then_some(())
    })
    .await;
    assert!(db.open_incidents().await.unwrap().is_empty());

    let killed = Instant::now();
    let killed_ms = muster_monitor::time::now_ms();
    drop(app);
    let incident = until("an incident to open", interval * 2 + Duration::from_millis(500), async || {
        db.open_incidents().await.unwrap().into_iter().next()
    })
    .await;
    let took = killed.elapsed();
    assert!(took <= interval * 2, "opened {took:?} after the kill; two intervals are {:?}", interval * 2);
    assert!(incident.started_ms >= killed_ms - 300, "{incident:?}");
    assert!(incident.cause.contains("unreachable") || incident.cause.contains("ready"), "{}", incident.cause);
    assert_eq!(incident.build.as_deref().map(|b| b.starts_with("7 (")), Some(true), "{incident:?}");
    let metrics = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("muster_monitor_incidents_open{target=\"api\"} 1"), "{metrics}");

    let _app = api_on(addr, store, "7").await;
    let closed = until("the incident to close", Duration::from_secs(10), async || {
        db.incidents(Some("api"), 0, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.id == incident.id && i.ended_ms.is_some())
    })
    .await;
    assert!(closed.ended_ms.unwrap() > closed.started_ms);

    // both messages, in order, generic JSON with Slack's text; the first delivery got a 500
    let bodies = until("both webhook messages", Duration::from_secs(10), async || {
        let got = got.lock().unwrap().clone();
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(bodies[0]["event"], "incident.opened", "{bodies:?}");
    assert_eq!(bodies[1]["event"], "incident.resolved", "{bodies:?}");
    for b in &bodies[..2] {
        assert_eq!(b["target"], "api");
        assert!(b["text"].as_str().is_some_and(|t| t.contains("muster api")), "{b}");
        assert_eq!(b["details"]["id"], incident.id.as_str());
    }

    // the dashboard's API shows it with its duration and time to detect
    let summary: Value = reqwest::get(format!("{base}/api/summary?range=1h")).await.unwrap().json().await.unwrap();
    let shown = &summary["incidents"][0];
    assert_eq!(shown["id"], incident.id.as_str());
    assert!(shown["ended_at"].is_string() && shown["duration_ms"].as_i64().unwrap() > 0, "{shown}");
    assert!(shown["time_to_detect_ms"].as_i64().unwrap() >= 0);
    assert!(summary["availability"].as_f64().unwrap() < 100.0, "{summary}");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_build_is_a_deploy_marker() {
    let store = fresh_store(Backend::Sqlite).await;
    let app = api_on("127.0.0.1:0".parse().unwrap(), store.clone(), "100").await;
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let (db, _dir) = monitor_db().await;
    let mut s = settings(&app);
    s.e2e = E2eMode::Off;
    let monitor = start(s, db.clone()).await;
    until("the first build", Duration::from_secs(5), async || {
        db.deploys(Some("api"), 0, i64::MAX).await.unwrap().into_iter().next()
    })
    .await;

    drop(app);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _app = api_on(addr, store, "101").await;
    let deploy = until("a deploy from 100 to 101", Duration::from_secs(5), async || {
        db.deploys(Some("api"), 0, i64::MAX).await.unwrap().into_iter().find(|d| d.to_build.starts_with("101 ("))
    })
    .await;
    assert!(deploy.from_build.as_deref().is_some_and(|b| b.starts_with("100 (")), "{deploy:?}");

    // drawn on the dashboard's charts and listed beside them
    let page = reqwest::get(format!("http://{}/?range=1h", monitor.addr)).await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<line class="deploy""#), "no deploy marker on the charts");
    assert!(page.contains("→ 101 ("), "the deploy is not listed");
    let report =
        reqwest::get(format!("http://{}/report?range=1h&format=md", monitor.addr)).await.unwrap().text().await.unwrap();
    assert!(report.contains("| 100 (") && report.contains("| 101 ("), "{report}");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_posted_during_an_outage_keeps_it_out_of_availability() {
    let store = fresh_store(Backend::Sqlite).await;
    let app = api_on("127.0.0.1:0".parse().unwrap(), store, "7").await;
    let (db, _dir) = monitor_db().await;
    let mut s = settings(&app);
    s.e2e = E2eMode::Off;
    let monitor = start(s, db.clone()).await;
    let base = format!("http://{}", monitor.addr);
    let http = reqwest::Client::new();
    let failed = async || db.probes("api", "ready", 0, i64::MAX).await.unwrap().iter().filter(|p| !p.ok).count();
    // a few good probes first, so availability has something outside the window to measure
    until("passing /ready probes", Duration::from_secs(5), async || {
        (db.probes("api", "ready", 0, i64::MAX).await.unwrap().iter().filter(|p| p.ok).count() >= 4).then_some(())
    })
    .await;

    // the target goes down; the window is posted afterwards, reaching back to the moment it did
    let killed = Instant::now();
    drop(app);
    until("failing /ready probes", Duration::from_secs(5), async || (failed().await >= 2).then_some(())).await;
    let bad =
        http.post(format!("{base}/api/maintenance")).json(&serde_json::json!({"from": "now"})).send().await.unwrap();
    assert_eq!(bad.status(), 400, "a window without an end is refused");
    let posted = http
        .post(format!("{base}/api/maintenance"))
        .json(&serde_json::json!({
            "from": format!("-{}ms", killed.elapsed().as_millis()),
            "duration": "1h",
            "target": "api",
            "reason": "database upgrade"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let window: Value = posted.json().await.unwrap();
    let seen = failed().await;
    until("more failures inside the window", Duration::from_secs(5), async || {
        (failed().await >= seen + 3).then_some(())
    })
    .await;

    // every failure is inside the window: none counts, and availability stays 100 %
    let summary: Value = http.get(format!("{base}/api/summary?range=1h")).send().await.unwrap().json().await.unwrap();
    assert_eq!(summary["probes_failed"], 0, "{summary}");
    assert!(summary["probes"].as_i64().unwrap() >= 3, "the good probes before the window count: {summary}");
    assert!(summary["probes_in_maintenance"].as_i64().unwrap() >= i64::try_from(seen + 3).unwrap(), "{summary}");
    assert_eq!(summary["availability"].as_f64(), Some(100.0), "{summary}");
    assert_eq!(summary["maintenance"][0]["id"], window["id"], "{summary}");
    assert_eq!(summary["maintenance"][0]["reason"], "database upgrade");
    let listed: Value = http.get(format!("{base}/api/maintenance")).send().await.unwrap().json().await.unwrap();
    assert!(listed["data"].as_array().unwrap().iter().any(|w| w["id"] == window["id"]), "{listed}");

    // shown apart: a grey band on the charts and a line in the list, not a failure
    let page = http.get(format!("{base}/?range=1h")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<rect class="maintenance""#), "no maintenance band on the charts");
    assert!(page.contains("database upgrade (left out of availability)"), "the window is not listed");
    assert!(page.contains("100.00 %"), "availability is not 100 % on the dashboard");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_burn_alerts_once_and_maintenance_holds_it() {
    let store = fresh_store(Backend::Sqlite).await;
    let app = api_on("127.0.0.1:0".parse().unwrap(), store, "7").await;
    let (hook, got) = receiver().await;
    let (db, _dir) = monitor_db().await;
    let mut s = settings(&app);
    s.e2e = E2eMode::Off;
    s.webhooks = vec![hook.clone()];
    let monitor = start(s.clone(), db.clone()).await;
    until("passing /ready probes", Duration::from_secs(5), async || {
        (db.probes("api", "ready", 0, i64::MAX).await.unwrap().iter().filter(|p| p.ok).count() >= 3).then_some(())
    })
    .await;
    drop(app);
    // every probe failing is a burn far above 14.4x, once ten probes are in the hour
    let burns =
        async || got.lock().unwrap().iter().filter(|b| b["event"] == "budget.burn").cloned().collect::<Vec<Value>>();
    let burn = until("a budget.burn alert", Duration::from_secs(10), async || burns().await.into_iter().next()).await;
    assert_eq!(burn["target"], "api");
    assert!(burn["text"].as_str().is_some_and(|t| t.contains("error budget burning")), "{burn}");
    let (hour, five) =
        (burn["details"]["burn_rate_1h"].as_f64().unwrap(), burn["details"]["burn_rate_5m"].as_f64().unwrap());
    assert!(hour >= 14.4 && five >= 14.4, "{burn}");
    // still burning: no second alert until the hour's rate falls below the threshold again
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(burns().await.len(), 1, "the alert repeated while the burn went on");
    monitor.stop().await;

    // the same outage inside a maintenance window: no incident and no burn alert
    let (db, _dir) = monitor_db().await;
    let now = muster_monitor::time::now_ms();
    db.insert_maintenance(&muster_monitor::db::Maintenance {
        id: "upgrade".into(),
        target: None,
        starts_ms: now - 1000,
        ends_ms: now + 3_600_000,
        reason: "database upgrade".into(),
    })
    .await
    .unwrap();
    let (hook, held_got) = receiver().await;
    s.webhooks = vec![hook];
    let monitor = start(s, db.clone()).await;
    until("a dozen failing probes", Duration::from_secs(10), async || {
        (db.probes("api", "ready", 0, i64::MAX).await.unwrap().iter().filter(|p| !p.ok).count() >= 12).then_some(())
    })
    .await;
    // long enough for an alert's retry after the receiver's first 500 (0.5 s backoff)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(db.open_incidents().await.unwrap().is_empty(), "an incident opened inside maintenance");
    assert!(held_got.lock().unwrap().is_empty(), "alerts inside maintenance: {:?}", held_got.lock().unwrap());
    monitor.stop().await;
}
