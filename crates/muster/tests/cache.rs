//! The response cache: freshness after every kind of write, TTLs, sharing through Redis,
//! stampede protection, 304s, and Redis going away. Each test picks its cache mode.

mod support;

use muster_api::cache::CacheMode;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use support::{Backend, Options, TestApp, spawn_with};

async fn app(cache: CacheMode) -> TestApp {
    spawn_with(support::fresh_store(Backend::Sqlite).await, Options { cache, ..Options::default() }).await
}

#[tokio::test]
async fn every_write_path_is_seen_on_the_next_read() {
    for mode in [CacheMode::Memory, CacheMode::Redis] {
        let app = app(mode).await;
        let c = app.candidate().await;
        let cpath = format!("/v1/candidates/{}", c["id"].as_str().unwrap());
        assert_eq!(app.get(&cpath).await.header("x-cache"), Some("miss"));
        assert_eq!(app.get(&cpath).await.header("x-cache"), Some("hit"));
        app.patch(&cpath, &json!({"party": "Green"})).await;
        assert_eq!(app.get(&cpath).await.body["party"], "Green", "{mode:?}: PATCH");
        // lists: a create shows in the next page
        assert_eq!(app.get("/v1/candidates").await.body["data"].as_array().unwrap().len(), 1);
        app.candidate().await;
        assert_eq!(app.get("/v1/candidates").await.body["data"].as_array().unwrap().len(), 2, "{mode:?}: create");
        // batch update
        let ops = json!({"operations": [{"op": "update", "id": c["id"], "data": {"party": "Blue"}}]});
        app.post("/v1/candidates/batch", &ops).await;
        assert_eq!(app.get(&cpath).await.body["party"], "Blue", "{mode:?}: batch");
        // side effects: cancelling a seat promotes a waitlisted attendance
        let e = app.event(&c["id"], Some(1)).await;
        let v1 = app.volunteer("c1@example.org").await;
        let v2 = app.volunteer("c2@example.org").await;
        let a1 = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v1["id"]})).await;
        let a2 = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v2["id"]})).await;
        let a2path = format!("/v1/attendances/{}", a2["id"].as_str().unwrap());
        let elist = format!("/v1/events/{}/attendances?status=registered", e["id"].as_str().unwrap());
        assert_eq!(app.get(&a2path).await.body["status"], "waitlisted");
        assert_eq!(app.get(&elist).await.body["data"].as_array().unwrap().len(), 1);
        app.patch(&format!("/v1/attendances/{}", a1["id"].as_str().unwrap()), &json!({"status": "cancelled"})).await;
        assert_eq!(app.get(&a2path).await.body["status"], "registered", "{mode:?}: promotion");
        assert_eq!(app.get(&elist).await.body["data"][0]["id"], a2["id"], "{mode:?}: related list");
        // a capacity raise seats the waitlist too
        let v3 = app.volunteer("c3@example.org").await;
        let a3 = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v3["id"]})).await;
        let a3path = format!("/v1/attendances/{}", a3["id"].as_str().unwrap());
        assert_eq!(app.get(&a3path).await.body["status"], "waitlisted");
        app.patch(&format!("/v1/events/{}", e["id"].as_str().unwrap()), &json!({"capacity": 5})).await;
        assert_eq!(app.get(&a3path).await.body["status"], "registered", "{mode:?}: capacity");
        // check-in and delete
        let checked = app.post(&format!("{a3path}/check-in"), &json!({})).await;
        assert_eq!(checked.body["status"], "attended");
        assert_eq!(app.get(&a3path).await.body["status"], "attended", "{mode:?}: check-in");
        app.delete(&a3path).await;
        app.get(&a3path).await.problem(404);
        // CSV upsert
        let vpath = format!("/v1/volunteers/{}", v1["id"].as_str().unwrap());
        assert_eq!(app.get(&vpath).await.body["first_name"], "Ana");
        let csv = "first_name,last_name,email\nAnnie,Garcia,c1@example.org\n";
        let r = app
            .client
            .post(format!("{}/v1/volunteers/import?upsert=true", app.base))
            .bearer_auth(&app.token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(app.get(&vpath).await.body["first_name"], "Annie", "{mode:?}: import");
    }
}

#[tokio::test]
async fn conditional_gets_answer_304() {
    let app = app(CacheMode::Memory).await;
    let c = app.candidate().await;
    let path = format!("/v1/candidates/{}", c["id"].as_str().unwrap());
    let first = app.get(&path).await;
    let tag = first.header("etag").unwrap().to_owned();
    assert_eq!(first.header("cache-control"), Some("private, no-cache"));
    let again = app.send(Method::GET, &path, None, &[("if-none-match", &tag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    let list = app.get("/v1/candidates").await;
    let ltag = list.header("etag").unwrap().to_owned();
    assert_eq!(
        app.send(Method::GET, "/v1/candidates", None, &[("if-none-match", &ltag)]).await.status,
        StatusCode::NOT_MODIFIED
    );
    app.candidate().await;
    assert_eq!(app.send(Method::GET, "/v1/candidates", None, &[("if-none-match", &ltag)]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn changes_behind_the_apis_back_show_after_the_ttl() {
    for mode in [CacheMode::Memory, CacheMode::Redis] {
        let store = support::fresh_store(Backend::Sqlite).await;
        let app = spawn_with(
            store.clone(),
            Options { cache: mode, cache_ttl: Duration::from_millis(800), ..Options::default() },
        )
        .await;
        let c = app.candidate().await;
        let path = format!("/v1/candidates/{}", c["id"].as_str().unwrap());
        app.get(&path).await;
        // a manual fix, straight into the store
        let patch =
            muster_domain::candidate::CandidatePatch::from_json(json!({"office": "Senate"}).as_object().unwrap())
                .unwrap();
        store.update_candidate(c["id"].as_str().unwrap().parse().unwrap(), patch, None).await.unwrap();
        assert_eq!(app.get(&path).await.body["office"], "Mayor", "{mode:?}: served from the cache until the TTL");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(app.get(&path).await.body["office"], "Senate", "{mode:?}: fresh after the TTL");
    }
}

#[tokio::test]
async fn two_instances_on_one_redis_see_each_others_writes() {
    let store = support::fresh_store(Backend::Sqlite).await;
    let prefix = format!("muster-test-cache:{}:", uuid::Uuid::now_v7().simple());
    let opts = || Options { cache: CacheMode::Redis, cache_prefix: Some(prefix.clone()), ..Options::default() };
    let a = spawn_with(store.clone(), opts()).await;
    let b = spawn_with(store, opts()).await;
    let c = a.candidate().await;
    let path = format!("/v1/candidates/{}", c["id"].as_str().unwrap());
    assert_eq!(a.get(&path).await.header("x-cache"), Some("miss"));
    assert_eq!(b.get(&path).await.header("x-cache"), Some("hit"), "one cache for the fleet");
    a.get("/v1/candidates").await;
    b.patch(&path, &json!({"office": "Governor"})).await;
    assert_eq!(a.get(&path).await.body["office"], "Governor");
    b.candidate().await;
    assert_eq!(a.get("/v1/candidates").await.body["data"].as_array().unwrap().len(), 2);
    // every key written carries an expiry
    let mut conn =
        redis::Client::open("redis://127.0.0.1:6379").unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(keys.len() >= 3, "{keys:?}");
    for k in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&k).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0, "{k} has no expiry ({ttl})");
    }
}

#[tokio::test]
async fn concurrent_misses_make_one_store_read() {
    for mode in [CacheMode::Memory, CacheMode::Redis] {
        let app = std::sync::Arc::new(app(mode).await);
        let c = app.candidate().await;
        let path = format!("/v1/candidates/{}", c["id"].as_str().unwrap());
        let tasks = (0..40).map(|_| {
            let (app, path) = (app.clone(), path.clone());
            tokio::spawn(async move { app.get(&path).await.status })
        });
        for t in futures::future::join_all(tasks).await {
            assert_eq!(t.unwrap(), StatusCode::OK);
        }
        let metrics = app.state.metrics.render();
        let count = |name: &str| {
            let series = format!("{name}{{resource=\"candidates\"}} ");
            metrics.lines().find_map(|l| l.strip_prefix(series.as_str())).map(|v| v.parse::<f64>().unwrap())
        };
        assert_eq!(count("muster_cache_misses_total"), Some(1.0), "{mode:?}: one load for 40 requests");
        assert_eq!(count("muster_cache_hits_total"), Some(39.0));
    }
}

#[tokio::test]
async fn redis_going_away_bypasses_the_cache_and_comes_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = || {
        std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH")
    };
    let wait_up = || async {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis did not start");
    };
    let mut redis = start();
    wait_up().await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_with(
        support::fresh_store(Backend::Sqlite).await,
        Options { cache: CacheMode::Redis, redis_url: Some(url), ..Options::default() },
    )
    .await;
    let c = app.candidate().await;
    let path = format!("/v1/candidates/{}", c["id"].as_str().unwrap());
    app.get(&path).await;
    assert_eq!(app.get(&path).await.header("x-cache"), Some("hit"));
    redis.kill().unwrap();
    redis.wait().unwrap();
    for _ in 0..3 {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-cache"), Some("bypass"));
    }
    let errors = || {
        let series = "muster_cache_errors_total{resource=\"candidates\"} ";
        let text = app.state.metrics.render();
        text.lines().find_map(|l| l.strip_prefix(series)).map_or(0.0, |v| v.parse::<f64>().unwrap())
    };
    let before = errors();
    app.patch(&path, &json!({"office": "Council"})).await;
    assert_eq!(errors(), before + 1.0, "the invalidation Redis missed is counted");
    assert_eq!(app.get(&path).await.body["office"], "Council", "writes and reads go on without Redis");
    let ready = app.get("/ready").await;
    assert_eq!((ready.status, ready.body["status"].as_str()), (StatusCode::OK, Some("degraded")));
    let mut redis = start();
    wait_up().await;
    let mut recovered = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = app.get(&path).await;
        assert_eq!(r.body["office"], "Council", "no stale entry survives the outage");
        if r.header("x-cache") == Some("hit") {
            recovered = true;
            break;
        }
    }
    redis.kill().unwrap();
    redis.wait().unwrap();
    assert!(recovered, "the cache comes back by itself");
}
