//! `muster monitor` and `muster report` (with `--postmortem`, a post-mortem draft): the
//! command lines of the monitor (`muster-monitor`).
//! Arguments become [`muster_monitor::Settings`]; the E2E suite's tokens come from
//! `--token` or are minted with the API's secret, as `muster e2e` does.

use crate::config::Config;
use crate::token::Signer;
use anyhow::{Context, bail};
use muster_e2e::Tokens;
use muster_monitor::db::{DEFAULT_URL, Db, Maintenance};
use muster_monitor::postmortem;
use muster_monitor::report::{self, Format};
use muster_monitor::time::{Range, now_ms, parse_duration, parse_instant};
use muster_monitor::{E2eMode, Retention, Settings, Target, split_named};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct MonitorArgs {
    /// An API to watch, `[NAME=]URL` (repeat for several: `--target prod=URL --target canary=URL`).
    #[arg(long, required = true)]
    pub target: Vec<String>,
    /// A target's admin /metrics URL, `[NAME=]URL` (unnamed: the first target).
    #[arg(long)]
    pub metrics: Vec<String>,
    /// Where the dashboard, API, reports and /metrics are served.
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: String,
    /// How often the E2E suite runs and metrics are scraped.
    #[arg(long, default_value = "30s")]
    pub interval: String,
    /// How often /health, /ready and /version are probed (at most the interval).
    #[arg(long, default_value = "10s")]
    pub probe_interval: String,
    /// The E2E suite each interval: full, smoke or off.
    #[arg(long, default_value = "full")]
    pub e2e: String,
    /// A bearer token for the E2E suite (default: minted with MUSTER_JWT_SECRET).
    #[arg(long, env = "MUSTER_E2E_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Consecutive failures that open an incident.
    #[arg(long, default_value_t = 2)]
    pub failure_threshold: u32,
    /// Consecutive successes that close it.
    #[arg(long, default_value_t = 2)]
    pub success_threshold: u32,
    /// A webhook for incident and budget alerts (generic JSON with a Slack `text`); repeatable.
    #[arg(long)]
    pub alert_webhook: Vec<String>,
    /// A maintenance window, `FROM/TO` (RFC 3339, or `now`/`2h` back from now), optionally
    /// `NAME:FROM/TO` for one target; repeatable.
    #[arg(long)]
    pub maintenance: Vec<String>,
    /// How long raw samples are kept.
    #[arg(long, default_value = "7d")]
    pub raw_retention: String,
    /// How long 5-minute roll-ups are kept.
    #[arg(long, default_value = "400d")]
    pub rollup_retention: String,
    /// Longest wait for one probe's answer.
    #[arg(long, default_value = "10s")]
    pub timeout: String,
    /// The store (default: the SQLite file ./muster-monitor.db).
    #[arg(long, env = "MUSTER_MONITOR_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_URL)]
    pub database_url: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Start: RFC 3339, a date, or a duration back from now (`7d`).
    #[arg(long, default_value = "24h", allow_hyphen_values = true)]
    pub from: String,
    /// End (default now).
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    pub to: String,
    /// md, html, json or csv (a post-mortem: md).
    #[arg(long, default_value = "md")]
    pub format: String,
    /// Draft a blameless post-mortem of the window (docs/postmortem-template.md) instead.
    #[arg(long)]
    pub postmortem: bool,
    /// Only these targets (default: every target in the store).
    #[arg(long)]
    pub target: Vec<String>,
    /// The monitor's store (default: the SQLite file ./muster-monitor.db).
    #[arg(long, env = "MUSTER_MONITOR_DATABASE_URL", hide_env_values = true, default_value = DEFAULT_URL)]
    pub database_url: String,
}

fn duration(flag: &str, raw: &str) -> anyhow::Result<Duration> {
    match parse_duration(raw) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => bail!("{flag} {raw:?} is not a duration; use a positive number with ms, s, m, h or d"),
    }
}

/// The settings `args` describe (checked before anything starts).
pub fn settings(cfg: &Config, args: &MonitorArgs) -> anyhow::Result<Settings> {
    let mut targets = Vec::new();
    for raw in &args.target {
        let t = Target::parse(raw).map_err(|e| anyhow::anyhow!("--target: {e}"))?;
        if targets.iter().any(|x: &Target| x.name == t.name) {
            bail!("--target: two targets are named {:?}; name them NAME=URL", t.name);
        }
        targets.push(t);
    }
    for raw in &args.metrics {
        let (name, url) = split_named(raw);
        muster_monitor::check_url(url).map_err(|e| anyhow::anyhow!("--metrics: {e}"))?;
        let t = match name {
            Some(n) => {
                targets.iter_mut().find(|t| t.name == n).with_context(|| format!("--metrics: no target named {n:?}"))?
            }
            None => &mut targets[0],
        };
        t.metrics = Some(url.to_owned());
    }
    let mut s = Settings::new(targets);
    s.interval = duration("--interval", &args.interval)?;
    s.probe_interval = duration("--probe-interval", &args.probe_interval)?.min(s.interval);
    s.timeout = duration("--timeout", &args.timeout)?;
    s.e2e = match args.e2e.as_str() {
        "full" => E2eMode::Full,
        "smoke" => E2eMode::Smoke,
        "off" => E2eMode::Off,
        other => bail!("--e2e {other:?}: use full, smoke or off"),
    };
    if s.e2e != E2eMode::Off {
        s.tokens = Some(match (&args.token, Signer::from_config(cfg)) {
            (Some(t), _) => Tokens::Given(t.trim().to_owned()),
            (None, Some(signer)) => Tokens::Minted(Arc::new(signer)),
            (None, None) => bail!(
                "no token for the E2E suite: pass --token (or MUSTER_E2E_TOKEN), set MUSTER_JWT_SECRET, or --e2e off"
            ),
        });
    }
    s.failure_threshold = args.failure_threshold.max(1);
    s.success_threshold = args.success_threshold.max(1);
    for url in &args.alert_webhook {
        muster_monitor::check_url(url).map_err(|e| anyhow::anyhow!("--alert-webhook: {e}"))?;
    }
    s.webhooks.clone_from(&args.alert_webhook);
    s.retention = Retention {
        raw: duration("--raw-retention", &args.raw_retention)?,
        rollups: duration("--rollup-retention", &args.rollup_retention)?,
    };
    Ok(s)
}

/// `--maintenance [NAME:]FROM/TO` as a window (its id is its text, so a restart with the
/// same flag adds nothing).
pub fn maintenance_window(raw: &str, now: i64) -> anyhow::Result<Maintenance> {
    let (target, span) = match raw.split_once(':') {
        Some((name, rest))
            if !name.is_empty()
                && !name.chars().all(|c| c.is_ascii_digit())
                && rest.contains('/')
                && !name.contains('/') =>
        {
            (Some(name.to_owned()), rest)
        }
        _ => (None, raw),
    };
    let Some((from, to)) = span.split_once('/') else {
        bail!("--maintenance {raw:?}: use FROM/TO, like 2026-12-01T02:00:00Z/2026-12-01T03:00:00Z");
    };
    let from = parse_instant(from, now).map_err(|e| anyhow::anyhow!("--maintenance: {e}"))?;
    let to = parse_instant(to, now).map_err(|e| anyhow::anyhow!("--maintenance: {e}"))?;
    if to <= from {
        bail!("--maintenance {raw:?}: the window must end after it starts");
    }
    Ok(Maintenance { id: format!("cli:{raw}"), target, starts_ms: from, ends_ms: to, reason: "--maintenance".into() })
}

/// `muster monitor`: runs until SIGTERM or Ctrl-C.
pub async fn run(cfg: &Config, args: &MonitorArgs) -> anyhow::Result<()> {
    let settings = settings(cfg, args)?;
    let db = Db::open(&args.database_url).await?;
    for raw in &args.maintenance {
        db.insert_maintenance(&maintenance_window(raw, now_ms())?).await?;
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("--listen: cannot listen on {}", args.listen))?;
    let signal = crate::server::shutdown_signal().map_err(|e| anyhow::anyhow!("cannot listen for SIGTERM: {e}"))?;
    let mut monitor = muster_monitor::Monitor::start(settings, db, listener).await?;
    tokio::select! {
        () = signal => {}
        () = monitor.wait() => bail!("the monitor stopped on its own"),
    }
    monitor.stop().await;
    Ok(())
}

/// `muster report`: prints the report of the store's samples; the monitor need not run.
pub async fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let now = now_ms();
    let format = Format::parse(&args.format).map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    if args.postmortem && format != Format::Markdown {
        bail!("--postmortem drafts Markdown only: use --format md (the default)");
    }
    let from = parse_instant(&args.from, now).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let to = parse_instant(&args.to, now).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    if from >= to {
        bail!("--from must be before --to");
    }
    if let Some(path) =
        args.database_url.strip_prefix("sqlite://").or_else(|| args.database_url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).exists() {
            bail!("no monitor store at {path}: run `muster monitor` here first, or set MUSTER_MONITOR_DATABASE_URL");
        }
    }
    let db = Db::open(&args.database_url).await?;
    let range = Range { from, to };
    if args.postmortem {
        print!("{}", postmortem::build(&db, &args.target, range, now, Retention::default()).await?.markdown());
    } else {
        print!("{}", report::build(&db, &args.target, range, now, Retention::default()).await?.render(format));
    }
    Ok(())
}
