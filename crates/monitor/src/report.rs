//! Reports for a range, from the monitor's store (`GET /report`, `muster report`): per
//! target, availability and error budget used, incidents with durations and time to detect,
//! deployments, maintenance, latency percentiles, client and server error rates, and
//! business totals, as Markdown, HTML, JSON or CSV. A range without samples says so and
//! claims no availability.
//!
//! Every form is rendered from one [`Report`] (the JSON form is it, serialised), so the four
//! cannot disagree. The post-mortem draft ([`crate::postmortem`]) reads the same summaries.

use crate::db::Db;
use crate::summary::{Summary, view};
use crate::svg::escape;
use crate::time::{Range, human_duration, rfc3339};
use crate::{Retention, SLO};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Json,
    Csv,
}

impl Format {
    pub fn parse(raw: &str) -> Result<Format, String> {
        match raw {
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => Err(format!("format {raw:?}: use md, html, json or csv")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// A titled table: heading, column names, rows.
type Section = (&'static str, Vec<String>, Vec<Vec<String>>);

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub from: String,
    pub to: String,
    /// The objective, in percent.
    pub slo: f64,
    pub targets: Vec<Summary>,
}

/// The report of `targets` (every target in the store when empty) over `range`.
pub async fn build(
    db: &Db,
    targets: &[String],
    range: Range,
    now: i64,
    retention: Retention,
) -> anyhow::Result<Report> {
    let names = if targets.is_empty() { db.targets().await? } else { targets.to_vec() };
    let mut out = Vec::new();
    for t in &names {
        out.push(view(db, t, range, now, retention).await?.summary);
    }
    Ok(Report {
        generated_at: rfc3339(now),
        from: rfc3339(range.from),
        to: rfc3339(range.to),
        slo: SLO * 100.0,
        targets: out,
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".into(), |v| format!("{v:.3} %"))
}

fn ms(v: f64) -> String {
    format!("{v:.1} ms")
}

fn budget(s: &Summary) -> String {
    s.error_budget_used.map_or_else(|| "no data".into(), |u| format!("{:.1} % used", u * 100.0))
}

impl Report {
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Markdown => self.markdown(),
            Format::Html => self.html(),
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default() + "\n",
            Format::Csv => self.csv(),
        }
    }

    /// The lines of one target's report, as (heading, rows of cells), shared by Markdown and
    /// HTML so they show the same things.
    fn sections(s: &Summary) -> Vec<Section> {
        let mut sections = Vec::new();
        let mut overview = vec![
            vec!["availability".into(), pct(s.availability)],
            vec!["SLO".into(), format!("{:.1} %", s.slo)],
            vec!["error budget".into(), budget(s)],
            vec![
                "probes (/ready)".into(),
                format!("{} ({} failed, {} in maintenance)", s.probes, s.probes_failed, s.probes_in_maintenance),
            ],
            vec!["downtime (incidents)".into(), human_duration(s.downtime_ms)],
            vec![
                "E2E runs".into(),
                format!("{} ({} failed, pass rate {})", s.e2e_runs, s.e2e_runs_failed, pct(s.e2e_pass_rate)),
            ],
            vec!["metrics scrapes".into(), format!("{} ({} bad)", s.scrapes, s.scrapes_bad)],
        ];
        match &s.latency {
            Some(l) => overview.push(vec![
                "latency p50 / p95 / p99".into(),
                format!("{} / {} / {}", ms(l.p50_ms), ms(l.p95_ms), ms(l.p99_ms)),
            ]),
            None => overview.push(vec!["latency p50 / p95 / p99".into(), "no data".into()]),
        }
        match &s.traffic {
            Some(t) => {
                overview.push(vec!["requests".into(), format!("{}", t.requests)]);
                overview.push(vec![
                    "client errors (4xx)".into(),
                    format!("{} ({})", t.client_errors, pct(t.client_error_rate)),
                ]);
                overview.push(vec![
                    "server errors (5xx)".into(),
                    format!("{} ({})", t.server_errors, pct(t.server_error_rate)),
                ]);
                overview.push(vec!["rate limited (429)".into(), format!("{}", t.rate_limited)]);
                overview.push(vec!["auth failures".into(), format!("{}", t.auth_failures)]);
            }
            None => overview.push(vec!["requests and errors".into(), "no data".into()]),
        }
        sections.push(("Overview", vec!["measure".into(), "value".into()], overview));
        let business = match &s.business {
            Some(b) => vec![
                vec!["volunteers signed up".into(), format!("{}", b.volunteers_signed_up)],
                vec!["candidates created".into(), format!("{}", b.candidates_created)],
                vec!["events created".into(), format!("{}", b.events_created)],
                vec!["registrations".into(), format!("{}", b.registrations)],
                vec!["waitlisted".into(), format!("{}", b.waitlisted)],
                vec!["check-ins".into(), format!("{}", b.check_ins)],
                vec!["client error reports".into(), format!("{}", b.client_error_reports)],
            ],
            None => vec![vec!["business counters".into(), "no data".into()]],
        };
        sections.push(("Business", vec!["counter".into(), "in range".into()], business));
        let incidents = s
            .incidents
            .iter()
            .map(|i| {
                vec![
                    i.started_at.clone(),
                    i.ended_at.clone().unwrap_or_else(|| "open".into()),
                    i.duration.clone(),
                    human_duration(i.time_to_detect_ms),
                    i.cause.replace('\n', "; "),
                    i.failing_checks.join("; "),
                    i.build.clone().unwrap_or_else(|| "?".into()),
                ]
            })
            .collect();
        sections.push((
            "Incidents",
            ["started", "ended", "lasted", "time to detect", "cause", "failing checks", "build"]
                .map(String::from)
                .to_vec(),
            incidents,
        ));
        let deploys = s
            .deploys
            .iter()
            .map(|d| {
                vec![d.at.clone(), d.from_build.clone().unwrap_or_else(|| "(first seen)".into()), d.to_build.clone()]
            })
            .collect();
        sections.push(("Deployments", ["at", "from", "to"].map(String::from).to_vec(), deploys));
        let maint =
            s.maintenance.iter().map(|m| vec![m.starts_at.clone(), m.ends_at.clone(), m.reason.clone()]).collect();
        sections.push(("Maintenance", ["from", "to", "reason"].map(String::from).to_vec(), maint));
        sections
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Muster monitor report\n\n{} to {} (generated {}; SLO {:.1} %)\n",
            self.from, self.to, self.generated_at, self.slo
        );
        if self.targets.is_empty() {
            out.push_str("No data: the store has no samples for any target.\n");
        }
        for s in &self.targets {
            let _ = writeln!(out, "## {}\n", s.target);
            if !s.has_data {
                out.push_str("No data in this range: no availability is claimed.\n\n");
            }
            for (title, head, rows) in Self::sections(s) {
                let _ = writeln!(out, "### {title}\n");
                if rows.is_empty() {
                    out.push_str("None.\n\n");
                    continue;
                }
                let _ = writeln!(out, "| {} |", head.join(" | "));
                let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                for r in rows {
                    let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
        }
        out
    }

    fn html(&self) -> String {
        let mut out = String::from(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Muster monitor report</title>\
             <style>body{font:14px/1.4 system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem}table{border-collapse:collapse;margin-bottom:1rem}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}</style></head><body>\n",
        );
        let _ = writeln!(
            out,
            "<h1>Muster monitor report</h1>\n<p>{} to {} (generated {}; SLO {:.1} %)</p>",
            self.from, self.to, self.generated_at, self.slo
        );
        if self.targets.is_empty() {
            out.push_str("<p>No data: the store has no samples for any target.</p>\n");
        }
        for s in &self.targets {
            let _ = writeln!(out, "<h2>{}</h2>", escape(&s.target));
            if !s.has_data {
                out.push_str("<p>No data in this range: no availability is claimed.</p>\n");
            }
            for (title, head, rows) in Self::sections(s) {
                let _ = writeln!(out, "<h3>{title}</h3>");
                if rows.is_empty() {
                    out.push_str("<p>None.</p>\n");
                    continue;
                }
                let th: Vec<String> = head.iter().map(|h| format!("<th>{}</th>", escape(h))).collect();
                let _ = writeln!(out, "<table><tr>{}</tr>", th.concat());
                for r in rows {
                    let td: Vec<String> = r.iter().map(|c| format!("<td>{}</td>", escape(c))).collect();
                    let _ = writeln!(out, "<tr>{}</tr>", td.concat());
                }
                out.push_str("</table>\n");
            }
        }
        out.push_str("</body></html>\n");
        out
    }

    /// One row per figure: `target,section,name,value` (values bare numbers where they
    /// are numbers, empty where there is no data), for spreadsheets.
    fn csv(&self) -> String {
        let mut out = String::from("target,section,name,value\n");
        let num = |v: Option<f64>| {
            v.map_or_else(String::new, |v| format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_owned())
        };
        for s in &self.targets {
            let mut row = |section: &str, name: &str, value: String| {
                let _ = writeln!(out, "{},{section},{name},{}", field(&s.target), field(&value));
            };
            row("range", "from", s.from.clone());
            row("range", "to", s.to.clone());
            row("range", "has_data", s.has_data.to_string());
            row("availability", "percent", num(s.availability));
            row("availability", "slo_percent", num(Some(s.slo)));
            row("availability", "error_budget_used", num(s.error_budget_used));
            row("availability", "probes", s.probes.to_string());
            row("availability", "probes_failed", s.probes_failed.to_string());
            row("availability", "probes_in_maintenance", s.probes_in_maintenance.to_string());
            row("availability", "downtime_ms", s.downtime_ms.to_string());
            row("e2e", "runs", s.e2e_runs.to_string());
            row("e2e", "runs_failed", s.e2e_runs_failed.to_string());
            row("latency", "p50_ms", num(s.latency.as_ref().map(|l| l.p50_ms)));
            row("latency", "p95_ms", num(s.latency.as_ref().map(|l| l.p95_ms)));
            row("latency", "p99_ms", num(s.latency.as_ref().map(|l| l.p99_ms)));
            let t = s.traffic.as_ref();
            row("errors", "requests", num(t.map(|t| t.requests)));
            row("errors", "client_errors", num(t.map(|t| t.client_errors)));
            row("errors", "server_errors", num(t.map(|t| t.server_errors)));
            row("errors", "client_error_percent", num(t.and_then(|t| t.client_error_rate)));
            row("errors", "server_error_percent", num(t.and_then(|t| t.server_error_rate)));
            row("errors", "rate_limited", num(t.map(|t| t.rate_limited)));
            row("errors", "auth_failures", num(t.map(|t| t.auth_failures)));
            let b = s.business.as_ref();
            row("business", "volunteers_signed_up", num(b.map(|b| b.volunteers_signed_up)));
            row("business", "candidates_created", num(b.map(|b| b.candidates_created)));
            row("business", "events_created", num(b.map(|b| b.events_created)));
            row("business", "registrations", num(b.map(|b| b.registrations)));
            row("business", "waitlisted", num(b.map(|b| b.waitlisted)));
            row("business", "check_ins", num(b.map(|b| b.check_ins)));
            row("business", "client_error_reports", num(b.map(|b| b.client_error_reports)));
            for i in &s.incidents {
                let v = format!(
                    "{} to {} ({} ms, detected after {} ms): {}",
                    i.started_at,
                    i.ended_at.as_deref().unwrap_or("open"),
                    i.duration_ms,
                    i.time_to_detect_ms,
                    i.cause.replace('\n', "; ")
                );
                row("incident", &i.id, v);
            }
            for d in &s.deploys {
                row(
                    "deploy",
                    &d.at,
                    format!("{} -> {}", d.from_build.as_deref().unwrap_or("(first seen)"), d.to_build),
                );
            }
            for m in &s.maintenance {
                row("maintenance", &m.starts_at, format!("to {}: {}", m.ends_at, m.reason));
            }
        }
        out
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_owned() }
}
