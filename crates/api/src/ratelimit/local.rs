//! The in-process limiter: one TAT per key in sharded maps.
//!
//! It is the whole limiter when Redis is not configured and the fallback when it is down.
//! Sharding keeps concurrent requests from queueing on one lock; no lock is held across
//! an await (nothing here is async). Keys are client IPs or token subjects, so an
//! attacker can mint them at will: a shard that grows past its threshold drops every
//! entry whose TAT is in the past, which loses nothing because such a key behaves exactly
//! like a fresh one.

use super::Decision;
use super::Quota;
use super::gcra::{self, Params};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const SHARDS: usize = 32;
/// A shard is never swept below this size: sweeping a small map buys nothing.
const SWEEP_MIN: usize = 1024;
const NANO: Duration = Duration::from_nanos(1);

/// Monotonic nanoseconds; manual in tests so they can move time without sleeping.
#[derive(Clone)]
pub(crate) enum Clock {
    Monotonic(Instant),
    #[cfg(test)]
    Manual(std::sync::Arc<std::sync::atomic::AtomicU64>),
}

impl Clock {
    fn now(&self) -> u64 {
        match self {
            Clock::Monotonic(start) => u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX),
            #[cfg(test)]
            Clock::Manual(t) => t.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    #[cfg(test)]
    pub fn manual() -> Clock {
        Clock::Manual(std::sync::Arc::default())
    }

    #[cfg(test)]
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            t.fetch_add(
                u64::try_from(by.as_nanos()).expect("test advance fits u64"),
                std::sync::atomic::Ordering::SeqCst,
            );
        }
    }
}

struct Shard {
    tats: crate::FastMap<String, u64>,
    /// Size at which the next insert sweeps; doubles with the live set so sweeping stays
    /// amortised O(1) per insert even when every key is live.
    sweep_at: usize,
}

impl Shard {
    fn store(&mut self, key: &str, tat: u64, now: u64) {
        if let Some(slot) = self.tats.get_mut(key) {
            *slot = tat;
            return;
        }
        if self.tats.len() >= self.sweep_at {
            self.tats.retain(|_, t| *t > now);
            self.sweep_at = (self.tats.len() * 2).max(SWEEP_MIN);
            // retain keeps the allocation; give it back after a flood of one-off keys.
            if self.tats.capacity() > 2 * self.sweep_at {
                self.tats.shrink_to(self.sweep_at);
            }
        }
        self.tats.insert(key.to_owned(), tat);
    }
}

pub(crate) struct LocalLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    clock: Clock,
}

impl LocalLimiter {
    pub fn new(clock: Clock) -> LocalLimiter {
        let shards =
            (0..SHARDS).map(|_| Mutex::new(Shard { tats: crate::FastMap::default(), sweep_at: SWEEP_MIN })).collect();
        LocalLimiter { shards, hasher: RandomState::new(), clock }
    }

    pub fn check(&self, key: &str, quota: &Quota, cost: u32) -> Decision {
        let params = Params::new(quota, NANO);
        // usize is at least 32 bits, and the modulo keeps the result small anyway.
        let shard = &self.shards[(self.hasher.hash_one(key) % SHARDS as u64) as usize];
        // The clock is read under the lock so a key's TATs are computed in time order.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        let outcome = gcra::step(shard.tats.get(key).copied(), now, params, cost);
        if let Some(tat) = outcome.new_tat {
            shard.store(key, tat, now);
        }
        drop(shard);
        Decision::from_units(&outcome, NANO)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).tats.len()).sum()
    }
}
