//! The in-process tier: moka with a per-entry TTL and a byte budget, plus generation
//! counters. Invalidation is only as wide as this process: run several instances with
//! `MUSTER_CACHE=redis` (or `none`).

use super::Entry;
use axum::body::Bytes;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Stored {
    entry: Entry,
    ttl: Duration,
}

struct PerEntry;

impl moka::Expiry<String, Stored> for PerEntry {
    fn expire_after_create(&self, _key: &String, value: &Stored, _at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Stored,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub struct MemoryTier {
    /// Keyed by resource and id (or a list query's digest); hashed with foldhash like the
    /// other per-request maps (see [`crate::FastMap`]) rather than SipHash.
    entries: Cache<String, Stored, foldhash::quality::RandomState>,
    generations: Mutex<HashMap<String, u64>>,
    evictions: Arc<AtomicU64>,
}

impl MemoryTier {
    pub fn new(capacity_bytes: u64) -> MemoryTier {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let entries = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|k: &String, v: &Stored| {
                u32::try_from(k.len() + v.entry.body.len() + v.entry.etag.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntry)
            .eviction_listener(move |_k, _v, cause| {
                if matches!(cause, RemovalCause::Size | RemovalCause::Expired) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build_with_hasher(foldhash::quality::RandomState::default());
        MemoryTier { entries, generations: Mutex::new(HashMap::new()), evictions }
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        self.entries.get(key).map(|s| s.entry)
    }

    /// Keeps a copy of the body in an allocation of its own size, so the budget (which
    /// weighs `body.len()`) counts what the entry really holds: the serialiser's buffer grows
    /// by doubling, and a 350-byte row kept as written would hold 512 bytes while cached.
    /// (After a 20,000-row warm-up the process's RSS was the same either way: the freed
    /// buffers' space is reused, not returned.)
    pub fn insert(&self, key: String, entry: &Entry, ttl: Duration) {
        let entry = Entry { etag: entry.etag.clone(), body: Bytes::copy_from_slice(&entry.body) };
        self.entries.insert(key, Stored { entry, ttl });
    }

    pub fn remove(&self, key: &str) {
        self.entries.invalidate(key);
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
}
