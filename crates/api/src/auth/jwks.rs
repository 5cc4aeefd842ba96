//! The identity provider's signing keys (JWKS), cached.
//!
//! Keys are fetched at start-up and whenever a token names a key id the cache does not
//! know (providers rotate keys), but at most once per [`MIN_REFETCH`], so a flood of
//! tokens with made-up key ids cannot turn into a flood of requests to the provider. A
//! failed fetch keeps the keys already known, so a brief provider outage does not lock
//! everyone out.

use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// Known keys are refreshed this often even when nothing asks for a new one.
pub const MAX_AGE: Duration = Duration::from_secs(600);

struct Key {
    key: DecodingKey,
    /// RSA or EC, to refuse a token whose algorithm belongs to the other family.
    family: Family,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
}

fn family_of(alg: Algorithm) -> Option<Family> {
    match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => Some(Family::Rsa),
        Algorithm::ES256 | Algorithm::ES384 => Some(Family::Ec),
        _ => None,
    }
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
}

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    cache: RwLock<Cache>,
    /// One fetch at a time; others wait for its result instead of fetching too.
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    pub fn new(url: &str) -> Result<Self, String> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("the JWKS URL must be http:// or https://".into());
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        Ok(Jwks {
            url: url.to_owned(),
            client,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for `kid`, fetching the set again when it is unknown or stale.
    pub async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, String> {
        let family = family_of(alg).ok_or("the token's algorithm is not accepted")?;
        let kid = kid.ok_or("the token has no key id (kid)")?;
        let (found, stale) = self.lookup(kid, family);
        if let Some(k) = found {
            if stale {
                self.refresh(false).await;
            }
            return Ok(k);
        }
        self.refresh(false).await;
        self.lookup(kid, family).0.ok_or_else(|| "the token's signing key is not known".into())
    }

    fn lookup(&self, kid: &str, family: Family) -> (Option<DecodingKey>, bool) {
        let cache = self.cache.read().expect("jwks lock");
        let stale = cache.fetched_at.is_none_or(|t| t.elapsed() > MAX_AGE);
        let key = cache.keys.get(kid).filter(|k| k.family == family).map(|k| k.key.clone());
        (key, stale)
    }

    /// Fetches the set unless one was fetched within [`MIN_REFETCH`] (`force` skips that
    /// check: start-up). Failures are logged and keep the current keys.
    pub async fn refresh(&self, force: bool) {
        let _one = self.fetching.lock().await;
        let recent = self.cache.read().expect("jwks lock").fetched_at.is_some_and(|t| t.elapsed() < MIN_REFETCH);
        if recent && !force {
            return;
        }
        match self.fetch().await {
            Ok(keys) => {
                let mut cache = self.cache.write().expect("jwks lock");
                tracing::info!(keys = keys.len(), "JWKS fetched");
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
            }
            Err(e) => {
                // remember the attempt, so a dead provider is asked at most once per MIN_REFETCH
                let mut cache = self.cache.write().expect("jwks lock");
                cache.fetched_at = Some(Instant::now());
                tracing::warn!(error = %e, url = %self.url, "JWKS fetch failed; keeping the keys already known");
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>, String> {
        let resp = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        let set: JwkSet = resp.json().await.map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
                continue;
            }
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let family = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Family::Rsa,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Family::Ec,
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, Key { key, family });
            }
        }
        Ok(keys)
    }
}
