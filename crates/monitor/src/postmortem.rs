//! A blameless post-mortem draft from the monitor's store (`muster report --postmortem`):
//! the figures a machine can know — impact in numbers, the incident timeline, deployments in
//! the window and the hour before it, error and latency figures beside the hour before as a
//! baseline — and, under the same headings, **TODO** placeholders for what only people can
//! write (root causes, what went well and wrong, action items with owners and due dates).
//!
//! Its headings are [`HEADINGS`], the headings of `docs/postmortem-template.md` (a test
//! keeps the two equal), so a draft becomes a finished post-mortem by filling it in, not by
//! moving it around. Every figure comes from [`crate::summary::view`], the source of the
//! dashboard and the reports, so the three cannot disagree. The last line is the command
//! that drew it, with the window as absolute times, so it can be drawn again.

use crate::db::{Db, Incident};
use crate::summary::{Summary, view};
use crate::time::{HOUR_MS, Range, human_duration, rfc3339};
use crate::{Retention, SLO, SLO_WINDOW};
use std::fmt::Write;

/// The template's headings below its title, in order.
pub const HEADINGS: [&str; 10] = [
    "## Summary",
    "## Impact in numbers",
    "### Errors and latency",
    "## Timeline",
    "### Deployments",
    "## Root causes",
    "## What went well",
    "## What went wrong",
    "## Action items",
    "## Rules for this review",
];

/// Deployments this long before the window are listed too: a regression often starts with
/// the release before the first failure.
pub const BEFORE_MS: i64 = HOUR_MS;

/// What the store says about one target, in the window and the hour before it.
pub struct TargetFacts {
    pub window: Summary,
    /// The hour before the window: the baseline for errors and latency.
    pub before: Summary,
    /// Incidents overlapping the window, with exact times.
    pub incidents: Vec<Incident>,
    /// Deployments from the hour before the window to its end: (at, from, to).
    pub deploys: Vec<(i64, Option<String>, String)>,
}

pub struct Draft {
    pub range: Range,
    pub generated_ms: i64,
    /// The targets asked for by name (empty: every target), for the command line.
    pub asked: Vec<String>,
    pub targets: Vec<TargetFacts>,
}

/// The draft for `targets` (every target in the store when empty) over `range`.
pub async fn build(db: &Db, targets: &[String], range: Range, now: i64, retention: Retention) -> anyhow::Result<Draft> {
    let names = if targets.is_empty() { db.targets().await? } else { targets.to_vec() };
    let before = Range { from: range.from - BEFORE_MS, to: range.from };
    let mut out = Vec::new();
    for t in &names {
        out.push(TargetFacts {
            window: view(db, t, range, now, retention).await?.summary,
            before: view(db, t, before, now, retention).await?.summary,
            incidents: db.incidents(Some(t), range.from, range.to).await?,
            deploys: db
                .deploys(Some(t), before.from, range.to)
                .await?
                .into_iter()
                .map(|d| (d.at_ms, d.from_build, d.to_build))
                .collect(),
        });
    }
    Ok(Draft { range, generated_ms: now, asked: targets.to_vec(), targets: out })
}

const TODO: &str = "**TODO (people):**";

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".into(), |v| format!("{v:.3} %"))
}

/// Share of a whole 30-day error budget that the window's failed probes spent.
fn budget_30d(s: &Summary) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "spans in ms are far below 2^52")]
    let (span, budget) = ((s.to_ms - s.from_ms) as f64, (1.0 - SLO) * SLO_WINDOW.as_millis() as f64);
    s.availability.map(|a| (100.0 - a) / 100.0 * span / budget)
}

fn latency(s: &Summary) -> String {
    s.latency
        .as_ref()
        .map_or_else(|| "no data".into(), |l| format!("{:.1} / {:.1} / {:.1} ms", l.p50_ms, l.p95_ms, l.p99_ms))
}

/// A Markdown table row, with `|` in cells escaped.
fn row(out: &mut String, cells: &[String]) {
    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|").replace('\n', "; ")).collect();
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

fn head(out: &mut String, cells: &[&str]) {
    let _ = writeln!(out, "| {} |\n|{}", cells.join(" | "), "---|".repeat(cells.len()));
}

impl Draft {
    /// The command that draws this draft again.
    pub fn command(&self) -> String {
        let mut c = format!(
            "muster report --postmortem --from {} --to {} --format md",
            rfc3339(self.range.from),
            rfc3339(self.range.to)
        );
        for t in &self.asked {
            let _ = write!(c, " --target {t}");
        }
        c
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let names: Vec<&str> = self.targets.iter().map(|t| t.window.target.as_str()).collect();
        let (from, to) = (rfc3339(self.range.from), rfc3339(self.range.to));
        let _ = writeln!(
            out,
            "# Post-mortem: {} {from} to {to} (draft)\n\n\
             > Status: draft. Authors: **TODO**. Incident window: {from} to {to} (UTC).\n>\n\
             > Drafted from the monitor's store. The figures, the timeline and the deployments are the\n\
             > monitor's; every **TODO** is for people to write. The headings are those of\n\
             > docs/postmortem-template.md, which says what each section needs.\n",
            if names.is_empty() { "no target".to_owned() } else { names.join(", ") }
        );
        self.summary(&mut out);
        self.impact(&mut out);
        self.timeline(&mut out);
        out.push_str("## Root causes\n\nWhat the monitor recorded failing (symptoms, not root causes):\n\n");
        let mut causes: Vec<String> = self
            .targets
            .iter()
            .flat_map(|t| &t.incidents)
            .map(|i| format!("{}: {}", i.target, i.cause.replace('\n', "; ")))
            .collect();
        causes.dedup();
        if causes.is_empty() {
            out.push_str("- nothing: no incident opened in the window\n");
        }
        for c in causes {
            let _ = writeln!(out, "- {c}");
        }
        let _ = writeln!(
            out,
            "\n{TODO} why it happened, as a chain of conditions down to the ones we can change \
             (a missing test, check, alert or safe default). Systems and processes, never people.\n"
        );
        let _ = writeln!(
            out,
            "## What went well\n\n{TODO} what limited the damage (the alert that fired, the flag that switched the fault off, the rollback that worked).\n"
        );
        let _ = writeln!(
            out,
            "## What went wrong\n\n{TODO} what made it worse or slower (late detection, a missing dashboard, a confusing runbook).\n"
        );
        out.push_str("## Action items\n\n");
        head(&mut out, &["action", "kind (prevent / detect / mitigate / process)", "owner", "due", "issue"]);
        out.push_str("| **TODO** | | | | |\n\nEvery item has one owner, a due date and an issue.\n\n");
        out.push_str(
            "## Rules for this review\n\n\
             - Blameless: no names of individuals as causes, in the text, the timeline or the titles; name roles where it helps.\n\
             - Systems, not mistakes: if a person could make the error, the system let them.\n\
             - Facts with sources: a figure that is not the monitor's says where it comes from.\n\
             - Action items are tracked like any other work.\n\n",
        );
        let _ = writeln!(
            out,
            "---\n\nDrafted at {} by `{}` from the monitor's store.",
            rfc3339(self.generated_ms),
            self.command()
        );
        out
    }

    fn summary(&self, out: &mut String) {
        out.push_str("## Summary\n\n");
        if self.targets.is_empty() {
            out.push_str("No data: the store has no samples for any target.\n\n");
        }
        for t in &self.targets {
            let s = &t.window;
            let _ = write!(out, "**{}**: ", s.target);
            if !s.has_data {
                out.push_str("no data in this window: no availability is claimed. ");
            }
            match t.incidents.len() {
                0 => out.push_str("no incident opened in the window"),
                1 => out.push_str("1 incident"),
                n => {
                    let _ = write!(out, "{n} incidents");
                }
            }
            let _ = write!(out, ", {} of downtime", human_duration(s.downtime_ms));
            if s.availability.is_some() {
                let _ = write!(
                    out,
                    "; availability {} against the {:.1} % SLO ({:.1} % of the window's error budget)",
                    pct(s.availability),
                    s.slo,
                    s.error_budget_used.unwrap_or(0.0) * 100.0
                );
            }
            if let Some(tr) = &s.traffic {
                let _ = write!(out, "; {} server errors (5xx) of {} requests", tr.server_errors, tr.requests);
            }
            out.push('.');
            if let Some(first) = t.incidents.first()
                && let Some((at, _, build)) = t.deploys.iter().rev().find(|(at, _, _)| *at <= first.started_ms)
            {
                let _ = write!(
                    out,
                    " The first incident started {} after the deployment of build {build}.",
                    human_duration(first.started_ms - at)
                );
            }
            out.push_str("\n\n");
        }
        let _ = writeln!(
            out,
            "{TODO} in two or three sentences: what users could not do, for how long, what stopped it, and whether it can happen again.\n"
        );
    }

    fn impact(&self, out: &mut String) {
        out.push_str("## Impact in numbers\n\n");
        let mut cols = vec!["measure"];
        cols.extend(self.targets.iter().map(|t| t.window.target.as_str()));
        head(out, &cols);
        let line = |out: &mut String, name: &str, f: &dyn Fn(&TargetFacts) -> String| {
            let mut cells = vec![name.to_owned()];
            cells.extend(self.targets.iter().map(f));
            row(out, &cells);
        };
        line(out, "downtime (incidents)", &|t| {
            let n = t.incidents.len();
            format!("{} ({n} incident{})", human_duration(t.window.downtime_ms), if n == 1 { "" } else { "s" })
        });
        line(out, &format!("availability in the window (SLO {:.1} %)", SLO * 100.0), &|t| pct(t.window.availability));
        line(out, "error budget used", &|t| match (t.window.error_budget_used, budget_30d(&t.window)) {
            (Some(w), Some(m)) => format!("{:.1} % of the window's; {:.2} % of a 30-day budget", w * 100.0, m * 100.0),
            _ => "no data".into(),
        });
        line(out, "failed requests (5xx)", &|t| {
            t.window.traffic.as_ref().map_or_else(
                || "no data".into(),
                |tr| format!("{} of {} requests ({})", tr.server_errors, tr.requests, pct(tr.server_error_rate)),
            )
        });
        line(out, "client errors (4xx), 429s, auth failures", &|t| {
            t.window.traffic.as_ref().map_or_else(
                || "no data".into(),
                |tr| {
                    format!(
                        "{} ({}), {}, {}",
                        tr.client_errors,
                        pct(tr.client_error_rate),
                        tr.rate_limited,
                        tr.auth_failures
                    )
                },
            )
        });
        line(out, "failed probes (/ready), failed E2E runs", &|t| {
            let s = &t.window;
            format!(
                "{} of {} ({} in maintenance); {} of {}",
                s.probes_failed, s.probes, s.probes_in_maintenance, s.e2e_runs_failed, s.e2e_runs
            )
        });
        line(out, "checks that failed", &|t| {
            let mut names: Vec<String> =
                t.window.failing_checks.iter().map(|(name, n)| format!("{name} ({n} runs)")).collect();
            if names.is_empty() {
                names = t
                    .incidents
                    .iter()
                    .flat_map(|i| i.checks.lines())
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                names.dedup();
            }
            if names.is_empty() { "none".into() } else { names.join("; ") }
        });
        line(out, "users, volunteers or events affected, data lost or wrong", &|_| "**TODO**".into());
        out.push_str("\n### Errors and latency\n\n");
        for t in &self.targets {
            let (b, w) = (&t.before, &t.window);
            let _ = writeln!(out, "**{}**, the window beside the hour before it:\n", w.target);
            head(out, &["measure", "hour before", "window"]);
            let both = |out: &mut String, name: &str, f: &dyn Fn(&Summary) -> String| {
                row(out, &[name.to_owned(), f(b), f(w)]);
            };
            both(out, "latency p50 / p95 / p99", &latency);
            both(out, "requests", &|s| s.traffic.as_ref().map_or_else(|| "no data".into(), |t| t.requests.to_string()));
            both(out, "server errors (5xx)", &|s| {
                s.traffic
                    .as_ref()
                    .map_or_else(|| "no data".into(), |t| format!("{} ({})", t.server_errors, pct(t.server_error_rate)))
            });
            both(out, "client errors (4xx)", &|s| {
                s.traffic
                    .as_ref()
                    .map_or_else(|| "no data".into(), |t| format!("{} ({})", t.client_errors, pct(t.client_error_rate)))
            });
            both(out, "availability (/ready)", &|s| pct(s.availability));
            both(out, "metrics scrapes (bad)", &|s| format!("{} ({})", s.scrapes, s.scrapes_bad));
            let routes: Vec<_> = w.routes.iter().take(5).collect();
            if !routes.is_empty() {
                out.push_str("\nRoutes with the most errors in the window:\n\n");
                head(out, &["route", "4xx", "5xx"]);
                for r in routes {
                    row(out, &[r.route.clone(), r.client_errors.to_string(), r.server_errors.to_string()]);
                }
            }
            out.push('\n');
        }
    }

    fn timeline(&self, out: &mut String) {
        out.push_str("## Timeline\n\nAll times UTC, from the monitor's store.\n\n");
        let mut events: Vec<(i64, String, String, String)> = Vec::new();
        for t in &self.targets {
            let name = &t.window.target;
            for (at, from, to) in &t.deploys {
                let from = from.as_deref().unwrap_or("(first seen)");
                events.push((*at, name.clone(), "deployment".into(), format!("{from} → {to}")));
            }
            for m in &t.window.maintenance {
                events.push((m.starts_ms, name.clone(), "maintenance starts".into(), m.reason.clone()));
                events.push((m.ends_ms, name.clone(), "maintenance ends".into(), m.reason.clone()));
            }
            for i in &t.incidents {
                let checks: Vec<&str> = i.checks.lines().filter(|l| !l.is_empty()).collect();
                let mut what = i.cause.clone();
                if !checks.is_empty() {
                    let _ = write!(what, "; failing checks: {}", checks.join(", "));
                }
                let _ = write!(what, "; build in force: {}", i.build.as_deref().unwrap_or("unknown"));
                events.push((i.started_ms, name.clone(), "incident starts (first failure)".into(), what));
                events.push((
                    i.detected_ms,
                    name.clone(),
                    "incident opened (detected)".into(),
                    format!("{} after the first failure", human_duration(i.detected_ms - i.started_ms)),
                ));
                match i.ended_ms {
                    Some(end) => events.push((
                        end,
                        name.clone(),
                        "incident resolved".into(),
                        format!("lasted {}", human_duration(end - i.started_ms)),
                    )),
                    None => events.push((
                        self.generated_ms,
                        name.clone(),
                        "incident still open".into(),
                        format!("open for {} when drafted", human_duration(self.generated_ms - i.started_ms)),
                    )),
                }
            }
        }
        // a stable order: by time, then as pushed (a deploy before the failure it caused)
        events.sort_by_key(|e| e.0);
        head(out, &["time (UTC)", "target", "event", "detail"]);
        if events.is_empty() {
            out.push_str("| | | nothing recorded | |\n");
        }
        for (at, target, event, detail) in events {
            row(out, &[rfc3339(at), target, event, detail]);
        }
        let _ = writeln!(
            out,
            "\n{TODO} add the alerts received, who was paged (by role), what was tried and when, and the mitigation.\n"
        );
        out.push_str("### Deployments\n\n");
        let all: Vec<_> =
            self.targets.iter().flat_map(|t| t.deploys.iter().map(move |d| (&t.window.target, d))).collect();
        if all.is_empty() {
            out.push_str("None in the window or the hour before it.\n\n");
        } else {
            head(out, &["at (UTC)", "target", "from", "to", "when"]);
            for (target, (at, from, to)) in all {
                let when = if *at < self.range.from { "the hour before the window" } else { "in the window" };
                row(
                    out,
                    &[
                        rfc3339(*at),
                        target.clone(),
                        from.clone().unwrap_or_else(|| "(first seen)".into()),
                        to.clone(),
                        when.into(),
                    ],
                );
            }
            let _ = writeln!(out, "\n{TODO} which of these were rolled back, or had a feature switched off by flag?\n");
        }
    }
}
