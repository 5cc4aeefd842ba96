//! The shared budget: GCRA in one Lua script on Redis, and what happens when Redis is not
//! there.
//!
//! The script reads the TAT, decides and writes in one atomic step, on Redis's clock, so
//! instances with skewed clocks still share one budget; keys expire once their bucket
//! would be full, so idle principals cost nothing. It works in microseconds because Lua
//! numbers are doubles: microseconds since 1970 are exact in 53 bits, nanoseconds are not.
//!
//! Redis must never take the API down or slow it: construction does not connect, every
//! check gets [`RedisOptions::timeout`] in total, and a failure answers from the local
//! limiter and opens a breaker so the following requests skip Redis without waiting. A
//! background prober (one per limiter, ended when the limiter is dropped) keeps
//! [`super::RateLimiter::redis_healthy`] current and closes the breaker as soon as Redis
//! answers again.

use super::gcra::{Outcome, Params};
use super::local::LocalLimiter;
use super::{Backend, Decision, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// KEYS[1] holds the TAT (µs, Redis clock); ARGV = interval µs, tolerance µs, cost.
/// Returns {allowed, remaining, reset µs, retry_after µs}; mirrors `gcra::step`.
const SCRIPT: &str = r"
redis.replicate_commands()
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local t = tonumber(stored)
  if t and t > now then tat = t end
end
local function div(a, b) return (a - a % b) / b end
local used = tat - now
local charge = interval * cost
local ahead = used + charge
if ahead > tolerance then
  local retry = ahead - tolerance
  if charge > tolerance then retry = used end
  return {0, div(tolerance - used, interval), used, retry}
end
redis.call('SET', KEYS[1], string.format('%.0f', now + ahead), 'PX', string.format('%.0f', math.ceil(ahead / 1000)))
return {1, div(tolerance - ahead, interval), ahead, 0}
";

const MICRO: Duration = Duration::from_micros(1);
/// Keeps every number the script sees exact in a double, with room to add "now".
const LUA_MAX: u64 = 1 << 52;
/// How often the prober pings a Redis that is up, so health stays current without traffic.
const PROBE_HEALTHY: Duration = Duration::from_secs(5);
/// How often it retries one that is down (more often if the breaker is shorter): a
/// success closes the breaker early, so a long breaker does not delay recovery.
const PROBE_DOWN: Duration = Duration::from_secs(1);

/// How the Redis-backed limiter treats a slow or absent Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    /// Longest one check waits for Redis, connecting included, before answering locally.
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

pub(crate) struct RedisBackend {
    client: redis::Client,
    prefix: String,
    options: RedisOptions,
    script: redis::Script,
    /// Filled by the first successful connect; afterwards the manager reconnects itself.
    conn: OnceCell<ConnectionManager>,
    epoch: Instant,
    healthy: AtomicBool,
    /// Milliseconds since `epoch` until which Redis is skipped.
    breaker_until: AtomicU64,
    /// Milliseconds since `epoch` of the last warning, plus one (0 = never warned).
    last_warn: AtomicU64,
    fallbacks: AtomicU64,
    prober_started: AtomicBool,
}

impl RedisBackend {
    pub fn new(url: &str, prefix: &str, options: RedisOptions) -> Result<Arc<Self>, String> {
        // The error names the scheme problem without echoing the URL, which may hold a password.
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        let backend = Arc::new(RedisBackend {
            client,
            prefix: prefix.to_owned(),
            options,
            script: redis::Script::new(SCRIPT),
            conn: OnceCell::new(),
            epoch: Instant::now(),
            healthy: AtomicBool::new(false),
            breaker_until: AtomicU64::new(0),
            last_warn: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            prober_started: AtomicBool::new(false),
        });
        backend.start_prober();
        Ok(backend)
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    pub async fn check(
        self: &Arc<Self>,
        key: &str,
        quota: &Quota,
        cost: u32,
        local: &LocalLimiter,
    ) -> (Decision, Backend) {
        // Construction may have run outside a runtime; the first check is inside one.
        self.start_prober();
        if self.now_ms() >= self.breaker_until.load(Ordering::Acquire) {
            match tokio::time::timeout(self.options.timeout, self.eval(key, quota, cost)).await {
                Ok(Ok(decision)) => {
                    self.mark_up();
                    return (decision, Backend::Redis);
                }
                Ok(Err(e)) => self.mark_down(&e),
                Err(_) => self.mark_down(&self.too_slow()),
            }
        }
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        (local.check(key, quota, cost), Backend::Local)
    }

    async fn eval(&self, key: &str, quota: &Quota, cost: u32) -> redis::RedisResult<Decision> {
        let p = Params::new(quota, MICRO);
        let mut conn = self.connection().await?;
        let (allowed, remaining, reset, retry): (i64, i64, i64, i64) = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(p.interval.min(LUA_MAX))
            .arg(p.tolerance.min(LUA_MAX))
            .arg(cost.max(1))
            .invoke_async(&mut conn)
            .await?;
        let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
        let outcome = Outcome {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(if remaining < 0 { 0 } else { u32::MAX }),
            reset: unsigned(reset),
            retry_after: (allowed != 1).then(|| unsigned(retry)),
            new_tat: None,
        };
        Ok(Decision::from_units(&outcome, MICRO))
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
            tracing::info!("Redis rate limiter reachable: budgets are shared across instances");
        }
    }

    fn mark_down(&self, reason: &dyn Display) {
        self.healthy.store(false, Ordering::Release);
        let now = self.now_ms();
        self.breaker_until.store(now.saturating_add(millis(self.options.breaker)), Ordering::Release);
        // One warning per window however many requests fail: a dead Redis must not flood the log.
        let last = self.last_warn.load(Ordering::Acquire);
        let due = last == 0 || now + 1 >= last.saturating_add(millis(self.options.warn_every));
        if due && self.last_warn.compare_exchange(last, now + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            tracing::warn!(
                error = %reason,
                fallbacks = self.fallbacks(),
                "Redis rate limiter unavailable: answering from the in-process limiter, budgets are per instance until it returns"
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

async fn probe_loop(backend: Weak<RedisBackend>) {
    loop {
        let pause = {
            let Some(b) = backend.upgrade() else { return };
            b.probe().await;
            if b.healthy() { PROBE_HEALTHY } else { b.options.breaker.min(PROBE_DOWN) }
        };
        tokio::time::sleep(pause).await;
    }
}
