//! Rate limiting for `/v1`: GCRA per principal key (token subject, else client IP).
//!
//! This module owns the budget arithmetic, where budgets live, and the header values
//! that describe them (IETF httpapi ratelimit-headers draft, structured-field syntax);
//! the middleware that picks the key and writes the response belongs to its caller.
//!
//! GCRA keeps one number per key, so a budget costs a few bytes in process or one Redis
//! string, and it spreads requests evenly instead of resetting at window edges. Budgets
//! live in process by default; with Redis configured every instance charges one shared
//! budget, and a Redis that is down or slow degrades to per-instance budgets instead of
//! failing or slowing requests (see [`RedisOptions`]).

mod gcra;
mod local;
mod redis_backend;
#[cfg(test)]
mod redis_tests;
#[cfg(test)]
mod tests;

pub use crate::redis_link::RedisOptions;

use local::{Clock, LocalLimiter};
use redis_backend::RedisBackend;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest `limit` [`Quota::parse`] accepts.
pub const MAX_LIMIT: u32 = 1_000_000_000;

/// `limit` requests per `period`, with up to `burst` at once (default burst = limit).
///
/// The fields are public for tests and configuration; a zero `limit` or `burst` counts as 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
    pub burst: u32,
}

impl Quota {
    /// Parses "100/min", "10/s", "10/sec", "5000/hour", "100/m", "1/h" (also "second",
    /// "minute", "hr", "d", "day"; units ignore case); limit 1..=1_000_000_000.
    pub fn parse(s: &str) -> Result<Quota, String> {
        let refuse = || {
            format!(
                "invalid rate limit {s:?}: expected REQUESTS/UNIT with REQUESTS a whole number from 1 to {MAX_LIMIT} \
                 and UNIT one of s, sec, second, m, min, minute, h, hr, hour, d, day (e.g. \"100/min\")"
            )
        };
        let (count, unit) = s.trim().split_once('/').ok_or_else(refuse)?;
        let count = count.trim();
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        let limit = count.parse::<u32>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(refuse)?;
        let seconds = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hr" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(refuse()),
        };
        Ok(Quota { limit, period: Duration::from_secs(seconds), burst: limit })
    }

    /// The same rate with room for `burst` requests at once; a burst below 1 becomes 1.
    pub fn with_burst(self, burst: u32) -> Quota {
        Quota { burst: burst.max(1), ..self }
    }

    /// The IETF RateLimit-Policy value, e.g. `"default";q=100;w=60`.
    ///
    /// `q` is the burst capacity and `w` the seconds (rounded up) in which an empty bucket
    /// refills to `q`: `burst × period / limit`, which is the period itself for the default
    /// burst. So `q/w` is the sustained rate even when the burst differs from the limit.
    pub fn policy_header(&self, name: &str) -> String {
        let p = gcra::Params::new(self, Duration::from_nanos(1));
        format!("{};q={};w={}", sf_string(name), self.burst.max(1), ceil_secs(Duration::from_nanos(p.tolerance)))
    }
}

/// The answer to one [`RateLimiter::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// requests still allowed right now (after this one, if allowed)
    pub remaining: u32,
    /// until the bucket is full again (for RateLimit's t=, seconds, rounded up)
    pub reset: std::time::Duration,
    /// when denied: how long until this request would be allowed (Retry-After, seconds
    /// rounded up, at least 1). A request costing more than the whole burst is never
    /// allowed; its retry_after is the time until the bucket is full, which may be zero.
    pub retry_after: Option<std::time::Duration>,
}

impl Decision {
    /// The IETF RateLimit header value, e.g. `"default";r=42;t=30`.
    pub fn header(&self, name: &str) -> String {
        // written piece by piece: it is on every response, and format! costs several times more
        let mut out = String::with_capacity(name.len() + 32);
        push_sf_string(&mut out, name);
        out.push_str(";r=");
        out.push_str(itoa::Buffer::new().format(self.remaining));
        out.push_str(";t=");
        out.push_str(itoa::Buffer::new().format(ceil_secs(self.reset)));
        out
    }

    /// The Retry-After value in seconds when denied: rounded up and at least 1, because
    /// "0" would invite an immediate retry that is still refused.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(|d| ceil_secs(d).max(1))
    }

    fn from_units(o: &gcra::Outcome, unit: Duration) -> Decision {
        let unit = u64::try_from(unit.as_nanos()).unwrap_or(u64::MAX);
        let dur = |v: u64| Duration::from_nanos(v.saturating_mul(unit));
        Decision {
            allowed: o.allowed,
            remaining: o.remaining,
            reset: dur(o.reset),
            retry_after: o.retry_after.map(dur),
        }
    }
}

/// Which limiter answered a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    Redis,
}

/// The limiter; cheap to clone (clones share budgets).
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    local: LocalLimiter,
    redis: Option<Arc<RedisBackend>>,
}

impl RateLimiter {
    /// Budgets in this process only.
    pub fn local() -> Self {
        Self::with_local_clock(Clock::Monotonic(Instant::now()))
    }

    fn with_local_clock(clock: Clock) -> Self {
        RateLimiter { inner: Arc::new(Inner { local: LocalLimiter::new(clock), redis: None }) }
    }

    /// Shared budget via Redis at `url` (redis://, rediss://), keys prefixed with `prefix`
    /// (e.g. "muster:rl:"). Connects in the background: Redis being down at start-up is not
    /// an error, only a malformed URL is.
    pub fn redis(url: &str, prefix: &str) -> Result<Self, String> {
        Self::redis_with_options(url, prefix, RedisOptions::default())
    }

    /// [`RateLimiter::redis`] with other timeouts.
    pub fn redis_with_options(url: &str, prefix: &str, options: RedisOptions) -> Result<Self, String> {
        Ok(Self::on_link(crate::redis_link::RedisLink::new(url, options)?, prefix))
    }

    /// A shared budget over an existing Redis connection (shared with the cache).
    pub fn on_link(link: Arc<crate::redis_link::RedisLink>, prefix: &str) -> Self {
        let redis = RedisBackend::new(link, prefix);
        let local = LocalLimiter::new(Clock::Monotonic(Instant::now()));
        RateLimiter { inner: Arc::new(Inner { local, redis: Some(redis) }) }
    }

    /// Charges `cost` (>= 1; 0 counts as 1) against `key`'s budget under `quota`.
    pub async fn check(&self, key: &str, quota: &Quota, cost: u32) -> Decision {
        self.check_detailed(key, quota, cost).await.0
    }

    /// [`RateLimiter::check`], also saying which limiter answered.
    pub async fn check_detailed(&self, key: &str, quota: &Quota, cost: u32) -> (Decision, Backend) {
        match &self.inner.redis {
            None => (self.inner.local.check(key, quota, cost), Backend::Local),
            // boxed: the Redis round trip's future is kilobytes, and every request's future
            // (the edge's, boxed and moved whole) would carry it even with a local limiter
            Some(redis) => Box::pin(redis.check(key, quota, cost, &self.inner.local)).await,
        }
    }

    /// None for a local limiter; Some(true/false) = Redis currently reachable or not (for
    /// /ready detail and metrics). False until the first successful contact.
    pub fn redis_healthy(&self) -> Option<bool> {
        self.inner.redis.as_ref().map(|r| r.healthy())
    }

    /// How many checks fell back to the local limiter because Redis failed (for metrics/tests).
    pub fn fallbacks(&self) -> u64 {
        self.inner.redis.as_ref().map_or(0, |r| r.fallbacks())
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A structured-field string (RFC 8941 §3.3.3): quotes and backslashes escaped; anything
/// outside printable ASCII, which sf-string cannot carry, becomes `_`.
fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_sf_string(&mut out, s);
    out
}

/// Appends [`sf_string`]`(s)` to `out`.
fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
}
