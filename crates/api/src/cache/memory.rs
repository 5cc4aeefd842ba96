//! The in-process tier: quick_cache with a byte budget, an expiry instant per entry, and
//! generation counters. Invalidation is only as wide as this process: run several
//! instances with `MUSTER_CACHE=redis` (or `none`).
//!
//! Why quick_cache rather than moka: moka spent about 600 bytes of bookkeeping on each entry
//! (its own `Arc`s, access and write order queues, a timer wheel node) next to a ~400-byte
//! row, and recorded every read in a buffer that later work drains; quick_cache keeps each
//! entry in a slot of a sharded table with a few bytes of policy state, and a hit is a hash
//! lookup under a shard's read lock. It has no time-to-live of its own, so an entry carries
//! the instant it expires and a read that finds it stale removes it and misses; stale
//! entries nobody reads go the way every cold entry goes, when the budget needs the room.

use super::Entry;
use axum::body::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, Weighter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Stored {
    entry: Entry,
    expires: Instant,
}

/// An entry weighs the bytes the budget (`MUSTER_CACHE_MEMORY_MB`) counts: key, body, ETag.
#[derive(Clone)]
struct Weight;

impl Weighter<String, Stored> for Weight {
    fn weight(&self, key: &String, value: &Stored) -> u64 {
        (key.len() + value.entry.body.len() + value.entry.etag.len()) as u64
    }
}

/// Counts the entries pushed out to make room.
#[derive(Clone)]
struct Evictions(Arc<AtomicU64>);

impl Lifecycle<String, Stored> for Evictions {
    type RequestState = ();

    fn on_evict(&self, _state: &mut (), _key: String, _value: Stored) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

type Entries = Cache<String, Stored, Weight, foldhash::quality::RandomState, Evictions>;

pub struct MemoryTier {
    /// Keyed by resource and id (or a list query's digest); hashed with foldhash like the
    /// other per-request maps (see [`crate::FastMap`]) rather than SipHash.
    entries: Entries,
    generations: Mutex<HashMap<String, u64>>,
    /// Entries pushed out for room or found expired.
    evictions: Arc<AtomicU64>,
}

impl MemoryTier {
    pub fn new(capacity_bytes: u64) -> MemoryTier {
        let evictions = Arc::new(AtomicU64::new(0));
        // the table grows as entries come; sizing it for a full budget up front would hold
        // that much memory from the start
        let entries = Cache::with(
            1024,
            capacity_bytes.max(1),
            Weight,
            foldhash::quality::RandomState::default(),
            Evictions(evictions.clone()),
        );
        MemoryTier { entries, generations: Mutex::new(HashMap::new()), evictions }
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        let stored = self.entries.get(key)?;
        if Instant::now() < stored.expires {
            return Some(stored.entry);
        }
        if self.entries.remove_if(key, |s| s.expires == stored.expires).is_some() {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    /// Keeps a copy of the body in an allocation of its own size, so the budget (which
    /// weighs `body.len()`) counts what the entry really holds: the serialiser's buffer grows
    /// by doubling, and a 350-byte row kept as written would hold 512 bytes while cached.
    /// (After a 20,000-row warm-up the process's RSS was the same either way: the freed
    /// buffers' space is reused, not returned.)
    pub fn insert(&self, key: String, entry: &Entry, ttl: Duration) {
        let entry = Entry { etag: entry.etag.clone(), body: Bytes::copy_from_slice(&entry.body) };
        self.entries.insert(key, Stored { entry, expires: Instant::now() + ttl });
    }

    pub fn remove(&self, key: &str) {
        self.entries.remove(key);
    }

    pub fn generation(&self, key: &str) -> u64 {
        self.generations.lock().expect("generations lock").get(key).copied().unwrap_or(0)
    }

    pub fn bump(&self, key: &str) {
        *self.generations.lock().expect("generations lock").entry(key.to_owned()).or_default() += 1;
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Bytes held, as the budget weighs them.
    pub fn weight(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: &str) -> Entry {
        Entry { etag: axum::http::HeaderValue::from_static("\"v1\""), body: Bytes::copy_from_slice(body.as_bytes()) }
    }

    #[test]
    fn an_entry_is_served_until_it_expires_then_missed_and_dropped() {
        let tier = MemoryTier::new(1 << 20);
        tier.insert("volunteers:a".into(), &entry("{\"id\":1}"), Duration::from_millis(150));
        tier.insert("volunteers:b".into(), &entry("{\"id\":2}"), Duration::from_secs(60));
        assert_eq!(tier.get("volunteers:a"), Some(entry("{\"id\":1}")));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(tier.get("volunteers:a"), None, "expired");
        assert_eq!(tier.entries.len(), 1, "the expired entry was removed when it was read");
        assert_eq!(tier.evictions(), 1);
        assert_eq!(tier.get("volunteers:b"), Some(entry("{\"id\":2}")), "others keep their own expiry");
        tier.remove("volunteers:b");
        assert_eq!(tier.get("volunteers:b"), None);
    }

    #[test]
    fn a_write_after_expiry_is_served_again() {
        let tier = MemoryTier::new(1 << 20);
        tier.insert("k".into(), &entry("old"), Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(80));
        tier.insert("k".into(), &entry("new"), Duration::from_secs(60));
        assert_eq!(tier.get("k"), Some(entry("new")));
    }

    #[test]
    fn the_budget_holds_and_pushed_out_entries_are_counted() {
        let budget = 64 * 1024;
        let tier = MemoryTier::new(budget);
        let body = "x".repeat(1000);
        for i in 0..1000 {
            tier.insert(format!("volunteers:{i:04}"), &entry(&body), Duration::from_secs(60));
        }
        assert!(tier.weight() <= budget, "weight {} over {budget}", tier.weight());
        let kept = tier.entries.len() as u64;
        assert_eq!(tier.weight(), kept * ("volunteers:0000".len() + 1000 + "\"v1\"".len()) as u64);
        assert!((50..=64).contains(&kept), "about budget / 1 KB entries kept: {kept}");
        assert_eq!(tier.evictions(), 1000 - kept, "every entry not kept was pushed out and counted");
        assert_eq!(tier.get("volunteers:0999").map(|e| e.body.len()), Some(1000), "the newest is kept");
    }
}
