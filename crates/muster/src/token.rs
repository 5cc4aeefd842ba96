//! `muster token`: mints a signed JWT for E2E tests and manual calls (the seed plan's
//! "script to generate tokens"), with the same secret the server checks.
//! The development secret lives in `./.muster/`, created on first use by `serve` or here.

use crate::config::{Config, parse_long_duration};
use anyhow::{Context, bail};
use muster_api::auth::{Scope, Secret};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

pub const DEV_SECRET_PATH: &str = ".muster/jwt-secret";
/// The longest lifetime `muster token` issues.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);

#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// The subject (`sub`): who the token speaks for.
    #[arg(long)]
    pub sub: String,
    /// Space-separated scopes: read, write, contacts, admin.
    #[arg(long, default_value = "read")]
    pub scope: String,
    /// Confines the token to this candidate's data (repeat for several): the `candidates`
    /// claim. Without it the token sees every candidate's.
    #[arg(long = "candidate", value_name = "ID")]
    pub candidates: Vec<uuid::Uuid>,
    /// Lifetime, like 15m, 1h, 30d… (at most 366 days).
    #[arg(long, default_value = "1h", allow_hyphen_values = true)]
    pub ttl: String,
    /// Issuer (`iss`); defaults to MUSTER_JWT_ISSUER when set.
    #[arg(long)]
    pub iss: Option<String>,
    /// Audience (`aud`); defaults to MUSTER_JWT_AUDIENCE when set.
    #[arg(long)]
    pub aud: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    scope: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates: Option<Vec<String>>,
}

/// `30d` is accepted here besides the usual units.
fn ttl(raw: &str) -> anyhow::Result<Duration> {
    match parse_long_duration(raw) {
        Some(d) if !d.is_zero() && d <= MAX_TTL => Ok(d),
        Some(_) => bail!("--ttl must be positive and at most 366d, not {raw:?}"),
        None => bail!("--ttl {raw:?} is not a duration; use a positive number with s, m, h or d, like 1h"),
    }
}

/// Mints the token described by `args` with the configured (or development) secret.
pub fn mint(cfg: &Config, args: &TokenArgs) -> anyhow::Result<String> {
    if args.sub.trim().is_empty() || args.sub.len() > 256 {
        bail!("--sub must be 1 to 256 characters");
    }
    let mut scopes: Vec<&str> = Vec::new();
    for s in args.scope.split_whitespace() {
        if Scope::parse(s).is_none() {
            bail!("--scope {s:?} is not a scope; use read, write, contacts and/or admin");
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if scopes.is_empty() {
        bail!("--scope needs at least one of read, write, contacts, admin");
    }
    let ttl = ttl(&args.ttl)?;
    let secret = match &cfg.jwt_secret {
        Some(s) => s.clone(),
        None => dev_secret(Path::new("."))?.0,
    };
    let signer = Signer {
        secret,
        issuer: args.iss.clone().or_else(|| cfg.jwt_issuer.clone()),
        audience: args.aud.clone().or_else(|| cfg.jwt_audience.clone()),
    };
    let lifetime = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let confined = (!args.candidates.is_empty()).then_some(args.candidates.as_slice());
    signer.sign_confined(&args.sub, &scopes.join(" "), lifetime, confined)
}

/// Signs HS256 tokens with one secret, issuer and audience: `muster token`, and the E2E
/// suite's tokens (`muster e2e` mints one per area and scope, and expired ones).
#[derive(Clone)]
pub struct Signer {
    pub secret: Secret,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl Signer {
    /// The configured secret, issuer and audience; `None` without `MUSTER_JWT_SECRET` unless
    /// a development secret already exists in `./.muster/` (none is created here).
    pub fn from_config(cfg: &Config) -> Option<Signer> {
        let secret = match &cfg.jwt_secret {
            Some(s) => s.clone(),
            None if Path::new(DEV_SECRET_PATH).exists() => dev_secret(Path::new(".")).ok()?.0,
            None => return None,
        };
        Some(Signer { secret, issuer: cfg.jwt_issuer.clone(), audience: cfg.jwt_audience.clone() })
    }

    /// A token for `sub` with the space-separated `scope`, valid from now for
    /// `lifetime_secs` (negative: it expired that long ago).
    pub fn sign(&self, sub: &str, scope: &str, lifetime_secs: i64) -> anyhow::Result<String> {
        self.sign_confined(sub, scope, lifetime_secs, None)
    }

    /// Like [`Signer::sign`], confined to `candidates` when given (the `candidates` claim).
    pub fn sign_confined(
        &self,
        sub: &str,
        scope: &str,
        lifetime_secs: i64,
        candidates: Option<&[uuid::Uuid]>,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let start = now.min(now.saturating_add(lifetime_secs).saturating_sub(60));
        let claims = Claims {
            sub,
            scope: scope.to_owned(),
            iat: start,
            nbf: start,
            exp: now.saturating_add(lifetime_secs),
            jti: uuid::Uuid::now_v7().to_string(),
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
            candidates: candidates.map(|ids| ids.iter().map(uuid::Uuid::to_string).collect()),
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        let key = jsonwebtoken::EncodingKey::from_secret(self.secret.expose().as_bytes());
        jsonwebtoken::encode(&header, &claims, &key).context("signing the token")
    }
}

impl muster_e2e::Minter for Signer {
    fn mint(&self, sub: &str, scope: &str, lifetime_secs: i64) -> Result<String, String> {
        self.sign(sub, scope, lifetime_secs).map_err(|e| format!("{e:#}"))
    }
}

/// The development secret under `dir/.muster/`, created (readable by the owner only) when
/// missing. Returns it and whether it was just created.
pub fn dev_secret(dir: &Path) -> anyhow::Result<(Secret, bool)> {
    let path = dir.join(DEV_SECRET_PATH);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let s = text.trim().to_owned();
        if s.len() < 32 {
            bail!("{} holds a secret shorter than 32 characters; delete it to get a new one", path.display());
        }
        return Ok((Secret::new(s), false));
    }
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let parent = path.parent().expect("has a parent");
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    write_private(&path, &hex).with_context(|| format!("writing {}", path.display()))?;
    Ok((Secret::new(hex), true))
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_forms() {
        assert_eq!(ttl("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(ttl("30d").unwrap(), Duration::from_secs(30 * 86_400));
        for bad in ["-1h", "0", "0s", "400d", "soon", ""] {
            assert!(ttl(bad).is_err(), "{bad}");
        }
    }
}
