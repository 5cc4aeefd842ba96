//! What a range says about a target: availability, error budget, incidents, deployments,
//! maintenance, latency, error rates and business totals ([`Summary`]), and the per-panel
//! time series the dashboard draws ([`Panel`]). The dashboard, the JSON API and the
//! reports all read these, so a figure is computed in one place.
//!
//! The samples come as [`Observations`] (raw, or roll-ups of one tier or the other, all in
//! one shape), so each figure has one formula. Nothing is invented: no probe means no
//! availability (`None`, shown as "no data"), and a bucket without a good scrape has no
//! value, not zero.

use crate::db::{Db, Deploy, Maintenance};
pub use crate::observations::{Observations, RAW_UP_TO_MS, Tally};
use crate::scrape::{Counters, key};
use crate::time::{Range, rfc3339};
use crate::{Retention, SLO};
use serde::Serialize;
use std::collections::BTreeMap;

/// Points per chart at most.
pub const POINTS: i64 = 120;

#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    pub id: String,
    pub target: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: i64,
    pub duration: String,
    pub time_to_detect_ms: i64,
    pub cause: String,
    pub failing_checks: Vec<String>,
    pub build: Option<String>,
    pub open: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployView {
    pub at: String,
    pub at_ms: i64,
    pub from_build: Option<String>,
    pub to_build: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceView {
    pub id: String,
    pub starts_at: String,
    pub ends_at: String,
    pub starts_ms: i64,
    pub ends_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Traffic {
    pub requests: f64,
    pub client_errors: f64,
    pub server_errors: f64,
    /// Percent of requests.
    pub client_error_rate: Option<f64>,
    pub server_error_rate: Option<f64>,
    pub rate_limited: f64,
    pub auth_failures: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Business {
    pub volunteers_signed_up: f64,
    pub candidates_created: f64,
    pub events_created: f64,
    pub registrations: f64,
    pub waitlisted: f64,
    pub check_ins: f64,
    pub client_error_reports: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteErrors {
    pub route: String,
    pub client_errors: f64,
    pub server_errors: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub target: String,
    pub from: String,
    pub to: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// `raw`, `rollups` (5-minute) or `rollups-1h` (hourly where that is exact).
    pub source: &'static str,
    pub has_data: bool,
    /// Percent of `/ready` probes that passed outside maintenance; `null` without any.
    pub availability: Option<f64>,
    pub probes: i64,
    pub probes_failed: i64,
    pub probes_in_maintenance: i64,
    /// Time covered by incidents in the range.
    pub downtime_ms: i64,
    /// The objective, in percent.
    pub slo: f64,
    /// Share of the range's error budget spent (1.0 = all of it; may exceed 1).
    pub error_budget_used: Option<f64>,
    pub error_budget_left: Option<f64>,
    pub e2e_runs: i64,
    pub e2e_runs_failed: i64,
    pub e2e_pass_rate: Option<f64>,
    pub latency: Option<Latency>,
    pub traffic: Option<Traffic>,
    pub business: Option<Business>,
    pub scrapes: i64,
    pub scrapes_bad: i64,
    pub incidents: Vec<IncidentView>,
    pub deploys: Vec<DeployView>,
    pub maintenance: Vec<MaintenanceView>,
    pub failing_checks: Vec<(String, i64)>,
    pub routes: Vec<RouteErrors>,
}

pub(crate) fn in_windows(t: i64, windows: &[Maintenance]) -> bool {
    windows.iter().any(|m| t >= m.starts_ms && t < m.ends_ms)
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "probe counts are far below 2^52")]
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// Everything the dashboard, the API and reports say about `target` over `range`.
pub struct View {
    pub summary: Summary,
    pub obs: Observations,
    pub maintenance: Vec<Maintenance>,
    pub deploys: Vec<Deploy>,
}

pub async fn view(db: &Db, target: &str, range: Range, now: i64, retention: Retention) -> anyhow::Result<View> {
    let maintenance = db.maintenance(Some(target), range.from, range.to).await?;
    let obs = Observations::load(db, target, range, now, retention, &maintenance).await?;
    let deploys = db.deploys(Some(target), range.from, range.to).await?;
    let incidents = db.incidents(Some(target), range.from, range.to).await?;

    let (mut n, mut ok, mut held) = (0, 0, 0);
    for t in &obs.ready {
        if in_windows(t.at, &maintenance) {
            held += t.n;
        } else {
            n += t.n;
            ok += t.ok;
        }
    }
    let availability = percent(ok, n);
    let budget_used = availability.map(|a| (100.0 - a) / (100.0 - SLO * 100.0));
    let e2e_runs: i64 = obs.e2e.iter().map(|t| t.n).sum();
    let e2e_ok: i64 = obs.e2e.iter().map(|t| t.ok).sum();

    let mut total = Counters::default();
    for (_, c) in &obs.scrapes {
        total.merge(c);
    }
    let scraped = !obs.scrapes.is_empty();
    let traffic = scraped.then(|| {
        let req = total.get(key::REQUESTS);
        let rate = |x: f64| (req > 0.0).then(|| x * 100.0 / req);
        Traffic {
            requests: req,
            client_errors: total.get(key::CLIENT_ERRORS),
            server_errors: total.get(key::SERVER_ERRORS),
            client_error_rate: rate(total.get(key::CLIENT_ERRORS)),
            server_error_rate: rate(total.get(key::SERVER_ERRORS)),
            rate_limited: total.get(key::RATE_LIMITED),
            auth_failures: total.get(key::AUTH_FAILURES),
        }
    });
    let business = scraped.then(|| Business {
        volunteers_signed_up: total.get(key::VOLUNTEERS),
        candidates_created: total.get(key::CANDIDATES),
        events_created: total.get(key::EVENTS),
        registrations: total.get(key::REGISTERED),
        waitlisted: total.get(key::WAITLISTED),
        check_ins: total.get(key::CHECKINS),
        client_error_reports: total.get(key::CLIENT_REPORTS),
    });
    let latency =
        match (total.latency_quantile_ms(0.5), total.latency_quantile_ms(0.95), total.latency_quantile_ms(0.99)) {
            (Some(p50_ms), Some(p95_ms), Some(p99_ms)) => Some(Latency { p50_ms, p95_ms, p99_ms }),
            _ => None,
        };
    let mut routes: BTreeMap<String, RouteErrors> = BTreeMap::new();
    for (k, v) in &total.0 {
        let Some(rest) = k.strip_prefix(key::ROUTE) else { continue };
        let Some((route, class)) = rest.rsplit_once(':') else { continue };
        let r = routes.entry(route.to_owned()).or_insert_with(|| RouteErrors {
            route: route.to_owned(),
            client_errors: 0.0,
            server_errors: 0.0,
        });
        if class == key::SERVER_ERRORS {
            r.server_errors += v;
        } else {
            r.client_errors += v;
        }
    }
    let mut routes: Vec<RouteErrors> = routes.into_values().collect();
    routes.sort_by(|a, b| (b.server_errors + b.client_errors).total_cmp(&(a.server_errors + a.client_errors)));

    let incidents: Vec<IncidentView> = incidents
        .into_iter()
        .map(|i| {
            let end = i.ended_ms.unwrap_or(now);
            IncidentView {
                started_at: rfc3339(i.started_ms),
                ended_at: i.ended_ms.map(rfc3339),
                duration_ms: end - i.started_ms,
                duration: crate::time::human_duration(end - i.started_ms),
                time_to_detect_ms: i.detected_ms - i.started_ms,
                failing_checks: i.checks.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect(),
                open: i.ended_ms.is_none(),
                id: i.id,
                target: i.target,
                cause: i.cause,
                build: i.build,
            }
        })
        .collect();
    let downtime_ms = incidents
        .iter()
        .map(|i| {
            let start = rfc_ms(&i.started_at).max(range.from);
            (start + i.duration_ms).min(range.to) - start
        })
        .map(|d| d.max(0))
        .sum();
    let mut failing_checks: Vec<(String, i64)> = obs.failing_checks.iter().map(|(k, v)| (k.clone(), *v)).collect();
    failing_checks.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let summary = Summary {
        target: target.to_owned(),
        from: rfc3339(range.from),
        to: rfc3339(range.to),
        from_ms: range.from,
        to_ms: range.to,
        source: obs.source.as_str(),
        has_data: n + held > 0 || e2e_runs > 0 || obs.scrapes_n > 0,
        availability,
        probes: n,
        probes_failed: n - ok,
        probes_in_maintenance: held,
        downtime_ms,
        slo: SLO * 100.0,
        error_budget_used: budget_used,
        error_budget_left: budget_used.map(|u| 1.0 - u),
        e2e_runs,
        e2e_runs_failed: e2e_runs - e2e_ok,
        e2e_pass_rate: percent(e2e_ok, e2e_runs),
        latency,
        traffic,
        business,
        scrapes: obs.scrapes_n,
        scrapes_bad: obs.scrapes_bad,
        incidents,
        deploys: deploys
            .iter()
            .map(|d| DeployView {
                at: rfc3339(d.at_ms),
                at_ms: d.at_ms,
                from_build: d.from_build.clone(),
                to_build: d.to_build.clone(),
            })
            .collect(),
        maintenance: maintenance
            .iter()
            .map(|m| MaintenanceView {
                id: m.id.clone(),
                starts_at: rfc3339(m.starts_ms),
                ends_at: rfc3339(m.ends_ms),
                starts_ms: m.starts_ms,
                ends_ms: m.ends_ms,
                reason: m.reason.clone(),
            })
            .collect(),
        failing_checks,
        routes,
    };
    Ok(View { summary, obs, maintenance, deploys })
}

fn rfc_ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s).map_or(0, |t| t.timestamp_millis())
}

/// One chart: lines over shared time buckets.
#[derive(Debug, Clone, Serialize)]
pub struct Panel {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    /// Start of each bucket (ms).
    pub t: Vec<i64>,
    pub step_ms: i64,
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub name: &'static str,
    /// `null` where the bucket has no sample.
    pub values: Vec<Option<f64>>,
}

/// The panels' ids, in dashboard order.
pub const PANELS: [&str; 11] = [
    "availability",
    "probe_latency",
    "e2e",
    "latency",
    "requests",
    "errors",
    "refusals",
    "volunteers",
    "events",
    "registrations",
    "reports",
];

/// Every panel of the dashboard for `view`'s range.
pub fn panels(view: &View) -> Vec<Panel> {
    let range = Range { from: view.summary.from_ms, to: view.summary.to_ms };
    let min_step = view.obs.source.step_ms();
    let step = ((range.span_ms() / POINTS).max(min_step) + min_step - 1) / min_step * min_step;
    let start = range.from.div_euclid(step) * step;
    let count = usize::try_from((range.to - start + step - 1) / step).unwrap_or(0);
    let t: Vec<i64> = (0..count).map(|i| start + step * i64::try_from(i).unwrap_or(0)).collect();
    let idx = |at: i64| usize::try_from((at - start).div_euclid(step)).ok().filter(|i| *i < count);

    let mut ready = vec![(0i64, 0i64, 0.0f64); count];
    for x in &view.obs.ready {
        if let Some(i) = idx(x.at)
            && !in_windows(x.at, &view.maintenance)
        {
            ready[i].0 += x.n;
            ready[i].1 += x.ok;
            ready[i].2 += x.latency_sum;
        }
    }
    let mut e2e = vec![(0i64, 0i64); count];
    for x in &view.obs.e2e {
        if let Some(i) = idx(x.at) {
            e2e[i].0 += x.n;
            e2e[i].1 += x.ok;
        }
    }
    let mut scraped: Vec<Option<Counters>> = vec![None; count];
    for (at, c) in &view.obs.scrapes {
        if let Some(i) = idx(*at) {
            scraped[i].get_or_insert_with(Counters::default).merge(c);
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "counts and steps are small")]
    let per_s = |v: f64| v / (step as f64 / 1000.0);
    let counter = |k: &str| scraped.iter().map(|c| c.as_ref().map(|c| c.get(k))).collect::<Vec<_>>();
    let rate = |k: &str| scraped.iter().map(|c| c.as_ref().map(|c| per_s(c.get(k)))).collect::<Vec<_>>();
    let quantile =
        |q: f64| scraped.iter().map(|c| c.as_ref().and_then(|c| c.latency_quantile_ms(q))).collect::<Vec<_>>();
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let availability: Vec<Option<f64>> =
        ready.iter().map(|(n, ok, _)| (*n > 0).then(|| *ok as f64 * 100.0 / *n as f64)).collect();
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let probe_latency: Vec<Option<f64>> = ready.iter().map(|(n, _, sum)| (*n > 0).then(|| sum / *n as f64)).collect();
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let e2e_pass: Vec<Option<f64>> = e2e.iter().map(|(n, ok)| (*n > 0).then_some(*ok as f64)).collect();
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let e2e_fail: Vec<Option<f64>> = e2e.iter().map(|(n, ok)| (*n > 0).then(|| (n - ok) as f64)).collect();

    let panel = |id, title, unit, lines: Vec<Line>| Panel { id, title, unit, t: t.clone(), step_ms: step, lines };
    vec![
        panel("availability", "Availability (/ready)", "%", vec![Line { name: "available", values: availability }]),
        panel("probe_latency", "Probe latency (/ready)", "ms", vec![Line { name: "mean", values: probe_latency }]),
        panel(
            "e2e",
            "E2E runs",
            "runs",
            vec![Line { name: "passed", values: e2e_pass }, Line { name: "failed", values: e2e_fail }],
        ),
        panel(
            "latency",
            "Request latency",
            "ms",
            vec![
                Line { name: "p50", values: quantile(0.5) },
                Line { name: "p95", values: quantile(0.95) },
                Line { name: "p99", values: quantile(0.99) },
            ],
        ),
        panel("requests", "Request rate", "req/s", vec![Line { name: "requests", values: rate(key::REQUESTS) }]),
        panel(
            "errors",
            "Errors",
            "req/s",
            vec![
                Line { name: "4xx", values: rate(key::CLIENT_ERRORS) },
                Line { name: "5xx", values: rate(key::SERVER_ERRORS) },
            ],
        ),
        panel(
            "refusals",
            "429s and auth failures",
            "per bucket",
            vec![
                Line { name: "429", values: counter(key::RATE_LIMITED) },
                Line { name: "auth failures", values: counter(key::AUTH_FAILURES) },
            ],
        ),
        panel(
            "volunteers",
            "Volunteers signed up",
            "per bucket",
            vec![Line { name: "volunteers", values: counter(key::VOLUNTEERS) }],
        ),
        panel(
            "events",
            "Events and candidates created",
            "per bucket",
            vec![
                Line { name: "events", values: counter(key::EVENTS) },
                Line { name: "candidates", values: counter(key::CANDIDATES) },
            ],
        ),
        panel(
            "registrations",
            "Registrations, waitlisted, check-ins",
            "per bucket",
            vec![
                Line { name: "registered", values: counter(key::REGISTERED) },
                Line { name: "waitlisted", values: counter(key::WAITLISTED) },
                Line { name: "check-ins", values: counter(key::CHECKINS) },
            ],
        ),
        panel(
            "reports",
            "Client error reports",
            "per bucket",
            vec![Line { name: "reports", values: counter(key::CLIENT_REPORTS) }],
        ),
    ]
}
