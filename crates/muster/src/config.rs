//! Configuration: defaults in code, then an optional TOML file, then `MUSTER_*` variables.
//!
//! Every setting is parsed before anything starts; a bad value stops start-up with one
//! line naming where it came from and what is accepted. The file is `MUSTER_CONFIG`, or
//! `./muster.toml` when present; its keys are the variable names without the prefix, in
//! lower case (`listen = "0.0.0.0:8080"`).

use muster_api::auth::Secret;
use muster_api::limits::Cidr;
use muster_api::ratelimit::Quota;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One documented setting.
pub struct Setting {
    pub env: &'static str,
    pub default: &'static str,
    pub accepts: &'static str,
    pub doc: &'static str,
}

/// Every setting this release reads, in the order the README documents them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        env: "MUSTER_DATABASE_URL",
        default: "sqlite://muster.db",
        accepts: "a postgres://, postgresql:// or sqlite: URL",
        doc: "Where data lives. SQLite needs no setup; PostgreSQL is the production store.",
    },
    Setting {
        env: "MUSTER_LISTEN",
        default: "127.0.0.1:8080",
        accepts: "an address like 0.0.0.0:8080",
        doc: "The public API listener.",
    },
    Setting {
        env: "MUSTER_ADMIN_LISTEN",
        default: "127.0.0.1:9090",
        accepts: "an address like 10.0.0.5:9090 (port 0 picks a free one)",
        doc: "The admin listener: Prometheus metrics at /metrics. Keep it off the public network.",
    },
    Setting {
        env: "MUSTER_LOG_FORMAT",
        default: "json (pretty on a terminal)",
        accepts: "json or pretty",
        doc: "Log line format.",
    },
    Setting {
        env: "MUSTER_LOG",
        default: "info",
        accepts: "a tracing filter like info,muster_api=debug",
        doc: "Which log lines to write.",
    },
    Setting {
        env: "MUSTER_LOG_SERVER_ERRORS",
        default: "none (with the other lines)",
        accepts: "stdout, stderr or a file path",
        doc: "Where server-error lines (kind=server_error, 5xx) go instead of the main log.",
    },
    Setting {
        env: "MUSTER_LOG_CLIENT_ERRORS",
        default: "none (with the other lines)",
        accepts: "stdout, stderr or a file path",
        doc: "Where client-error lines (kind=client_error, 4xx) go instead of the main log.",
    },
    Setting {
        env: "MUSTER_LOG_CLIENT_REPORTS",
        default: "none (with the other lines)",
        accepts: "stdout, stderr or a file path",
        doc: "Where reports from POST /v1/client-errors (kind=client_report) go instead of the main log.",
    },
    Setting {
        env: "MUSTER_CLIENT_REPORT_RATE",
        default: "30/min",
        accepts: "a rate like 30/min or 5/s",
        doc: "Each caller's budget for client error reports, on top of its general rate limit.",
    },
    Setting {
        env: "MUSTER_CLIENT_REPORT_RETENTION",
        default: "720h",
        accepts: "a duration like 168h (at least 1h)",
        doc: "How long client error reports are kept (and at most the newest 100000).",
    },
    Setting {
        env: "MUSTER_AUDIT_RETENTION",
        default: "400d",
        accepts: "a duration like 400d or 9600h (at least 1d)",
        doc: "How long the audit trail of personal data (GET /v1/admin/audit) is kept.",
    },
    Setting {
        env: "MUSTER_DB_MAX_CONNECTIONS",
        default: "16 (2 under muster lambda)",
        accepts: "a whole number from 1 to 1000",
        doc: "PostgreSQL pool size per instance (per execution environment on Lambda, which serves one request at a time).",
    },
    Setting {
        env: "MUSTER_DB_ACQUIRE_TIMEOUT",
        default: "3s",
        accepts: "a duration like 500ms, 3s, 1m",
        doc: "How long a request waits for a database connection before a 503.",
    },
    Setting {
        env: "MUSTER_DB_STATEMENT_TIMEOUT",
        default: "5s",
        accepts: "a duration like 500ms, 5s, 1m (not 0)",
        doc: "Longest one PostgreSQL operation may take: PostgreSQL cancels it (statement_timeout) and Muster stops waiting 0.5 s later, so a database that stops answering costs a request this plus the acquire timeout, then a 503. Migrations and muster seed are not bound.",
    },
    Setting {
        env: "MUSTER_MIGRATE",
        default: "true",
        accepts: "true or false",
        doc: "Apply migrations when `serve` starts.",
    },
    Setting {
        env: "MUSTER_REQUEST_TIMEOUT",
        default: "30s",
        accepts: "a duration like 500ms, 30s, 1m",
        doc: "A request running longer gets a 503 problem.",
    },
    Setting {
        env: "MUSTER_HEADER_READ_TIMEOUT",
        default: "10s",
        accepts: "a duration like 5s (not 0)",
        doc: "How long a connection may take to send a request's headers, and how long an idle keep-alive connection is kept; then it is closed.",
    },
    Setting {
        env: "MUSTER_BODY_READ_TIMEOUT",
        default: "30s",
        accepts: "a duration like 10s (not 0)",
        doc: "How long the server waits between two reads of a request body; a body that stalls longer gets a 408 and its connection is closed.",
    },
    Setting {
        env: "MUSTER_MAX_CONNECTIONS",
        default: "4096",
        accepts: "a whole number from 1 to 1000000",
        doc: "Most client connections open at once on the public listener; more wait in the listen backlog until one closes.",
    },
    Setting {
        env: "MUSTER_DRAIN_DELAY",
        default: "0s",
        accepts: "a duration like 5s",
        doc: "After SIGTERM, how long to keep serving while /ready says 503, so load balancers stop sending traffic.",
    },
    Setting {
        env: "MUSTER_SHUTDOWN_TIMEOUT",
        default: "30s",
        accepts: "a duration like 30s",
        doc: "After the drain delay, how long in-flight requests get to finish.",
    },
    Setting {
        env: "MUSTER_JWT_SECRET",
        default: "generated in ./.muster/ (development)",
        accepts: "a secret of at least 32 characters",
        doc: "HS256 key for bearer tokens. Without it and without a JWKS URL, serve makes a development secret.",
    },
    Setting {
        env: "MUSTER_JWT_JWKS_URL",
        default: "none",
        accepts: "an http:// or https:// URL",
        doc: "Your identity provider's JWKS, for RS256/ES256 tokens.",
    },
    Setting {
        env: "MUSTER_JWT_ISSUER",
        default: "none (not checked)",
        accepts: "the expected `iss`",
        doc: "Tokens must carry this issuer.",
    },
    Setting {
        env: "MUSTER_JWT_AUDIENCE",
        default: "none (not checked)",
        accepts: "the expected `aud`",
        doc: "Tokens must carry this audience.",
    },
    Setting {
        env: "MUSTER_RATE_LIMIT",
        default: "100/min",
        accepts: "a rate like 100/min, 10/s or 5000/hour",
        doc: "Each caller's budget (JWT subject, else client address).",
    },
    Setting {
        env: "MUSTER_RATE_LIMIT_BURST",
        default: "the rate's count",
        accepts: "a whole number from 1 to 1000000000",
        doc: "How many requests a caller may make at once.",
    },
    Setting {
        env: "MUSTER_REDIS_URL",
        default: "none",
        accepts: "a redis:// or rediss:// URL",
        doc: "Redis (or Valkey, ElastiCache) shared by all instances: one rate budget across the fleet.",
    },
    Setting {
        env: "MUSTER_TRUSTED_PROXIES",
        default: "none",
        accepts: "comma-separated IP addresses or CIDR ranges",
        doc: "Proxies whose X-Forwarded-For names the client; nobody else's is believed.",
    },
    Setting {
        env: "MUSTER_CORS_ORIGINS",
        default: "none",
        accepts: "comma-separated origins like https://app.example.org",
        doc: "Browser origins allowed to call the API.",
    },
    Setting {
        env: "MUSTER_CACHE",
        default: "memory (redis when MUSTER_REDIS_URL is set)",
        accepts: "none, memory or redis",
        doc: "Where cached responses live.",
    },
    Setting {
        env: "MUSTER_CACHE_TTL",
        default: "60s",
        accepts: "a duration like 30s (0 turns caching off)",
        doc: "How long a cached response may be served; a change made behind the API's back shows after it.",
    },
    Setting {
        env: "MUSTER_CACHE_TTL_CANDIDATES",
        default: "MUSTER_CACHE_TTL",
        accepts: "a duration like 5m",
        doc: "TTL for candidates.",
    },
    Setting {
        env: "MUSTER_CACHE_TTL_VOLUNTEERS",
        default: "MUSTER_CACHE_TTL",
        accepts: "a duration like 30s",
        doc: "TTL for volunteers.",
    },
    Setting {
        env: "MUSTER_CACHE_TTL_EVENTS",
        default: "MUSTER_CACHE_TTL",
        accepts: "a duration like 30s",
        doc: "TTL for events.",
    },
    Setting {
        env: "MUSTER_CACHE_TTL_ATTENDANCES",
        default: "MUSTER_CACHE_TTL",
        accepts: "a duration like 10s",
        doc: "TTL for attendances.",
    },
    Setting {
        env: "MUSTER_CACHE_MEMORY_MB",
        default: "64",
        accepts: "a whole number of MiB from 1 to 65536",
        doc: "Memory cache budget (bodies and keys).",
    },
    Setting {
        env: "MUSTER_BATCH_MAX",
        default: "1000",
        accepts: "a whole number from 1 to 100000",
        doc: "Most operations in one batch call; more is a 413.",
    },
    Setting {
        env: "MUSTER_BUILD_NUMBER",
        default: "the one built in (the commit count, see the README's Build number)",
        accepts: "1 to 32 characters of letters, digits, . - _",
        doc: "Overrides the build number for a manual rev.",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Where one class of log lines is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSink {
    Stdout,
    Stderr,
    /// Appended to; created if missing.
    File(std::path::PathBuf),
}

impl LogSink {
    fn parse(s: &str) -> Option<Option<LogSink>> {
        Some(match s {
            "" | "none" => None,
            "stdout" => Some(LogSink::Stdout),
            "stderr" => Some(LogSink::Stderr),
            path => Some(LogSink::File(path.into())),
        })
    }
}

/// The parsed configuration. Secrets are [`Secret`]s, which `Debug` does not print.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub admin_listen: SocketAddr,
    pub log_server_errors: Option<LogSink>,
    pub log_client_errors: Option<LogSink>,
    pub log_client_reports: Option<LogSink>,
    pub client_report_rate: Quota,
    pub client_report_retention: Duration,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// The PostgreSQL pool size when set; see [`Config::pool_size`].
    pub db_max_connections: Option<u32>,
    pub db_acquire_timeout: Duration,
    /// See [`muster_store_postgres::PgSettings::statement_timeout`].
    pub db_statement_timeout: Duration,
    pub migrate: bool,
    pub request_timeout: Duration,
    /// How the public listener treats connections (header and body read timeouts, the cap).
    pub connections: crate::server::ConnectionLimits,
    pub drain_delay: Duration,
    pub shutdown_timeout: Duration,
    pub build_number: Option<String>,
    pub jwt_secret: Option<Secret>,
    pub jwt_jwks_url: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub rate_limit: Quota,
    pub redis_url: Option<String>,
    pub trusted_proxies: Vec<Cidr>,
    pub cors_origins: Vec<String>,
    pub batch_max: usize,
    pub cache: muster_api::cache::CacheMode,
    pub cache_ttl: Duration,
    /// Per-resource TTLs that differ from `cache_ttl`.
    pub cache_ttl_overrides: Vec<(&'static str, Duration)>,
    pub cache_memory_bytes: u64,
}

/// A setting that did not parse: prints as the one line start-up stops with.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Raw values by variable name, remembering where each came from.
struct Raw(BTreeMap<&'static str, (String, String)>);

impl Raw {
    fn take<T>(&self, env: &'static str, default: T, parse: impl Fn(&str) -> Option<T>) -> Result<T, ConfigError> {
        let Some((value, source)) = self.0.get(env) else { return Ok(default) };
        let accepts = SETTINGS.iter().find(|s| s.env == env).map_or("", |s| s.accepts);
        parse(value.trim()).ok_or_else(|| {
            // a secret is never echoed, not even a wrong one
            // nor a password inside a URL
            let shown = if env.contains("SECRET") {
                "the value".to_owned()
            } else {
                format!("{:?}", muster_api::redact::scrub(value))
            };
            ConfigError(format!("{source}: {shown} is not valid; expected {accepts}"))
        })
    }
}

/// Pool sizes when `MUSTER_DB_MAX_CONNECTIONS` is not set: a server's requests share its
/// pool; a Lambda execution environment serves one request at a time (a second connection
/// serves the flag and rate-limit reloads), and hundreds of environments share the database.
pub const DEFAULT_POOL: u32 = 16;
pub const DEFAULT_LAMBDA_POOL: u32 = 2;

impl Config {
    /// The PostgreSQL pool size: the setting, else the default for how the binary serves.
    pub fn pool_size(&self, lambda: bool) -> u32 {
        self.db_max_connections.unwrap_or(if lambda { DEFAULT_LAMBDA_POOL } else { DEFAULT_POOL })
    }

    /// The `MUSTER_*` variables of this process's environment.
    pub fn environment() -> Vec<(String, String)> {
        std::env::vars().filter(|(k, _)| k.starts_with("MUSTER_")).collect()
    }

    /// Reads the file named by `MUSTER_CONFIG` (or `./muster.toml`) and the environment.
    pub fn load() -> Result<Config, ConfigError> {
        Config::load_with(Config::environment())
    }

    /// Like [`Config::load`], with the environment's `MUSTER_*` variables given (after
    /// [`crate::aws_secrets`] replaced references to secrets with their values).
    pub fn load_with(env: Vec<(String, String)>) -> Result<Config, ConfigError> {
        let file = match env.iter().find(|(k, _)| k == "MUSTER_CONFIG") {
            Some((_, path)) => Some((
                path.clone(),
                std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("MUSTER_CONFIG: cannot read {path}: {e}")))?,
            )),
            None => std::fs::read_to_string("muster.toml").ok().map(|t| ("muster.toml".to_owned(), t)),
        };
        Config::from_sources(
            file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())),
            &env,
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        )
    }

    /// Builds the configuration from a file's text and environment pairs (testable).
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: &[(String, String)],
        terminal: bool,
    ) -> Result<Config, ConfigError> {
        let mut raw = Raw(BTreeMap::new());
        if let Some((path, text)) = file {
            let table: toml::Table = text.parse().map_err(|e| ConfigError(format!("{path}: not valid TOML: {e}")))?;
            for (key, value) in table {
                let name = format!("MUSTER_{}", key.to_ascii_uppercase());
                let setting = SETTINGS.iter().find(|s| s.env == name).ok_or_else(|| {
                    ConfigError(format!("{path}: unknown setting {key:?}; see the configuration table in the README"))
                })?;
                let text = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    _ => {
                        return Err(ConfigError(format!(
                            "{path}: {key} must be a string, a whole number or a boolean"
                        )));
                    }
                };
                raw.0.insert(setting.env, (text, format!("{path}: {key}")));
            }
        }
        for (k, v) in env {
            if let Some(setting) = SETTINGS.iter().find(|s| s.env == k) {
                raw.0.insert(setting.env, (v.clone(), k.clone()));
            }
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let rate: Quota =
            raw.take("MUSTER_RATE_LIMIT", Quota::parse("100/min").expect("valid default"), |s| Quota::parse(s).ok())?;
        let burst = raw.take("MUSTER_RATE_LIMIT_BURST", None, |s| {
            s.parse::<u32>().ok().filter(|n| (1..=1_000_000_000).contains(n)).map(Some)
        })?;
        let redis_url: Option<String> = raw.take("MUSTER_REDIS_URL", None, |s| {
            if s.is_empty() {
                Some(None)
            } else {
                (s.starts_with("redis://") || s.starts_with("rediss://")).then(|| Some(s.to_owned()))
            }
        })?;
        let default_cache = if redis_url.is_some() {
            muster_api::cache::CacheMode::Redis
        } else {
            muster_api::cache::CacheMode::Memory
        };
        let cache = raw.take("MUSTER_CACHE", default_cache, muster_api::cache::CacheMode::parse)?;
        if cache == muster_api::cache::CacheMode::Redis && redis_url.is_none() {
            return Err(ConfigError("MUSTER_CACHE: \"redis\" needs MUSTER_REDIS_URL to be set".into()));
        }
        let mut cache_ttl_overrides = Vec::new();
        for (env, resource) in [
            ("MUSTER_CACHE_TTL_CANDIDATES", "candidates"),
            ("MUSTER_CACHE_TTL_VOLUNTEERS", "volunteers"),
            ("MUSTER_CACHE_TTL_EVENTS", "events"),
            ("MUSTER_CACHE_TTL_ATTENDANCES", "attendances"),
        ] {
            if let Some(ttl) = raw.take(env, None, |s| parse_duration(s).map(Some))? {
                cache_ttl_overrides.push((resource, ttl));
            }
        }
        Ok(Config {
            cache,
            cache_ttl: raw.take("MUSTER_CACHE_TTL", Duration::from_secs(60), parse_duration)?,
            cache_ttl_overrides,
            cache_memory_bytes: raw.take("MUSTER_CACHE_MEMORY_MB", 64 << 20, |s| {
                s.parse::<u64>().ok().filter(|n| (1..=65_536).contains(n)).map(|n| n << 20)
            })?,
            batch_max: raw.take("MUSTER_BATCH_MAX", 1000, |s| s.parse().ok().filter(|n| (1..=100_000).contains(n)))?,
            jwt_secret: raw
                .take("MUSTER_JWT_SECRET", None, |s| (s.len() >= 32).then(|| Some(Secret::new(s.to_owned()))))?,
            jwt_jwks_url: raw.take("MUSTER_JWT_JWKS_URL", None, |s| {
                if s.is_empty() {
                    Some(None)
                } else {
                    (s.starts_with("https://") || s.starts_with("http://")).then(|| Some(s.to_owned()))
                }
            })?,
            jwt_issuer: raw.take("MUSTER_JWT_ISSUER", None, |s| Some(some(s)))?,
            jwt_audience: raw.take("MUSTER_JWT_AUDIENCE", None, |s| Some(some(s)))?,
            rate_limit: match burst {
                Some(b) => rate.with_burst(b),
                None => rate,
            },
            redis_url,
            trusted_proxies: raw.take("MUSTER_TRUSTED_PROXIES", Vec::new(), |s| {
                s.split(',').filter(|x| !x.trim().is_empty()).map(|x| Cidr::parse(x.trim()).ok()).collect()
            })?,
            cors_origins: raw.take("MUSTER_CORS_ORIGINS", Vec::new(), |s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(|o| {
                        let ok = (o.starts_with("https://") || o.starts_with("http://"))
                            && !o.trim_end_matches('/').contains(['?', '#', ' '])
                            && axum::http::HeaderValue::from_str(o).is_ok();
                        ok.then(|| o.trim_end_matches('/').to_owned())
                    })
                    .collect()
            })?,
            database_url: raw.take("MUSTER_DATABASE_URL", "sqlite://muster.db".into(), |s| {
                ["postgres://", "postgresql://", "sqlite:"].iter().any(|p| s.starts_with(p)).then(|| s.to_owned())
            })?,
            listen: raw.take("MUSTER_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8080)), |s| s.parse().ok())?,
            log_format: raw.take(
                "MUSTER_LOG_FORMAT",
                if terminal { LogFormat::Pretty } else { LogFormat::Json },
                |s| match s {
                    "json" => Some(LogFormat::Json),
                    "pretty" => Some(LogFormat::Pretty),
                    _ => None,
                },
            )?,
            log_filter: raw.take("MUSTER_LOG", "info".into(), |s| {
                tracing_subscriber::EnvFilter::try_new(s).ok().map(|_| s.to_owned())
            })?,
            admin_listen: raw
                .take("MUSTER_ADMIN_LISTEN", SocketAddr::from(([127, 0, 0, 1], 9090)), |s| s.parse().ok())?,
            log_server_errors: raw.take("MUSTER_LOG_SERVER_ERRORS", None, LogSink::parse)?,
            log_client_errors: raw.take("MUSTER_LOG_CLIENT_ERRORS", None, LogSink::parse)?,
            log_client_reports: raw.take("MUSTER_LOG_CLIENT_REPORTS", None, LogSink::parse)?,
            client_report_rate: raw.take(
                "MUSTER_CLIENT_REPORT_RATE",
                muster_api::routes::client_errors::ClientReportPolicy::default().rate,
                |s| Quota::parse(s).ok(),
            )?,
            client_report_retention: raw.take(
                "MUSTER_CLIENT_REPORT_RETENTION",
                muster_api::routes::client_errors::ClientReportPolicy::default().retention,
                |s| parse_duration(s).filter(|d| *d >= Duration::from_secs(3600)),
            )?,
            audit_retention: raw.take("MUSTER_AUDIT_RETENTION", muster_api::audit::DEFAULT_RETENTION, |s| {
                parse_long_duration(s).filter(|d| *d >= Duration::from_secs(24 * 3600))
            })?,
            db_max_connections: raw.take("MUSTER_DB_MAX_CONNECTIONS", None, |s| {
                s.parse().ok().filter(|n| (1..=1000).contains(n)).map(Some)
            })?,
            db_acquire_timeout: raw.take("MUSTER_DB_ACQUIRE_TIMEOUT", Duration::from_secs(3), parse_duration)?,
            db_statement_timeout: raw.take(
                "MUSTER_DB_STATEMENT_TIMEOUT",
                muster_store_postgres::DEFAULT_STATEMENT_TIMEOUT,
                |s| parse_duration(s).filter(|d| !d.is_zero()),
            )?,
            migrate: raw.take("MUSTER_MIGRATE", true, parse_bool)?,
            request_timeout: raw.take("MUSTER_REQUEST_TIMEOUT", Duration::from_secs(30), |s| {
                parse_duration(s).filter(|d| !d.is_zero())
            })?,
            connections: {
                let d = crate::server::ConnectionLimits::default();
                let positive = |s: &str| parse_duration(s).filter(|d| !d.is_zero());
                crate::server::ConnectionLimits {
                    header_read_timeout: raw.take("MUSTER_HEADER_READ_TIMEOUT", d.header_read_timeout, positive)?,
                    body_read_timeout: raw.take("MUSTER_BODY_READ_TIMEOUT", d.body_read_timeout, positive)?,
                    max_connections: raw.take("MUSTER_MAX_CONNECTIONS", d.max_connections, |s| {
                        s.parse().ok().filter(|n| (1..=1_000_000).contains(n))
                    })?,
                }
            },
            drain_delay: raw.take("MUSTER_DRAIN_DELAY", Duration::ZERO, parse_duration)?,
            shutdown_timeout: raw.take("MUSTER_SHUTDOWN_TIMEOUT", Duration::from_secs(30), parse_duration)?,
            build_number: raw.take("MUSTER_BUILD_NUMBER", None, |s| {
                let ok =
                    !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
                ok.then(|| Some(s.to_owned()))
            })?,
        })
    }
}

/// `250ms`, `30s`, `5m`, `1h` (whole numbers; `0` alone means zero).
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// A duration that may also be given in days (`400d`): retention and token lifetimes.
pub fn parse_long_duration(s: &str) -> Option<Duration> {
    match s.strip_suffix('d').and_then(|n| n.parse::<u64>().ok()) {
        Some(days) => Some(Duration::from_secs(days.checked_mul(86_400)?)),
        None => parse_duration(s),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_work_on_a_fresh_machine() {
        let c = Config::from_sources(None, &[], false).unwrap();
        assert_eq!(c.database_url, "sqlite://muster.db");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.migrate);
    }

    #[test]
    fn env_beats_file_beats_default() {
        let file = "listen = \"127.0.0.1:9000\"\nrequest_timeout = \"5s\"\n";
        let c = Config::from_sources(Some(("muster.toml", file)), &env(&[("MUSTER_LISTEN", "127.0.0.1:9001")]), false)
            .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(c.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_it_accepts() {
        let e = Config::from_sources(None, &env(&[("MUSTER_REQUEST_TIMEOUT", "soon")]), false).unwrap_err();
        assert_eq!(e.0, "MUSTER_REQUEST_TIMEOUT: \"soon\" is not valid; expected a duration like 500ms, 30s, 1m");
        let e = Config::from_sources(None, &env(&[("MUSTER_DATABASE_URL", "mysql://x")]), false).unwrap_err();
        assert!(e.0.starts_with("MUSTER_DATABASE_URL:"), "{e}");
        let e = Config::from_sources(Some(("m.toml", "lisen = 1")), &[], false).unwrap_err();
        assert!(e.0.contains("unknown setting \"lisen\""), "{e}");
        let e = Config::from_sources(Some(("m.toml", "db_max_connections = 0")), &[], false).unwrap_err();
        assert!(e.0.starts_with("m.toml: db_max_connections: \"0\""), "{e}");
    }

    #[test]
    fn security_settings() {
        let c = Config::from_sources(
            None,
            &env(&[
                ("MUSTER_RATE_LIMIT", "10/s"),
                ("MUSTER_RATE_LIMIT_BURST", "3"),
                ("MUSTER_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
                ("MUSTER_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!((c.rate_limit.limit, c.rate_limit.burst), (10, 3));
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(!format!("{c:?}").contains("0123456789abcdef"), "secrets stay out of Debug");
        for (k, v) in [
            ("MUSTER_JWT_SECRET", "short"),
            ("MUSTER_RATE_LIMIT", "lots"),
            ("MUSTER_RATE_LIMIT_BURST", "0"),
            ("MUSTER_REDIS_URL", "localhost:6379"),
            ("MUSTER_TRUSTED_PROXIES", "proxy.local"),
            ("MUSTER_CORS_ORIGINS", "*"),
            ("MUSTER_JWT_JWKS_URL", "file:///etc/keys"),
        ] {
            let e = Config::from_sources(None, &env(&[(k, v)]), false).unwrap_err();
            assert!(e.0.starts_with(k), "{e}");
        }
        let e = Config::from_sources(None, &env(&[("MUSTER_JWT_SECRET", "short")]), false).unwrap_err();
        assert!(!e.0.contains("short\""), "the bad secret itself is not echoed: {e}");
    }

    #[test]
    fn observability_settings() {
        let d = Config::from_sources(None, &[], false).unwrap();
        assert_eq!(d.admin_listen.to_string(), "127.0.0.1:9090");
        assert_eq!((d.log_server_errors, d.log_client_errors, d.log_client_reports), (None, None, None));
        assert_eq!(d.client_report_retention, Duration::from_secs(720 * 3600));
        let c = Config::from_sources(
            None,
            &env(&[
                ("MUSTER_ADMIN_LISTEN", "0.0.0.0:9191"),
                ("MUSTER_LOG_SERVER_ERRORS", "/var/log/muster/server-errors.jsonl"),
                ("MUSTER_LOG_CLIENT_ERRORS", "stdout"),
                ("MUSTER_LOG_CLIENT_REPORTS", "none"),
                ("MUSTER_CLIENT_REPORT_RATE", "5/s"),
                ("MUSTER_CLIENT_REPORT_RETENTION", "168h"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(c.admin_listen.port(), 9191);
        assert_eq!(c.log_server_errors, Some(LogSink::File("/var/log/muster/server-errors.jsonl".into())));
        assert_eq!((c.log_client_errors, c.log_client_reports), (Some(LogSink::Stdout), None));
        assert_eq!(c.client_report_rate.limit, 5);
        for (k, v) in [
            ("MUSTER_ADMIN_LISTEN", "9090"),
            ("MUSTER_CLIENT_REPORT_RATE", "often"),
            ("MUSTER_CLIENT_REPORT_RETENTION", "5m"),
        ] {
            let e = Config::from_sources(None, &env(&[(k, v)]), false).unwrap_err();
            assert!(e.0.starts_with(k), "{e}");
        }
        let e = Config::from_sources(None, &env(&[("MUSTER_DATABASE_URL", "mysql://app:hunter2@db/x")]), false)
            .unwrap_err();
        assert!(!e.0.contains("hunter2"), "a password in a URL is not echoed: {e}");
    }

    #[test]
    fn connection_settings() {
        let d = Config::from_sources(None, &[], false).unwrap().connections;
        assert_eq!(
            (d.header_read_timeout, d.body_read_timeout, d.max_connections),
            (Duration::from_secs(10), Duration::from_secs(30), 4096)
        );
        let c = Config::from_sources(
            None,
            &env(&[
                ("MUSTER_HEADER_READ_TIMEOUT", "2s"),
                ("MUSTER_BODY_READ_TIMEOUT", "500ms"),
                ("MUSTER_MAX_CONNECTIONS", "64"),
            ]),
            false,
        )
        .unwrap()
        .connections;
        assert_eq!(
            (c.header_read_timeout, c.body_read_timeout, c.max_connections),
            (Duration::from_secs(2), Duration::from_millis(500), 64)
        );
        for (k, v) in [
            ("MUSTER_HEADER_READ_TIMEOUT", "0"),
            ("MUSTER_HEADER_READ_TIMEOUT", "soon"),
            ("MUSTER_BODY_READ_TIMEOUT", "0s"),
            ("MUSTER_MAX_CONNECTIONS", "0"),
            ("MUSTER_MAX_CONNECTIONS", "many"),
        ] {
            let e = Config::from_sources(None, &env(&[(k, v)]), false).unwrap_err();
            assert!(e.0.starts_with(k), "{e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "s", "5", "-1s", "1.5s", "5 s", "5d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_long_duration("400d"), Some(Duration::from_secs(400 * 86_400)));
        assert_eq!(parse_long_duration("36h"), Some(Duration::from_secs(36 * 3600)));
        for bad in ["d", "-1d", "1.5d", "99999999999999999d"] {
            assert_eq!(parse_long_duration(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod readme {
    /// The README's configuration table lists every setting this release reads.
    #[test]
    fn readme_documents_every_setting() {
        let readme = include_str!("../../../README.md");
        for s in super::SETTINGS {
            assert!(readme.contains(&format!("| `{}` |", s.env)), "README lacks {}", s.env);
        }
    }
}
