//! The shared budget: GCRA in one Lua script on Redis, and what happens when Redis is not
//! there.
//!
//! The script reads the TAT, decides and writes in one atomic step, on Redis's clock, so
//! instances with skewed clocks still share one budget; keys expire once their bucket
//! would be full, so idle principals cost nothing. It works in microseconds because Lua
//! numbers are doubles: microseconds since 1970 are exact in 53 bits, nanoseconds are not.
//!
//! Redis must never take the API down or slow it: the connection, its timeout and its
//! breaker are the shared [`RedisLink`]'s; when it skips or fails, the check is answered by
//! the in-process limiter.

use super::gcra::{Outcome, Params};
use super::local::LocalLimiter;
use super::{Backend, Decision, Quota};
use crate::redis_link::RedisLink;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

pub(crate) struct RedisBackend {
    link: Arc<RedisLink>,
    prefix: String,
    script: redis::Script,
    fallbacks: AtomicU64,
}

impl RedisBackend {
    pub fn new(link: Arc<RedisLink>, prefix: &str) -> Arc<Self> {
        Arc::new(RedisBackend {
            link,
            prefix: prefix.to_owned(),
            script: redis::Script::new(SCRIPT),
            fallbacks: AtomicU64::new(0),
        })
    }

    pub fn healthy(&self) -> bool {
        self.link.healthy()
    }

    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    pub async fn check(&self, key: &str, quota: &Quota, cost: u32, local: &LocalLimiter) -> (Decision, Backend) {
        let p = Params::new(quota, MICRO);
        let full_key = format!("{}{key}", self.prefix);
        let answer = self
            .link
            .run(|mut conn| async move {
                self.script
                    .key(full_key)
                    .arg(p.interval.min(LUA_MAX))
                    .arg(p.tolerance.min(LUA_MAX))
                    .arg(cost.max(1))
                    .invoke_async::<(i64, i64, i64, i64)>(&mut conn)
                    .await
            })
            .await;
        match answer {
            Some((allowed, remaining, reset, retry)) => {
                let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
                let outcome = Outcome {
                    allowed: allowed == 1,
                    remaining: u32::try_from(remaining).unwrap_or(if remaining < 0 { 0 } else { u32::MAX }),
                    reset: unsigned(reset),
                    retry_after: (allowed != 1).then(|| unsigned(retry)),
                    new_tat: None,
                };
                (Decision::from_units(&outcome, MICRO), Backend::Redis)
            }
            None => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                (local.check(key, quota, cost), Backend::Local)
            }
        }
    }
}
