//! The Redis-backed limiter against real servers: the shared one on 127.0.0.1:6379 (or
//! `MUSTER_TEST_REDIS_URL`) for budgets, and a private `redis-server` child for the outage.
//!
//! Waits poll with generous deadlines and budget tests get a long Redis timeout, because a
//! loaded machine must slow these tests down, not make them fail.

use super::*;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

const PATIENT: RedisOptions = RedisOptions {
    timeout: Duration::from_secs(5),
    breaker: Duration::from_secs(1),
    warn_every: Duration::from_secs(5),
};

fn redis_url() -> String {
    std::env::var("MUSTER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn unique_prefix() -> String {
    format!("muster:test:rl:{}:", uuid::Uuid::now_v7())
}

async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap_or_else(|e| panic!("Redis at {url} must be running: {e}"))
}

/// Polls `cond` until it holds or `within` passes.
async fn eventually<F: AsyncFnMut() -> bool>(within: Duration, mut cond: F) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn burst_is_exact_and_answered_by_redis() {
    let rl = RateLimiter::redis_with_options(&redis_url(), &unique_prefix(), PATIENT).unwrap();
    let q = Quota::parse("5/min").unwrap();
    for i in 0..5 {
        let (d, backend) = rl.check_detailed("user", &q, 1).await;
        assert_eq!(backend, Backend::Redis, "request {i}");
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 4 - i);
    }
    let (d, backend) = rl.check_detailed("user", &q, 1).await;
    assert_eq!(backend, Backend::Redis);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    // T = 12 s; a little Redis time has passed since the first request.
    let retry = d.retry_after.unwrap();
    assert!(retry > Duration::from_secs(11) && retry <= Duration::from_secs(12), "{retry:?}");
    assert!(d.reset > Duration::from_secs(59) && d.reset <= Duration::from_secs(60), "{:?}", d.reset);
    assert_eq!(rl.redis_healthy(), Some(true));
    assert_eq!(rl.fallbacks(), 0);
}

#[tokio::test]
async fn redis_agrees_with_the_local_limiter() {
    let rl = RateLimiter::redis_with_options(&redis_url(), &unique_prefix(), PATIENT).unwrap();
    let local = RateLimiter::local();
    let q = Quota::parse("10/min").unwrap().with_burst(6);
    for cost in [2, 3, 2, 1, 7, 1, 1] {
        let (remote, backend) = rl.check_detailed("k", &q, cost).await;
        let here = local.check("k", &q, cost).await;
        assert_eq!(backend, Backend::Redis);
        assert_eq!((remote.allowed, remote.remaining), (here.allowed, here.remaining), "cost {cost}");
    }
}

#[tokio::test]
async fn instances_share_one_budget() {
    let prefix = unique_prefix();
    let a = RateLimiter::redis_with_options(&redis_url(), &prefix, PATIENT).unwrap();
    let b = RateLimiter::redis_with_options(&redis_url(), &prefix, PATIENT).unwrap();
    let q = Quota::parse("6/min").unwrap();
    let mut admitted = 0;
    for i in 0..20 {
        let rl = if i % 2 == 0 { &a } else { &b };
        let (d, backend) = rl.check_detailed("shared", &q, 1).await;
        assert_eq!(backend, Backend::Redis);
        admitted += u32::from(d.allowed);
    }
    assert_eq!(admitted, 6);
}

#[tokio::test]
async fn keys_expire_when_their_bucket_would_be_full() {
    let prefix = unique_prefix();
    let rl = RateLimiter::redis_with_options(&redis_url(), &prefix, PATIENT).unwrap();
    assert!(rl.check("ttl", &Quota::parse("5/min").unwrap(), 2).await.allowed);
    let mut conn = raw_connection(&redis_url()).await;
    let pttl: i64 = redis::cmd("PTTL").arg(format!("{prefix}ttl")).query_async(&mut conn).await.unwrap();
    assert!(pttl > 0 && pttl <= 24_000, "PTTL {pttl}");
}

#[test]
fn a_malformed_url_is_the_only_construction_error() {
    let err = RateLimiter::redis("http://user:secret@example.com", "p:").err().unwrap();
    assert!(err.contains("Redis URL") && !err.contains("secret"), "{err}");
    // Nothing listens there, and construction still succeeds (outside any runtime, too).
    assert!(RateLimiter::redis("redis://127.0.0.1:1", "p:").is_ok());
}

/// A private `redis-server`, killed by its own pid when dropped.
struct Server(Child);

impl Server {
    fn start(port: u16) -> Server {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        Server(child)
    }

    async fn wait_ready(&self, url: &str) {
        let up = eventually(Duration::from_secs(20), async || {
            let Ok(client) = redis::Client::open(url) else { return false };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return false };
            redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
        })
        .await;
        assert!(up, "private redis-server at {url} did not come up");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn outage_falls_back_locally_then_recovers() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    let server = Server::start(port);
    server.wait_ready(&url).await;

    let options = RedisOptions { timeout: Duration::from_secs(1), ..RedisOptions::default() };
    let rl = RateLimiter::redis_with_options(&url, &unique_prefix(), options).unwrap();
    let q = Quota::parse("1000/s").unwrap();
    let via_redis =
        eventually(Duration::from_secs(20), async || rl.check_detailed("k", &q, 1).await.1 == Backend::Redis);
    assert!(via_redis.await, "never answered by Redis");
    assert_eq!(rl.redis_healthy(), Some(true));

    drop(server);
    // Every check still answers; the first failure flips health and starts counting.
    let down = eventually(Duration::from_secs(20), async || {
        let d = rl.check("k", &q, 1).await;
        assert!(d.allowed);
        rl.redis_healthy() == Some(false) && rl.fallbacks() > 0
    });
    assert!(down.await, "outage not noticed: healthy {:?}, fallbacks {}", rl.redis_healthy(), rl.fallbacks());
    let (_, backend) = rl.check_detailed("k", &q, 1).await;
    assert_eq!(backend, Backend::Local);

    let server = Server::start(port);
    server.wait_ready(&url).await;
    let recovered = eventually(Duration::from_secs(30), async || {
        rl.check_detailed("k", &q, 1).await.1 == Backend::Redis && rl.redis_healthy() == Some(true)
    });
    assert!(recovered.await, "no recovery: healthy {:?}", rl.redis_healthy());
    drop(server);
}

#[tokio::test]
async fn slow_redis_falls_back_and_the_breaker_skips_it() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://127.0.0.1:{port}");
    let server = Server::start(port);
    server.wait_ready(&url).await;

    // A long breaker so the second check surely meets it open, however slow this machine is.
    let options =
        RedisOptions { timeout: Duration::from_secs(2), breaker: Duration::from_secs(30), ..RedisOptions::default() };
    let rl = RateLimiter::redis_with_options(&url, &unique_prefix(), options).unwrap();
    let q = Quota::parse("1000/s").unwrap();
    let via_redis =
        eventually(Duration::from_secs(20), async || rl.check_detailed("k", &q, 1).await.1 == Backend::Redis);
    assert!(via_redis.await, "never answered by Redis");

    // Redis stays connected but answers nobody for a while.
    let mut admin = raw_connection(&url).await;
    let () = redis::cmd("CLIENT").arg("PAUSE").arg(6000).arg("ALL").query_async(&mut admin).await.unwrap();
    let (d, backend) = rl.check_detailed("k", &q, 1).await;
    assert!(d.allowed);
    assert_eq!(backend, Backend::Local);
    assert_eq!(rl.redis_healthy(), Some(false));
    let before = rl.fallbacks();
    let started = Instant::now();
    let (_, backend) = rl.check_detailed("k", &q, 1).await;
    assert_eq!(backend, Backend::Local);
    assert!(started.elapsed() < options.timeout, "the open breaker still waited on Redis");
    assert_eq!(rl.fallbacks(), before + 1);

    // The prober closes the breaker once Redis answers again, long before it would expire.
    let recovered = eventually(Duration::from_secs(25), async || {
        rl.check_detailed("k", &q, 1).await.1 == Backend::Redis && rl.redis_healthy() == Some(true)
    });
    assert!(recovered.await, "no recovery after the pause");
    drop(server);
}
