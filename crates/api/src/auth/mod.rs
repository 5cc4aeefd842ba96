//! Bearer-token authentication: who is calling, and with which scopes.
//!
//! Tokens are JWTs. HS256 tokens are checked against `MUSTER_JWT_SECRET`; RS256/ES256
//! tokens against the identity provider's JWKS (`MUSTER_JWT_JWKS_URL`). The algorithm a
//! token claims decides which key family may verify it, and each family accepts only its
//! own algorithms, so an HS256 token "signed" with a public key is refused (algorithm
//! confusion), as is `alg: none`. `exp` is required; `nbf`, `iss` and `aud` are checked
//! with a small leeway for clock skew.

mod jwks;
mod scope;

pub use jwks::Jwks;
pub use scope::{Scope, Scopes};

use crate::principal::Principal;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use std::fmt;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// How tokens are checked.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub hs256_secret: Option<Secret>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

/// Why a token was refused; the text is safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header (RFC 6750: challenge without an error code).
    Missing,
    /// Present but not acceptable; says why.
    Invalid(String),
}

pub struct Authenticator {
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    issuer: Option<String>,
    audience: Option<String>,
    verified: Verified,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    scope: Option<ScopeClaim>,
    #[serde(default)]
    scp: Option<ScopeClaim>,
    /// Candidate ids the token is confined to (see [`Principal::candidates`]).
    #[serde(default)]
    candidates: Option<Vec<String>>,
}

/// RFC 9068 says a space-separated string; some providers send an array (`scp`).
#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeClaim {
    Text(String),
    List(Vec<String>),
}

impl ScopeClaim {
    fn scopes(&self) -> Scopes {
        match self {
            ScopeClaim::Text(s) => Scopes::parse_lenient(s.split_whitespace()),
            ScopeClaim::List(v) => Scopes::parse_lenient(v.iter().map(String::as_str)),
        }
    }
}

const HS_ALGS: &[Algorithm] = &[Algorithm::HS256];
const ASYMMETRIC_ALGS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::ES256, Algorithm::ES384];

impl Authenticator {
    pub fn new(cfg: &AuthConfig) -> Result<Self, String> {
        let jwks = match &cfg.jwks_url {
            Some(url) => Some(Jwks::new(url)?),
            None => None,
        };
        Ok(Authenticator {
            hs256: cfg.hs256_secret.as_ref().map(|s| DecodingKey::from_secret(s.expose().as_bytes())),
            jwks,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            verified: Verified::default(),
        })
    }

    /// The JWKS client, to warm its cache at start-up.
    pub fn jwks(&self) -> Option<&Jwks> {
        self.jwks.as_ref()
    }

    /// Reads `Authorization: Bearer <token>` and checks the token.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let raw = authorization.ok_or(AuthError::Missing)?;
        let (scheme, token) = raw.trim().split_once(' ').ok_or_else(|| invalid("send Authorization: Bearer <JWT>"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            let shown: String = scheme.chars().filter(char::is_ascii_alphanumeric).take(20).collect();
            return Err(invalid(format!("Authorization uses the {shown:?} scheme; send Authorization: Bearer <JWT>")));
        }
        let token = token.trim();
        if token.is_empty() || token.len() > 8192 {
            return Err(invalid("the token is empty or too long"));
        }
        let now = unix_now();
        if let Some(p) = self.verified.get(token, now) {
            return Ok(p);
        }
        // boxed: nearly every request finds its token above, and this future (a decoded
        // header, a JWKS lookup) would otherwise size every request's
        Box::pin(self.verify(token, now)).await
    }

    /// Checks a token not verified lately: signature, algorithm, claims; remembers it.
    async fn verify(&self, token: &str, now: u64) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|_| invalid("the token is not a well-formed JWT"))?;
        let key = if HS_ALGS.contains(&header.alg) {
            match &self.hs256 {
                Some(k) => k.clone(),
                None => return Err(invalid("HS256 tokens are not accepted by this server")),
            }
        } else if ASYMMETRIC_ALGS.contains(&header.alg) {
            match &self.jwks {
                Some(jwks) => jwks.key_for(header.kid.as_deref(), header.alg).await.map_err(invalid)?,
                None => {
                    return Err(invalid("tokens signed with public-key algorithms are not accepted by this server"));
                }
            }
        } else {
            return Err(invalid("the token's algorithm is not accepted"));
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| invalid(describe(e.kind())))?;
        let subject = data
            .claims
            .sub
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| invalid("the token needs a `sub` claim of 1 to 256 characters"))?;
        let candidates = match data.claims.candidates {
            None => None,
            Some(ids) => Some(candidate_ids(&ids)?),
        };
        let scopes = data.claims.scope.or(data.claims.scp).map(|s| s.scopes()).unwrap_or_default();
        let principal = Principal { subject, scopes, candidates };
        if let Some(exp) = data.claims.exp.filter(|e| e.is_finite() && *e > 0.0) {
            self.verified.put(token, &principal, (exp as u64).min(now + REMEMBER_SECS));
        }
        Ok(principal)
    }
}

/// The `candidates` claim: at most [`MAX_CANDIDATES`] candidate ids, sorted and deduplicated
/// (so two tokens naming the same set share cache entries).
fn candidate_ids(raw: &[String]) -> Result<std::sync::Arc<[uuid::Uuid]>, AuthError> {
    if raw.len() > MAX_CANDIDATES {
        return Err(invalid(format!("the token's `candidates` claim names more than {MAX_CANDIDATES} candidates")));
    }
    let mut ids = raw
        .iter()
        .map(|s| uuid::Uuid::parse_str(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("the token's `candidates` claim must be a list of candidate ids (UUIDs)"))?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids.into())
}

/// The most candidates one token may be confined to.
pub const MAX_CANDIDATES: usize = 100;

/// How long a verified token is remembered at most (also bounded by its own `exp`).
/// Within it, a key removed from the JWKS still admits the tokens it signed.
pub const REMEMBER_SECS: u64 = 60;
const SHARDS: usize = 16;
const PER_SHARD: usize = 256;

/// Tokens whose signature and claims were checked lately, with the principal they gave:
/// a caller sends the same token many times, and checking a signature costs far more
/// than finding the token here (a hash; for RS256 tokens, an RSA verification). Only
/// accepted tokens are kept, each until its `exp` or [`REMEMBER_SECS`], whichever is
/// sooner; at most `SHARDS * PER_SHARD` of them (a full shard starts over).
#[derive(Default)]
struct Verified {
    shards: [Shard; SHARDS],
}

/// Tokens, each with its principal and the unix second it is remembered until.
type Shard = std::sync::Mutex<crate::FastMap<Box<str>, (Principal, u64)>>;

impl Verified {
    fn shard(&self, token: &str) -> &Shard {
        // the last characters are the signature's: as good as random
        let last = token.as_bytes().last().copied().unwrap_or(0);
        &self.shards[usize::from(last) % SHARDS]
    }

    fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let mut shard = self.shard(token).lock().unwrap_or_else(|e| e.into_inner());
        match shard.get(token) {
            Some((p, until)) if now < *until => Some(p.clone()),
            Some(_) => {
                shard.remove(token);
                None
            }
            None => None,
        }
    }

    fn put(&self, token: &str, principal: &Principal, until: u64) {
        let mut shard = self.shard(token).lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        shard.insert(token.into(), (principal.clone(), until));
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn invalid(msg: impl Into<String>) -> AuthError {
    AuthError::Invalid(msg.into())
}

impl AuthError {
    /// A short, fixed name for why the token was refused: the `reason` label of
    /// `muster_auth_failures_total` (see `metrics::AUTH_FAILURE_REASONS`). Read from the
    /// client-facing messages above, which stay the single place each reason is worded.
    pub fn reason(&self) -> &'static str {
        let AuthError::Invalid(why) = self else { return "missing" };
        let has = |s: &str| why.contains(s);
        if has("expired") {
            "expired"
        } else if has("not valid yet") {
            "not_yet_valid"
        } else if has("signature does not verify") {
            "bad_signature"
        } else if has("algorithm") || has("are not accepted by this server") {
            "algorithm"
        } else if has("key id") || has("signing key") {
            "unknown_key"
        } else if has("Bearer scheme") || has("empty or too long") || has("well-formed") {
            "malformed"
        } else if has("claim") || has("issuer") || has("audience") {
            "claims"
        } else {
            "invalid"
        }
    }
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "the token has expired",
        K::ImmatureSignature => "the token is not valid yet (nbf)",
        K::InvalidIssuer => "the token's issuer (iss) is not accepted",
        K::InvalidAudience => "the token's audience (aud) is not accepted",
        K::InvalidSignature => "the token's signature does not verify",
        K::MissingRequiredClaim(c) if c == "exp" => "the token needs an `exp` claim",
        K::MissingRequiredClaim(c) if c == "iss" => "the token needs an `iss` claim",
        K::MissingRequiredClaim(c) if c == "aud" => "the token needs an `aud` claim",
        K::MissingRequiredClaim(_) => "the token is missing a required claim",
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "the token's algorithm does not match its key",
        _ => "the token could not be verified",
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_known_reason() {
        let cases = [
            ("use the Bearer scheme", "malformed"),
            ("the token is empty or too long", "malformed"),
            ("the token is not a well-formed JWT", "malformed"),
            ("HS256 tokens are not accepted by this server", "algorithm"),
            ("tokens signed with public-key algorithms are not accepted by this server", "algorithm"),
            ("the token's algorithm is not accepted", "algorithm"),
            ("the token has no key id (kid)", "unknown_key"),
            ("the token's signing key is not known", "unknown_key"),
            ("the token needs a `sub` claim of 1 to 256 characters", "claims"),
            ("the token could not be verified", "invalid"),
        ];
        for (msg, reason) in cases {
            assert_eq!(invalid(msg).reason(), reason, "{msg}");
        }
        use jsonwebtoken::errors::ErrorKind as K;
        for (kind, reason) in [
            (K::ExpiredSignature, "expired"),
            (K::ImmatureSignature, "not_yet_valid"),
            (K::InvalidSignature, "bad_signature"),
            (K::InvalidIssuer, "claims"),
            (K::InvalidAudience, "claims"),
            (K::MissingRequiredClaim("exp".into()), "claims"),
            (K::InvalidAlgorithm, "algorithm"),
        ] {
            assert_eq!(invalid(describe(&kind)).reason(), reason, "{kind:?}");
        }
        assert_eq!(AuthError::Missing.reason(), "missing");
        for r in [AuthError::Missing.reason(), invalid("x").reason()] {
            assert!(crate::metrics::AUTH_FAILURE_REASONS.contains(&r));
        }
    }
}

#[cfg(test)]
mod verified_tests {
    use super::*;

    fn principal(sub: &str) -> Principal {
        Principal { subject: sub.into(), scopes: Scopes::default(), candidates: None }
    }

    #[test]
    fn a_token_is_remembered_until_its_end_and_the_memory_is_bounded() {
        let v = Verified::default();
        v.put("h.p.sig1", &principal("ana"), 100);
        assert_eq!(v.get("h.p.sig1", 99).map(|p| p.subject), Some("ana".into()));
        assert_eq!(v.get("h.p.sig2", 99), None, "only the exact token");
        assert_eq!(v.get("h.p.sig1", 100), None, "not at or after its end");
        assert_eq!(v.get("h.p.sig1", 50), None, "and forgotten once seen expired");
        for i in 0..SHARDS * PER_SHARD * 3 {
            v.put(&format!("h.p.{i}"), &principal("bo"), 100);
        }
        let held: usize = v.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held > 0 && held <= SHARDS * PER_SHARD, "{held}");
    }
}
