//! The monitor: a separate process that watches a live Muster the way its users meet it.
//!
//! It probes each target ([`probe`]: the E2E suite in-process every interval, `/health`,
//! `/ready` and `/version` more often, the admin `/metrics`), keeps the samples ([`db`]:
//! SQLite by default, PostgreSQL by URL; raw for days, 5-minute and hour [`rollup`]s for a
//! year, read through [`observations`]), opens and closes [`incident`]s with webhook
//! [`alert`]s, marks deployments when the build changes, and serves a dashboard, a JSON
//! API, reports and its own metrics ([`http`]); [`postmortem`] drafts a post-mortem from it all.
//!
//! It is a separate process on purpose: a monitor inside the API would go down with it.

pub mod alert;
pub mod dashboard;
pub mod db;
pub mod http;
pub mod incident;
pub mod metrics;
pub mod observations;
pub mod postmortem;
pub mod probe;
pub mod report;
pub mod rollup;
pub mod scrape;
pub mod summary;
pub mod svg;
pub mod time;

use std::time::Duration;

/// The availability objective, the same as the API's SLO in `deploy/prometheus/` (99.5 %
/// over 30 days): error budgets and burn rates are measured against it.
pub const SLO: f64 = 0.995;
/// The window the SLO is stated over.
pub const SLO_WINDOW: Duration = Duration::from_secs(30 * 86_400);
/// A burn rate this high spends 2 % of a 30-day budget in an hour (the Google SRE
/// workbook's fast-burn page); the alert needs it over both the last hour and 5 minutes.
pub const FAST_BURN: f64 = 14.4;

/// One API the monitor watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name its history is kept under (`prod`, `canary`; default `default`).
    pub name: String,
    /// The API's base URL.
    pub url: String,
    /// Its admin `/metrics` URL, when the monitor may scrape it.
    pub metrics: Option<String>,
}

impl Target {
    /// `[NAME=]URL`.
    pub fn parse(raw: &str) -> Result<Target, String> {
        let (name, url) = split_named(raw);
        check_url(url)?;
        Ok(Target {
            name: name.unwrap_or("default").to_owned(),
            url: url.trim_end_matches('/').to_owned(),
            metrics: None,
        })
    }
}

/// `NAME=URL` → (Some(NAME), URL); a bare URL → (None, URL).
pub fn split_named(raw: &str) -> (Option<&str>, &str) {
    match raw.split_once('=') {
        Some((name, url)) if !name.contains("://") && !name.is_empty() => (Some(name), url),
        _ => (None, raw),
    }
}

pub fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!("{url:?} is not an http:// or https:// URL")),
    }
}

/// How much of the E2E suite each interval runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E2eMode {
    Full,
    Smoke,
    Off,
}

/// How long samples are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub raw: Duration,
    pub rollups: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { raw: Duration::from_secs(7 * 86_400), rollups: Duration::from_secs(400 * 86_400) }
    }
}

/// Everything `muster monitor` is told.
#[derive(Clone)]
pub struct Settings {
    pub targets: Vec<Target>,
    /// E2E runs and metrics scrapes.
    pub interval: Duration,
    /// `/health`, `/ready` and `/version` probes.
    pub probe_interval: Duration,
    pub e2e: E2eMode,
    /// Tokens for the E2E suite (required unless `e2e` is off).
    pub tokens: Option<muster_e2e::Tokens>,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub webhooks: Vec<String>,
    pub retention: Retention,
    /// How often roll-ups and retention run.
    pub rollup_every: Duration,
    /// Longest wait for one probe's answer.
    pub timeout: Duration,
}

impl Settings {
    pub fn new(targets: Vec<Target>) -> Settings {
        Settings {
            targets,
            interval: Duration::from_secs(30),
            probe_interval: Duration::from_secs(10),
            e2e: E2eMode::Full,
            tokens: None,
            failure_threshold: 2,
            success_threshold: 2,
            webhooks: Vec::new(),
            retention: Retention::default(),
            rollup_every: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

pub use http::Monitor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_named_or_default() {
        assert_eq!(Target::parse("prod=https://api.example.org/").unwrap().name, "prod");
        assert_eq!(Target::parse("https://api.example.org").unwrap().name, "default");
        assert_eq!(Target::parse("http://127.0.0.1:8080/?a=b").unwrap().url, "http://127.0.0.1:8080/?a=b");
        assert!(Target::parse("prod=ftp://x").is_err());
    }
}
