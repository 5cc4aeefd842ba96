//! Outages that hang instead of refusing: PostgreSQL and Redis behind a TCP proxy that stops
//! forwarding without closing anything (a partition, a hung host), then resumes.
//!
//! The bounds asserted here are the contract's (an answer within the acquire timeout plus
//! the statement timeout, recovery within 5 s), each with a second of slack for a loaded
//! machine; they tell a hang (tens of seconds, until the request timeout) from a refusal.
//! The measured figures come from `bench/soak`, which runs the same faults under load.

mod support;

use muster_api::redis_link::{RedisLink, RedisOptions};
use muster_domain::volunteer::NewVolunteer;
use muster_store::{Store, StoreError};
use muster_store_postgres::{PgSettings, PgStore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const SLACK: Duration = Duration::from_secs(1);
const RECOVERY: Duration = Duration::from_secs(5);

/// A TCP proxy that can stop forwarding in both directions without closing a connection:
/// bytes read meanwhile are held, new connections are accepted and left waiting.
struct BlackHole {
    addr: SocketAddr,
    open: watch::Sender<bool>,
}

impl BlackHole {
    async fn start(upstream: SocketAddr) -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, _) = watch::channel(true);
        let gate = open.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut gate = gate.clone();
                tokio::spawn(async move {
                    if gate.wait_for(|o| *o).await.is_err() {
                        return;
                    }
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::spawn(pipe(cr, sw, gate.clone()));
                    tokio::spawn(pipe(sr, cw, gate));
                });
            }
        });
        BlackHole { addr, open }
    }

    fn hang(&self) {
        self.open.send_replace(false);
    }

    fn resume(&self) {
        self.open.send_replace(true);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut open: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if open.wait_for(|o| *o).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if open.wait_for(|o| *o).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `host:port` of a `scheme://[user@]host:port[/db]` URL.
fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Connection settings of the stores behind the proxy: 4 connections, 1 s to get one, 1 s a
/// statement.
const ACQUIRE: Duration = Duration::from_secs(1);
const STATEMENT: Duration = Duration::from_secs(1);

/// A migrated schema of its own: a store straight to PostgreSQL (to check what was
/// written), the proxy, and a store through it.
async fn behind_a_black_hole() -> (PgStore, BlackHole, Arc<dyn Store>) {
    let (direct, url, schema) = muster_store_postgres::testing::fresh_schema(None).await;
    let upstream = tokio::net::lookup_host(host_port(&url)).await.unwrap().next().unwrap();
    let hole = BlackHole::start(upstream).await;
    let proxied = url.replace(host_port(&url), &hole.addr.to_string());
    let settings = PgSettings {
        max_connections: 4,
        acquire_timeout: ACQUIRE,
        statement_timeout: Some(STATEMENT),
        schema: Some(schema),
        observe: None,
    };
    (direct, hole, Arc::new(PgStore::connect(&proxied, &settings).unwrap()))
}

fn volunteer(email: &str) -> NewVolunteer {
    let v = serde_json::json!({"first_name": "Hang", "last_name": "Test", "email": email});
    NewVolunteer::from_json(v.as_object().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_is_refused_in_bounded_time_and_comes_back() {
    let (direct, hole, store) = behind_a_black_hole().await;
    let c = muster_store::testing::candidate(&*store, "Through the proxy").await;
    // two connections open and idle, so the hang catches some mid-query and some connecting
    let (a, b) = tokio::join!(store.get_candidate(c.id), store.ping());
    a.unwrap();
    b.unwrap();

    hole.hang();
    let bound = ACQUIRE + STATEMENT + Duration::from_millis(500) + SLACK;
    let started = Instant::now();
    // more callers than connections: some wait for a slot, some for a connect, some for
    // an answer on a connection that was open; reads and writes alike
    let calls = (0..12).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            let r = if i % 3 == 0 {
                store.create_volunteer(volunteer(&format!("hang-{i}@example.org"))).await.map(drop)
            } else {
                store.get_candidate(c.id).await.map(drop)
            };
            (r, t.elapsed())
        })
    });
    let answered = tokio::time::timeout(bound * 3, futures::future::join_all(calls)).await;
    for call in answered.expect("the store's calls hang while PostgreSQL does") {
        let (result, took) = call.unwrap();
        assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
        assert!(took <= bound, "answered after {took:?}, bound {bound:?}");
    }
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))), "readiness sees the hang");
    assert!(started.elapsed() <= bound * 2, "the calls ran side by side: {:?}", started.elapsed());

    hole.resume();
    let resumed = Instant::now();
    while store.ping().await.is_err() {
        assert!(resumed.elapsed() <= RECOVERY, "not back within {RECOVERY:?} of the network");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.get_candidate(c.id).await.unwrap();
    let v = store.create_volunteer(volunteer("after@example.org")).await.unwrap();
    assert!(resumed.elapsed() <= RECOVERY + SLACK, "back after {:?}", resumed.elapsed());
    // the writes refused during the hang wrote nothing; the one after it is there once
    let all = direct.list_volunteers(&Default::default(), muster_store::Page::default()).await.unwrap();
    assert_eq!(all.items.iter().map(|x| x.id).collect::<Vec<_>>(), vec![v.id]);
}

/// A POST with an Idempotency-Key whose claim reached PostgreSQL while its answer did not
/// (held in the hang, delivered after it): the request got a 503, and the client's retry
/// must go through within seconds of the recovery, once, not answer 409 until the claim is
/// abandoned a minute later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_write_cut_off_by_a_hang_goes_through_soon_after_and_once() {
    let (direct, hole, store) = behind_a_black_hole().await;
    let app = support::spawn_with(store.clone(), support::Options::default()).await;
    let body = serde_json::json!({"first_name": "Cut", "last_name": "Off", "email": "cut-off@example.org"});
    let key = [("idempotency-key", "cut-off-1")];
    // an open connection that has run the claim's statement before, so the claim is sent
    // into the hang whole rather than waiting to connect (or for its statement's parse)
    let warm = serde_json::json!({"first_name": "Warm", "last_name": "Up", "email": "warm-up@example.org"});
    let r = app.send(reqwest::Method::POST, "/v1/volunteers", Some(&warm), &[("idempotency-key", "warm-up")]).await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
    // background work (the audit trail's flush) may still hold it for a moment
    let idle = Instant::now();
    while store.pool_stats()[0].idle == 0 {
        assert!(idle.elapsed() < Duration::from_secs(5), "no idle connection: {:?}", store.pool_stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    hole.hang();
    let cut = app.send(reqwest::Method::POST, "/v1/volunteers", Some(&body), &key).await;
    assert_eq!(cut.status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{}", cut.body);
    hole.resume();
    let resumed = Instant::now();
    let created = loop {
        let r = app.send(reqwest::Method::POST, "/v1/volunteers", Some(&body), &key).await;
        if r.status == reqwest::StatusCode::CREATED {
            break r;
        }
        assert!(
            [reqwest::StatusCode::CONFLICT, reqwest::StatusCode::SERVICE_UNAVAILABLE].contains(&r.status),
            "{}: {}",
            r.status,
            r.body
        );
        assert!(resumed.elapsed() <= RECOVERY, "the retry still gets {} after {:?}", r.status, resumed.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let filter = muster_store::VolunteerFilter { email: Some("cut-off@example.org".into()), ..Default::default() };
    let rows = direct.list_volunteers(&filter, muster_store::Page::default()).await.unwrap();
    assert_eq!(
        rows.items.iter().map(|v| v.id.to_string()).collect::<Vec<_>>(),
        vec![created.body["id"].as_str().unwrap()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_is_skipped_and_rejoined() {
    let url = "redis://127.0.0.1:6379";
    let upstream = tokio::net::lookup_host(host_port(url)).await.unwrap().next().unwrap();
    let hole = BlackHole::start(upstream).await;
    let options = RedisOptions { timeout: Duration::from_millis(250), ..RedisOptions::default() };
    let link = RedisLink::new(&format!("redis://{}", hole.addr), options).unwrap();
    let ping = |link: Arc<RedisLink>| async move {
        link.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await }).await
    };
    assert_eq!(ping(link.clone()).await.as_deref(), Some("PONG"), "Redis reachable through the proxy");

    hole.hang();
    let started = Instant::now();
    assert_eq!(ping(link.clone()).await, None, "a hung Redis is a miss, not a wait");
    assert!(started.elapsed() <= options.timeout + SLACK, "skipped after {:?}", started.elapsed());
    // while the breaker is open the following calls do not wait at all
    let skipped = Instant::now();
    for _ in 0..100 {
        assert_eq!(ping(link.clone()).await, None);
    }
    assert!(skipped.elapsed() <= SLACK, "100 skipped calls took {:?}", skipped.elapsed());
    assert!(!link.healthy());

    hole.resume();
    let resumed = Instant::now();
    while !(link.healthy() && ping(link.clone()).await.is_some()) {
        assert!(resumed.elapsed() <= RECOVERY, "Redis not rejoined within {RECOVERY:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
