//! One Redis connection for everything that uses Redis (the shared rate limiter, the
//! response cache), and the rules for when Redis is absent.
//!
//! Redis must never take the API down or slow it: construction does not connect, every
//! call gets [`RedisOptions::timeout`], and a failure opens a breaker so the following
//! requests skip Redis without waiting. A background prober (ended when the link is
//! dropped) keeps [`RedisLink::healthy`] current and closes the breaker as soon as Redis
//! answers again. Callers decide what "skipped" means for them (answer locally, bypass the
//! cache).

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// How often the prober pings a Redis that is up, so health stays current without traffic.
const PROBE_HEALTHY: Duration = Duration::from_secs(5);
/// How often it retries one that is down (more often if the breaker is shorter): a
/// success closes the breaker early, so a long breaker does not delay recovery.
const PROBE_DOWN: Duration = Duration::from_secs(1);

/// How a slow or absent Redis is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// Longest one call waits for Redis, connecting included.
    pub timeout: Duration,
    /// How long Redis is skipped after a failure: a dead Redis then costs one timeout per
    /// window instead of one per request.
    pub breaker: Duration,
    /// Least time between two "Redis unavailable" warnings in the log.
    pub warn_every: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            timeout: Duration::from_millis(250),
            breaker: Duration::from_secs(1),
            warn_every: Duration::from_secs(5),
        }
    }
}

pub struct RedisLink {
    client: redis::Client,
    options: RedisOptions,
    /// Filled by the first successful connect; afterwards the manager reconnects itself.
    conn: OnceCell<ConnectionManager>,
    epoch: Instant,
    healthy: AtomicBool,
    /// Milliseconds since `epoch` until which Redis is skipped.
    breaker_until: AtomicU64,
    /// Milliseconds since `epoch` of the last warning, plus one (0 = never warned).
    last_warn: AtomicU64,
    /// Calls that were skipped or failed.
    misses: AtomicU64,
    prober_started: AtomicBool,
}

impl RedisLink {
    pub fn new(url: &str, options: RedisOptions) -> Result<Arc<Self>, String> {
        // The error names the scheme problem without echoing the URL, which may hold a password.
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let link = Arc::new(RedisLink {
            client,
            options,
            conn: OnceCell::new(),
            epoch: Instant::now(),
            healthy: AtomicBool::new(false),
            breaker_until: AtomicU64::new(0),
            last_warn: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            prober_started: AtomicBool::new(false),
        });
        link.start_prober();
        Ok(link)
    }

    /// Whether Redis answered the last call or probe.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Calls that did not reach Redis (breaker open, error or timeout).
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Runs `call` on the connection within the timeout; `None` when Redis was skipped or
    /// failed (the breaker is then open and a warning may have been logged).
    pub async fn run<T, F, Fut>(self: &Arc<Self>, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        // construction may have run outside a runtime; the first call is inside one
        self.start_prober();
        if self.now_ms() < self.breaker_until.load(Ordering::Acquire) {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let attempt = async {
            let conn = self.connection().await?;
            call(conn).await
        };
        match tokio::time::timeout(self.options.timeout, attempt).await {
            Ok(Ok(v)) => {
                self.mark_up();
                Some(v)
            }
            Ok(Err(e)) => {
                self.mark_down(&e);
                None
            }
            Err(_) => {
                self.mark_down(&self.too_slow());
                None
            }
        }
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let connect = || {
            // No retries inside the manager: its backoff sleeps would outlast our timeout and
            // delay recovery; the breaker and the prober already pace reconnecting.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(self.options.timeout)
                .set_response_timeout(self.options.timeout)
                .set_number_of_retries(0);
            ConnectionManager::new_with_config(self.client.clone(), config)
        };
        self.conn.get_or_try_init(connect).await.cloned()
    }

    fn start_prober(self: &Arc<Self>) {
        if self.prober_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if !self.prober_started.swap(true, Ordering::AcqRel) {
            runtime.spawn(probe_loop(Arc::downgrade(self)));
        }
    }

    async fn probe(&self) {
        let ping = async {
            let mut conn = self.connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(self.options.timeout, ping).await {
            Ok(Ok(_)) => {
                self.mark_up();
                self.breaker_until.store(0, Ordering::Release);
            }
            Ok(Err(e)) => self.mark_down(&e),
            Err(_) => self.mark_down(&self.too_slow()),
        }
    }

    fn mark_up(&self) {
        if !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::info!("Redis reachable: rate budgets are shared and the cache is in Redis");
        }
    }

    fn mark_down(&self, reason: &dyn Display) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.healthy.store(false, Ordering::Release);
        let now = self.now_ms();
        self.breaker_until.store(now.saturating_add(millis(self.options.breaker)), Ordering::Release);
        // one warning per window however many requests fail: a dead Redis must not flood the log
        let last = self.last_warn.load(Ordering::Acquire);
        let due = last == 0 || now + 1 >= last.saturating_add(millis(self.options.warn_every));
        if due && self.last_warn.compare_exchange(last, now + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            tracing::warn!(
                error = %reason,
                skipped_calls = self.misses(),
                "Redis unavailable: rate limits are per instance and the cache is bypassed until it returns"
            );
        }
    }

    fn too_slow(&self) -> String {
        format!("no answer within {} ms", self.options.timeout.as_millis())
    }

    fn now_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn probe_loop(link: Weak<RedisLink>) {
    loop {
        let pause = {
            let Some(l) = link.upgrade() else { return };
            l.probe().await;
            if l.healthy() { PROBE_HEALTHY } else { l.options.breaker.min(PROBE_DOWN) }
        };
        tokio::time::sleep(pause).await;
    }
}
