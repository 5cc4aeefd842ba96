//! The probes of one target, and what follows from each result.
//!
//! Two loops per target: the fast one (`/health`, `/ready`, `/version` every probe
//! interval) and the slow one (the E2E suite in-process, then the metrics scrape, every
//! interval). Every result is stored, updates the monitor's own metrics, and feeds the
//! target's [`Tracker`]; a transition opens, updates or closes the incident in the store
//! and queues a webhook. `/version`'s build changing is a deployment.

use crate::alert::{Alert, Alerter};
use crate::db::{Db, Deploy, Incident, Probe, Scrape};
use crate::incident::{Signal, Tracker, Transition, merge_cause};
use crate::metrics::Metrics;
use crate::scrape::Counters;
use crate::time::{HOUR_MS, MINUTE_MS, now_ms, rfc3339};
use crate::{E2eMode, FAST_BURN, SLO, Settings, Target};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};

/// What the monitor remembers about one target between probes.
pub struct TargetState {
    pub target: Target,
    tracker: Tracker,
    incident: Option<String>,
    /// The open incident's cause as recorded ([`merge_cause`]).
    cause: String,
    build: Option<String>,
    failing_checks: Vec<String>,
    counters: Option<Counters>,
    /// `/ready` results of the last hour, for the burn rate.
    recent: VecDeque<(i64, bool)>,
    burning: bool,
}

/// What the probe loops share.
pub struct Prober {
    pub db: Db,
    pub settings: Settings,
    pub metrics: Metrics,
    pub alerter: Alerter,
    http: reqwest::Client,
}

impl Prober {
    pub fn new(db: Db, settings: Settings, metrics: Metrics, alerter: Alerter) -> Prober {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("muster-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Prober { db, settings, metrics, alerter, http }
    }

    /// The target's state, resuming an incident left open by a previous run.
    pub async fn state(&self, target: &Target) -> anyhow::Result<TargetState> {
        let open = self.db.open_incidents().await?.into_iter().find(|i| i.target == target.name);
        let mut tracker = Tracker::new(self.settings.failure_threshold, self.settings.success_threshold);
        if open.is_some() {
            tracker = tracker.resume_open();
        }
        self.metrics.incident_open(&target.name, open.is_some());
        Ok(TargetState {
            target: target.clone(),
            tracker,
            cause: open.as_ref().map(|i| i.cause.clone()).unwrap_or_default(),
            incident: open.map(|i| i.id),
            build: self.db.last_build(&target.name).await?,
            failing_checks: Vec::new(),
            counters: None,
            recent: VecDeque::new(),
            burning: false,
        })
    }

    /// Probes `/health`, `/ready` and `/version` every probe interval until `stop`.
    pub async fn fast_loop(self: Arc<Self>, state: Arc<Mutex<TargetState>>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.settings.probe_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if let Err(e) = self.fast_round(&state).await {
                tracing::warn!(error = format!("{e:#}"), "probe round not stored");
            }
        }
    }

    /// Runs the E2E suite and scrapes metrics every interval until `stop`.
    pub async fn slow_loop(self: Arc<Self>, state: Arc<Mutex<TargetState>>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let mut halt = stop.clone();
            let stopped = async move {
                let _ = halt.changed().await;
            };
            if let Err(e) = self.e2e_round(&state, stopped).await {
                tracing::warn!(error = format!("{e:#}"), "E2E result not stored");
            }
            if let Err(e) = self.scrape_round(&state).await {
                tracing::warn!(error = format!("{e:#}"), "scrape not stored");
            }
        }
    }

    async fn get(&self, url: &str) -> (Result<reqwest::Response, String>, f64) {
        let started = Instant::now();
        let r = self.http.get(url).send().await.map_err(|e| describe(&e));
        (r, started.elapsed().as_secs_f64() * 1000.0)
    }

    async fn fast_round(&self, state: &Mutex<TargetState>) -> anyhow::Result<()> {
        let target = state.lock().await.target.clone();
        let name = target.name.clone();
        let (health, health_ms) = self.get(&format!("{}/health", target.url)).await;
        let health_why = match &health {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("/health answered {}", r.status().as_u16())),
            Err(e) => Some(format!("unreachable: {e}")),
        };
        let at = now_ms();
        self.record(&name, "health", at, health_why.is_none(), Some(health_ms), health_why.clone()).await?;

        let (ready, ready_ms) = self.get(&format!("{}/ready", target.url)).await;
        let ready_why = match &ready {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("/ready answered {}", r.status().as_u16())),
            Err(e) => Some(format!("unreachable: {e}")),
        };
        let at = now_ms();
        let ok = ready_why.is_none();
        self.record(&name, "ready", at, ok, Some(ready_ms), ready_why.clone()).await?;

        if let (Ok(r), _) = self.get(&format!("{}/version", target.url)).await
            && r.status().is_success()
            && let Ok(v) = r.json::<serde_json::Value>().await
            && let Some(build) = v["build"].as_str()
        {
            let build = match v["commit"].as_str() {
                Some(c) => format!("{build} ({c})"),
                None => build.to_owned(),
            };
            self.saw_build(state, build).await?;
        }
        let mut st = state.lock().await;
        let held = self.in_maintenance(&name, at).await?;
        let t = st.tracker.observe(Signal::Ready, ok, at, ready_why.as_deref().unwrap_or(""), held);
        self.apply(&mut st, t, at).await?;
        self.burn(&mut st, at, ok, held);
        Ok(())
    }

    async fn saw_build(&self, state: &Mutex<TargetState>, build: String) -> anyhow::Result<()> {
        let mut st = state.lock().await;
        if st.build.as_deref() == Some(build.as_str()) {
            return Ok(());
        }
        let d = Deploy {
            target: st.target.name.clone(),
            at_ms: now_ms(),
            from_build: st.build.clone(),
            to_build: build.clone(),
        };
        self.db.insert_deploy(&d).await?;
        tracing::info!(target = %d.target, from = ?d.from_build, to = %d.to_build, "deployment seen");
        st.build = Some(build);
        Ok(())
    }

    async fn e2e_round(&self, state: &Mutex<TargetState>, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (mode, Some(tokens)) = (self.settings.e2e, self.settings.tokens.clone()) else {
            return Ok(());
        };
        if mode == E2eMode::Off {
            return Ok(());
        }
        let target = state.lock().await.target.clone();
        let mut opts = muster_e2e::Options::new(target.url.clone(), tokens);
        opts.smoke = mode == E2eMode::Smoke;
        opts.timeout = self.settings.timeout;
        let started = Instant::now();
        let result = muster_e2e::run(&opts, stop).await;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        let at = now_ms();
        let (ok, why, detail, failing) = match result {
            Ok(report) if report.interrupted => return Ok(()),
            Ok(report) => {
                self.metrics.e2e(&target.name, report.passed, report.failed, report.skipped);
                let failing: Vec<String> = report.failures().map(|c| format!("{} ({})", c.name, c.operation)).collect();
                let why = match failing.len() {
                    0 => String::new(),
                    1 => format!("1 check failing: {}", failing[0]),
                    n => format!("{n} checks failing: {}", failing[..n.min(3)].join("; ")),
                };
                let detail = json!({"passed": report.passed, "failed": report.failed, "skipped": report.skipped,
                    "failing": failing, "build": report.build, "run_id": report.run_id});
                (report.ok(), why, detail, failing)
            }
            Err(e) => {
                let why = e.to_string();
                (false, why.clone(), json!({"error": why}), Vec::new())
            }
        };
        self.record(&target.name, "e2e", at, ok, Some(took), Some(detail.to_string())).await?;
        let mut st = state.lock().await;
        if !failing.is_empty() {
            st.failing_checks = failing;
        }
        let held = self.in_maintenance(&target.name, at).await?;
        let t = st.tracker.observe(Signal::E2e, ok, at, &why, held);
        self.apply(&mut st, t, at).await
    }

    async fn scrape_round(&self, state: &Mutex<TargetState>) -> anyhow::Result<()> {
        let (name, metrics) = {
            let st = state.lock().await;
            (st.target.name.clone(), st.target.metrics.clone())
        };
        let Some(url) = metrics else {
            return Ok(());
        };
        let (resp, _) = self.get(&url).await;
        let body = match resp {
            Ok(r) if r.status().is_success() => r.text().await.map_err(|e| format!("reading the body: {e}")),
            Ok(r) => Err(format!("answered {}", r.status().as_u16())),
            Err(e) => Err(e),
        };
        let at = now_ms();
        let parsed = body.and_then(|b| Counters::parse(&b).map_err(|e| e.0));
        let row = match parsed {
            Ok(now) => {
                let mut st = state.lock().await;
                let deltas = st.counters.as_ref().map(|before| now.increase(before).to_json());
                let baseline = deltas.is_none();
                st.counters = Some(now);
                self.metrics.scrape(&name, if baseline { "baseline" } else { "ok" });
                Scrape {
                    target: name,
                    at_ms: at,
                    ok: true,
                    deltas,
                    detail: baseline.then(|| "baseline: the first scrape since the monitor started".into()),
                }
            }
            Err(why) => {
                self.metrics.scrape(&name, "bad");
                Scrape { target: name, at_ms: at, ok: false, deltas: None, detail: Some(why) }
            }
        };
        self.db.insert_scrape(&row).await
    }

    async fn record(
        &self,
        target: &str,
        kind: &str,
        at: i64,
        ok: bool,
        latency_ms: Option<f64>,
        detail: Option<String>,
    ) -> anyhow::Result<()> {
        self.metrics.probe(target, kind, ok, latency_ms.unwrap_or(0.0) / 1000.0, at);
        let p = Probe { target: target.to_owned(), at_ms: at, kind: kind.to_owned(), ok, latency_ms, detail };
        self.db.insert_probe(&p).await
    }

    async fn in_maintenance(&self, target: &str, at: i64) -> anyhow::Result<bool> {
        Ok(!self.db.maintenance(Some(target), at, at + 1).await?.is_empty())
    }

    async fn apply(&self, st: &mut TargetState, t: Option<Transition>, at: i64) -> anyhow::Result<()> {
        let name = st.target.name.clone();
        match t {
            None => {}
            Some(Transition::Opened { started_ms, cause }) => {
                let incident = Incident {
                    id: uuid::Uuid::now_v7().to_string(),
                    target: name.clone(),
                    started_ms,
                    detected_ms: at,
                    ended_ms: None,
                    checks: st.failing_checks.join("\n"),
                    cause: cause.clone(),
                    build: st.build.clone(),
                };
                self.db.open_incident(&incident).await?;
                st.incident = Some(incident.id.clone());
                st.cause.clone_from(&cause);
                self.metrics.incident_open(&name, true);
                tracing::warn!(target = %name, cause = %cause, "incident opened");
                self.alerter.send(&Alert {
                    event: "incident.opened",
                    target: name.clone(),
                    text: format!(
                        ":red_circle: muster {name}: incident opened (since {}): {}",
                        rfc3339(started_ms),
                        cause.replace('\n', "; ")
                    ),
                    details: serde_json::to_value(&incident).unwrap_or_default(),
                });
            }
            Some(Transition::Changed { cause }) => {
                st.cause = merge_cause(&st.cause, &cause);
                if let Some(id) = &st.incident {
                    self.db.update_incident(id, &st.cause, &st.failing_checks.join("\n")).await?;
                }
            }
            Some(Transition::Closed) => {
                if let Some(id) = st.incident.take() {
                    self.db.close_incident(&id, at).await?;
                    let incident = self.db.incidents(Some(&name), 0, i64::MAX).await?.into_iter().find(|i| i.id == id);
                    let lasted = incident.as_ref().map(|i| crate::time::human_duration(at - i.started_ms));
                    tracing::info!(target = %name, "incident resolved");
                    self.alerter.send(&Alert {
                        event: "incident.resolved",
                        target: name.clone(),
                        text: format!(
                            ":large_green_circle: muster {name}: incident resolved after {}",
                            lasted.as_deref().unwrap_or("?")
                        ),
                        details: serde_json::to_value(&incident).unwrap_or_default(),
                    });
                }
                st.failing_checks.clear();
                st.cause.clear();
                self.metrics.incident_open(&name, false);
            }
        }
        Ok(())
    }

    /// Alerts once when `/ready` failures burn the error budget fast over both the last
    /// hour and the last 5 minutes; re-arms when the hour's rate falls below the threshold.
    fn burn(&self, st: &mut TargetState, at: i64, ok: bool, held: bool) {
        if held {
            return;
        }
        st.recent.push_back((at, ok));
        while st.recent.front().is_some_and(|(t, _)| *t < at - HOUR_MS) {
            st.recent.pop_front();
        }
        let rate = |since: i64| {
            let (n, bad) = st
                .recent
                .iter()
                .filter(|(t, _)| *t >= since)
                .fold((0u32, 0u32), |(n, b), (_, ok)| (n + 1, b + u32::from(!ok)));
            (n, if n == 0 { 0.0 } else { f64::from(bad) / f64::from(n) / (1.0 - SLO) })
        };
        let (n_hour, hour) = rate(at - HOUR_MS);
        let (_, five) = rate(at - 5 * MINUTE_MS);
        if !st.burning && n_hour >= 10 && hour >= FAST_BURN && five >= FAST_BURN {
            st.burning = true;
            let name = st.target.name.clone();
            self.alerter.send(&Alert {
                event: "budget.burn",
                target: name.clone(),
                text: format!(
                    ":fire: muster {name}: error budget burning {hour:.0}x over the last hour ({five:.0}x over 5 minutes)"
                ),
                details: json!({"burn_rate_1h": hour, "burn_rate_5m": five, "slo": SLO}),
            });
        } else if st.burning && hour < FAST_BURN {
            st.burning = false;
        }
    }
}

/// A request error and its causes, on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}
