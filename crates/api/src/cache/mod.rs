//! The response cache: single-row GETs and list pages, stored as the JSON bytes sent, so a
//! hit costs no database round trip and no serialisation.
//!
//! `none`, `memory` (quick_cache, this process) or `redis` (shared by every instance, TTLs on
//! every key). Freshness after writes comes from two kinds of invalidation:
//! - a row's key is deleted when that row is written;
//! - each resource has a generation counter in its list keys, bumped by every write, so
//!   every cached page of that resource is abandoned at once. A read that raced a write
//!   (loaded before it, stored after) is not stored: the generation is read before the
//!   load and checked after it.
//!
//! Attendance rows also change as a side effect (a cancellation promotes the waitlist, a
//! capacity raise seats it), so their row keys carry a second, row generation that those
//! writes bump. With Redis the counters live in Redis, so a write through one instance is
//! seen through every other on the next read. Redis down or slow: reads and writes go to
//! the store, the cache is bypassed, and it comes back by itself (see [`RedisLink`]).

mod memory;

use crate::problem::ApiError;
use crate::redis_link::RedisLink;
use axum::body::Bytes;
use axum::http::HeaderValue;
use memory::MemoryTier;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Where cached responses live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    None,
    Memory,
    Redis,
}

impl CacheMode {
    pub fn parse(s: &str) -> Option<CacheMode> {
        match s {
            "none" => Some(CacheMode::None),
            "memory" => Some(CacheMode::Memory),
            "redis" => Some(CacheMode::Redis),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::None => "none",
            CacheMode::Memory => "memory",
            CacheMode::Redis => "redis",
        }
    }
}

/// A cached response: its strong ETag and body. The ETag is kept as the header value it
/// is sent as, checked once when the entry is made; a hit clones it without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub etag: HeaderValue,
    pub body: Bytes,
}

impl Entry {
    pub fn new(etag: String, body: Bytes) -> Result<Entry, ApiError> {
        let etag = HeaderValue::try_from(etag)
            .map_err(|e| ApiError::internal(format!("an ETag that is no header value: {e}")))?;
        Ok(Entry { etag, body })
    }
}

/// Whether a response came from the cache (`X-Cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    Bypass,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Bypass => "bypass",
        }
    }
}

/// Generation counters in Redis outlive every entry that names them.
const GENERATION_TTL_SECS: u64 = 7 * 24 * 3600;

enum Tier {
    None,
    Memory(MemoryTier),
    Redis { link: Arc<RedisLink>, prefix: String },
}

pub struct Cache {
    tier: Tier,
    ttl: Duration,
    ttl_overrides: HashMap<&'static str, Duration>,
    flights: Flights,
}

impl Cache {
    pub fn none() -> Cache {
        Cache::with_tier(Tier::None, Duration::ZERO, HashMap::new())
    }

    /// In this process: at most `capacity_bytes` of cached bodies.
    pub fn memory(ttl: Duration, ttl_overrides: HashMap<&'static str, Duration>, capacity_bytes: u64) -> Cache {
        Cache::with_tier(Tier::Memory(MemoryTier::new(capacity_bytes)), ttl, ttl_overrides)
    }

    /// In Redis, keys under `prefix`, shared by every instance using the same prefix.
    pub fn redis(
        link: Arc<RedisLink>,
        prefix: &str,
        ttl: Duration,
        ttl_overrides: HashMap<&'static str, Duration>,
    ) -> Cache {
        Cache::with_tier(Tier::Redis { link, prefix: prefix.to_owned() }, ttl, ttl_overrides)
    }

    fn with_tier(tier: Tier, ttl: Duration, ttl_overrides: HashMap<&'static str, Duration>) -> Cache {
        Cache { tier, ttl, ttl_overrides, flights: Flights::default() }
    }

    pub fn mode(&self) -> CacheMode {
        match self.tier {
            Tier::None => CacheMode::None,
            Tier::Memory(_) => CacheMode::Memory,
            Tier::Redis { .. } => CacheMode::Redis,
        }
    }

    /// `Some(healthy)` when the cache is in Redis.
    pub fn redis_healthy(&self) -> Option<bool> {
        match &self.tier {
            Tier::Redis { link, .. } => Some(link.healthy()),
            _ => None,
        }
    }

    /// Entries the memory tier dropped for room or age.
    pub fn evictions(&self) -> u64 {
        match &self.tier {
            Tier::Memory(m) => m.evictions(),
            _ => 0,
        }
    }

    /// Bytes the memory tier holds against its budget; 0 for the other tiers.
    pub fn memory_bytes(&self) -> u64 {
        match &self.tier {
            Tier::Memory(m) => m.weight(),
            _ => 0,
        }
    }

    fn ttl_for(&self, resource: &str) -> Duration {
        self.ttl_overrides.get(resource).copied().unwrap_or(self.ttl)
    }

    /// The row `id` of `resource`, loaded by `load` on a miss. `side_effects` rows (whose
    /// content can change without being written themselves) include the row generation.
    /// `contacts`: the row as shown with contact details; the masked view has its own key.
    pub async fn row<F, Fut>(
        &self,
        resource: &'static str,
        id: Uuid,
        side_effects: bool,
        contacts: bool,
        load: F,
    ) -> Result<(Entry, Outcome), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, ApiError>>,
    {
        if matches!(self.tier, Tier::None) {
            return Ok((load().await?, Outcome::Bypass));
        }
        let row_gen = if side_effects { self.generation(resource, "rowgen").await } else { Some(0) };
        let Some(row_gen) = row_gen else { return self.bypass(load).await };
        let mut key = row_key(resource, row_gen, id);
        if !contacts {
            key.push_str(MASKED);
        }
        self.through(resource, key, Guard::Resource, load).await
    }

    /// A response for a token confined to candidates (a row or a list page; `query` names
    /// it and the token's view, see [`crate::access::Access::view`]). Which rows such a
    /// token sees depends on other resources' rows too (an attendance on its event's and its
    /// volunteer's candidate), so these entries are keyed by every resource's generation:
    /// any write abandons them all.
    pub async fn confined<F, Fut>(
        &self,
        resource: &'static str,
        query: &str,
        load: F,
    ) -> Result<(Entry, Outcome), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, ApiError>>,
    {
        if matches!(self.tier, Tier::None) {
            return Ok((load().await?, Outcome::Bypass));
        }
        let Some(stamp) = self.stamp(Guard::All, resource).await else { return self.bypass(load).await };
        let key = format!("{resource}:s:{stamp}:{}", short_hash(query.as_bytes()));
        self.through(resource, key, Guard::All, load).await
    }

    /// A list page of `resource` for this normalised query, loaded by `load` on a miss.
    pub async fn list<F, Fut>(&self, resource: &'static str, query: &str, load: F) -> Result<(Entry, Outcome), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, ApiError>>,
    {
        if matches!(self.tier, Tier::None) {
            return Ok((load().await?, Outcome::Bypass));
        }
        let Some(list_gen) = self.generation(resource, "gen").await else { return self.bypass(load).await };
        let key = format!("{resource}:l:{list_gen}:{}", short_hash(query.as_bytes()));
        self.through(resource, key, Guard::Resource, load).await
    }

    async fn bypass<F, Fut>(&self, load: F) -> Result<(Entry, Outcome), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, ApiError>>,
    {
        Ok((load().await?, Outcome::Bypass))
    }

    /// Read-through with one load per key at a time in this process (stampede protection),
    /// and no store when a write to the resource happened during the load.
    ///
    /// A hit is answered here; a miss is filled by [`Cache::fill`] in a boxed future, so
    /// the load's future (a store query) does not size every hit's.
    async fn through<F, Fut>(
        &self,
        resource: &'static str,
        key: String,
        guard: Guard,
        load: F,
    ) -> Result<(Entry, Outcome), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, ApiError>>,
    {
        match self.get(&key).await {
            Lookup::Found(e) => Ok((e, Outcome::Hit)),
            Lookup::Failed => Box::pin(self.bypass(load)).await,
            Lookup::Missing => Box::pin(self.fill(resource, key, guard, load)).await,
        }
    }

    /// [`Cache::through`] after a miss.
    async fn fill<F, Fut>(
        &self,
        resource: &'static str,
        key: String,
        guard: Guard,
        load: F,
    ) -> Result<(Entry, Outcome), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Entry, ApiError>>,
    {
        let _flight = self.flights.enter(&key).await;
        // another request may have filled it while this one waited
        if let Lookup::Found(e) = self.get(&key).await {
            return Ok((e, Outcome::Hit));
        }
        let before = self.stamp(guard, resource).await;
        let entry = load().await?;
        let after = self.stamp(guard, resource).await;
        if before.is_some() && before == after {
            self.set(&key, &entry, self.ttl_for(resource)).await;
        }
        Ok((entry, Outcome::Miss))
    }

    /// Invalidates after a write: `rows` of `resource` lose their cached copies, every list
    /// of `resource` and of `also` is abandoned, and `row_generations` resources lose all
    /// their cached rows (side effects). `false` when Redis missed it: entries written
    /// before it then live out their TTL (the caller counts it; the warning is the link's).
    #[must_use = "a missed invalidation is counted in muster_cache_errors_total"]
    pub async fn wrote(&self, resource: &str, rows: &[Uuid], also: &[&str], row_generations: &[&str]) -> bool {
        match &self.tier {
            Tier::None => true,
            Tier::Memory(m) => {
                for id in rows {
                    let key = row_key(resource, 0, *id);
                    m.remove(&[key.as_str(), MASKED].concat());
                    m.remove(&key);
                }
                for r in std::iter::once(resource).chain(also.iter().copied()) {
                    m.bump(&format!("gen:{r}"));
                }
                for r in row_generations {
                    m.bump(&format!("rowgen:{r}"));
                }
                true
            }
            Tier::Redis { link, prefix } => {
                let mut pipe = redis::pipe();
                for id in rows {
                    let key = format!("{prefix}{}", row_key(resource, 0, *id));
                    pipe.del([key.as_str(), MASKED].concat()).ignore();
                    pipe.del(key).ignore();
                }
                let gens = std::iter::once(resource).chain(also.iter().copied()).map(|r| format!("{prefix}gen:{r}"));
                let rowgens = row_generations.iter().map(|r| format!("{prefix}rowgen:{r}"));
                for key in gens.chain(rowgens) {
                    pipe.incr(&key, 1).ignore().expire(&key, GENERATION_TTL_SECS as i64).ignore();
                }
                link.run(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await.is_some()
            }
        }
    }

    /// What a fill checks before and after its load (a write between them means the
    /// loaded entry may be stale, and it is not stored), and what confined keys carry.
    async fn stamp(&self, guard: Guard, resource: &str) -> Option<String> {
        match guard {
            Guard::Resource => self.generation(resource, "gen").await.map(|g| g.to_string()),
            Guard::All => {
                let gens: Vec<u64> = match &self.tier {
                    Tier::None => vec![0; ALL_GENERATIONS.len()],
                    Tier::Memory(m) => ALL_GENERATIONS.iter().map(|n| m.generation(n)).collect(),
                    Tier::Redis { link, prefix } => {
                        let keys: Vec<String> = ALL_GENERATIONS.iter().map(|n| [prefix.as_str(), n].concat()).collect();
                        Box::pin(link.run(|mut c| async move { c.mget::<_, Vec<Option<u64>>>(keys).await }))
                            .await?
                            .into_iter()
                            .map(|g| g.unwrap_or(0))
                            .collect()
                    }
                };
                let mut stamp = String::with_capacity(gens.len() * 4);
                for g in gens {
                    stamp.push_str(itoa::Buffer::new().format(g));
                    stamp.push('.');
                }
                Some(stamp)
            }
        }
    }

    async fn generation(&self, resource: &str, kind: &str) -> Option<u64> {
        match &self.tier {
            Tier::None => Some(0),
            Tier::Memory(m) => Some(m.generation(&format!("{kind}:{resource}"))),
            Tier::Redis { link, prefix } => {
                let key = format!("{prefix}{kind}:{resource}");
                // boxed, like every Redis call on the read path: the client's futures are
                // large, and the memory tier's requests should not carry their size
                Box::pin(link.run(|mut c| async move { c.get::<_, Option<u64>>(key).await }))
                    .await
                    .map(|g| g.unwrap_or(0))
            }
        }
    }

    async fn get(&self, key: &str) -> Lookup {
        match &self.tier {
            Tier::None => Lookup::Missing,
            Tier::Memory(m) => m.get(key).map_or(Lookup::Missing, Lookup::Found),
            Tier::Redis { link, prefix } => {
                let full = format!("{prefix}{key}");
                match Box::pin(link.run(|mut c| async move { c.get::<_, Option<Vec<u8>>>(full).await })).await {
                    None => Lookup::Failed,
                    Some(None) => Lookup::Missing,
                    Some(Some(raw)) => decode(&raw).map_or(Lookup::Missing, Lookup::Found),
                }
            }
        }
    }

    async fn set(&self, key: &str, entry: &Entry, ttl: Duration) {
        match &self.tier {
            Tier::None => {}
            Tier::Memory(m) => m.insert(key.to_owned(), entry, ttl),
            Tier::Redis { link, prefix } => {
                let full = format!("{prefix}{key}");
                let raw = encode(entry);
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                let _ = link.run(|mut c| async move { c.pset_ex::<_, _, ()>(full, raw, ms).await }).await;
            }
        }
    }
}

/// Which generations a fill is checked against.
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// The resource's own list generation.
    Resource,
    /// Every resource's (entries for confined tokens).
    All,
}

/// Every generation a confined entry depends on: each resource's lists, and the attendance
/// rows' side effects.
const ALL_GENERATIONS: [&str; 5] =
    ["gen:candidates", "gen:volunteers", "gen:events", "gen:attendances", "rowgen:attendances"];

/// The suffix of a row's key in the masked view (no contact details).
const MASKED: &str = ":m";

enum Lookup {
    Found(Entry),
    Missing,
    /// Redis did not answer: bypass.
    Failed,
}

/// The ETag line, a newline, the body.
fn encode(e: &Entry) -> Vec<u8> {
    let mut v = Vec::with_capacity(e.etag.len() + 1 + e.body.len());
    v.extend_from_slice(e.etag.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(&e.body);
    v
}

fn decode(raw: &[u8]) -> Option<Entry> {
    let nl = raw.iter().position(|&b| b == b'\n')?;
    // printable ASCII only, as every ETag made here is: anything else is not ours
    let etag = HeaderValue::from_str(std::str::from_utf8(&raw[..nl]).ok()?).ok()?;
    Some(Entry { etag, body: Bytes::copy_from_slice(&raw[nl + 1..]) })
}

/// A short, stable digest for keys and list ETags: the first 96 bits of XXH3-128, in hex.
///
/// Not a cryptographic hash, and it need not be: it names a page for a conditional GET and a
/// query for the cache, where an accidental collision is the only risk (2^-96 a pair). It
/// replaced SHA-256, whose cost showed in a list request's profile for hashing the page.
/// Its output is fixed by the XXH3 specification, so every instance and release names the
/// same page the same way.
pub fn short_hash(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = xxhash_rust::xxh3::xxh3_128(bytes).to_be_bytes();
    let mut out = String::with_capacity(24);
    for b in &digest[..12] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// One load per key at a time: later arrivals wait for the first, then read its result.
#[derive(Default)]
struct Flights {
    map: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct Flight<'a> {
    flights: &'a Flights,
    key: String,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Flights {
    async fn enter(&self, key: &str) -> Flight<'_> {
        let lock = self.map.lock().expect("flights lock").entry(key.to_owned()).or_default().clone();
        let guard = lock.lock_owned().await;
        Flight { flights: self, key: key.to_owned(), _guard: guard }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock().expect("flights lock");
        // the last one out removes the entry, so the map only holds keys in flight
        if map.get(&self.key).is_some_and(|l| Arc::strong_count(l) <= 2) {
            map.remove(&self.key);
        }
    }
}

/// A row's cache key, `{resource}:r:{generation}:{id}`, written piece by piece: through
/// `format!` it cost a cached read more than the cache lookup itself.
fn row_key(resource: &str, generation: u64, id: Uuid) -> String {
    let mut key = String::with_capacity(resource.len() + 64);
    key.push_str(resource);
    key.push_str(":r:");
    key.push_str(itoa::Buffer::new().format(generation));
    key.push(':');
    key.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    key
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_hash_is_the_first_12_bytes_of_xxh3_128_in_hex() {
        // python3 -c "import xxhash; print(xxhash.xxh3_128_hexdigest(b'abc'))" (pip xxhash):
        // 06b05ab6733a618578af5f94892f3950
        assert_eq!(super::short_hash(b"abc"), "06b05ab6733a618578af5f94");
    }

    #[test]
    fn row_keys_read_as_they_did_through_format() {
        let id = uuid::Uuid::parse_str("01a22336-319d-7000-8000-00000000A06E").unwrap();
        assert_eq!(super::row_key("volunteers", 0, id), "volunteers:r:0:01a22336-319d-7000-8000-00000000a06e");
        assert_eq!(super::row_key("attendances", 17, id), format!("attendances:r:17:{id}"));
    }
}
