//! The dashboard at `/`: one HTML page whose every panel follows the range in the URL
//! (`?range=24h`, or `?from=…&to=…`, and `&target=`), so a link shows the same view. The
//! page's `<main>` is rendered here; the embedded script re-fetches it as JSON from
//! `/api/dashboard` on an interval (pausable) and swaps it in. Everything it loads comes
//! from this binary: the stylesheet and script are `include_str!`ed, the charts are SVG.

use crate::SLO;
use crate::summary::{Summary, View, panels};
use crate::svg::{Marks, chart, escape};
use crate::time::human_duration;
use std::fmt::Write;

pub const CSS: &str = include_str!("../assets/dashboard.css");
pub const JS: &str = include_str!("../assets/dashboard.js");

/// The named ranges of the range control.
pub const RANGES: [(&str, &str); 4] =
    [("1h", "last hour"), ("24h", "last day"), ("7d", "last week"), ("30d", "last 30 days")];

/// The query parameters that pick a view, as the page got them (kept in every link).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ViewParams {
    pub range: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub target: Option<String>,
    /// `1`: show errors by route.
    pub routes: Option<String>,
    /// Seconds between refreshes (default 30).
    pub refresh: Option<u32>,
    pub paused: Option<String>,
}

fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".into(), |v| format!("{v:.2} %"))
}

/// The whole page.
pub fn page(view: &View, targets: &[String], p: &ViewParams, now: i64) -> String {
    let target = &view.summary.target;
    let mut s = String::from(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Muster monitor</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/dashboard.css"><script src="/assets/dashboard.js" defer></script></head>"#,
    );
    let _ = write!(s, r#"<body data-refresh="{}"><header><h1>Muster monitor</h1>"#, p.refresh.unwrap_or(30).max(1));
    if targets.len() > 1 {
        s.push_str(r#"<nav class="targets" aria-label="targets">"#);
        for t in targets {
            let q = query(&[
                ("target", t),
                ("range", p.range.as_deref().unwrap_or("")),
                ("from", p.from.as_deref().unwrap_or("")),
                ("to", p.to.as_deref().unwrap_or("")),
            ]);
            let _ = write!(s, r#"<a href="/{q}"{}>{}</a>"#, if t == target { r#" class="on""# } else { "" }, escape(t));
        }
        s.push_str("</nav>");
    }
    s.push_str(r#"<nav class="ranges" aria-label="time range">"#);
    let custom = p.from.is_some() || p.to.is_some();
    let refresh = p.refresh.map(|r| r.to_string()).unwrap_or_default();
    for (r, label) in RANGES {
        let on = !custom && p.range.as_deref().unwrap_or("24h") == r;
        let _ = write!(
            s,
            r#"<a data-range="{r}" href="/{}"{} title="{label}">{r}</a>"#,
            query(&[("target", target), ("range", r), ("refresh", &refresh)]),
            if on { r#" class="on""# } else { "" }
        );
    }
    let _ = write!(
        s,
        r#"</nav><form class="custom" method="get" action="/"><input type="hidden" name="target" value="{}"><label>from <input name="from" value="{}" size="20"></label><label>to <input name="to" value="{}" size="20"></label><button type="submit">Show</button></form>"#,
        escape(target),
        escape(&view.summary.from),
        escape(&view.summary.to)
    );
    s.push_str(r#"<div class="refresh"><button id="pause" type="button" aria-pressed="false">Pause auto-refresh</button> <span id="updated"></span></div></header>"#);
    let _ = write!(s, r#"<main id="main">{}</main></body></html>"#, main(view, p, now));
    s
}

/// Everything that changes with the data: the part the script refreshes.
pub fn main(view: &View, p: &ViewParams, now: i64) -> String {
    let sm = &view.summary;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<p class="range" data-from="{}" data-to="{}">{} · {} to {} · {}</p>"#,
        sm.from_ms,
        sm.to_ms,
        escape(&sm.target),
        sm.from,
        sm.to,
        match sm.source {
            "raw" => "raw samples",
            "rollups-1h" => "hourly roll-ups",
            _ => "5-minute roll-ups",
        }
    );
    if !sm.has_data {
        s.push_str(
            r#"<p class="nodata-range">No samples in this range: nothing to show, and no availability is claimed.</p>"#,
        );
    }
    tiles(&mut s, sm);
    let marks = Marks {
        from: sm.from_ms,
        to: sm.to_ms,
        incidents: &sm.incidents,
        deploys: &sm.deploys,
        maintenance: &sm.maintenance,
        now,
    };
    s.push_str(r#"<section class="charts">"#);
    for panel in panels(view) {
        let legend: Vec<String> = panel
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!(r#"<span class="k{i}">{}</span>"#, escape(l.name)))
            .collect();
        let _ = write!(
            s,
            r#"<figure class="panel" id="panel-{}"><figcaption>{} <small>({})</small> {}</figcaption>{}</figure>"#,
            panel.id,
            escape(panel.title),
            escape(panel.unit),
            legend.join(" "),
            chart(&panel, &marks)
        );
    }
    s.push_str("</section>");
    tables(&mut s, sm, p);
    s
}

fn tiles(s: &mut String, sm: &Summary) {
    let tile = |s: &mut String, id: &str, label: &str, value: String, note: String| {
        let _ = write!(
            s,
            r#"<div class="tile" id="tile-{id}"><span>{label}</span><b>{}</b><small>{}</small></div>"#,
            escape(&value),
            escape(&note)
        );
    };
    s.push_str(r#"<section class="tiles">"#);
    tile(
        s,
        "availability",
        "Availability",
        pct(sm.availability),
        format!("{} probes, {} failed", sm.probes, sm.probes_failed),
    );
    tile(
        s,
        "downtime",
        "Downtime (incidents)",
        human_duration(sm.downtime_ms),
        format!("{} incidents", sm.incidents.len()),
    );
    tile(
        s,
        "budget",
        "Error budget left",
        sm.error_budget_left.map_or_else(|| "no data".into(), |l| format!("{:.0} %", l * 100.0)),
        format!("SLO {:.1} %", SLO * 100.0),
    );
    tile(s, "e2e", "E2E pass rate", pct(sm.e2e_pass_rate), format!("{} runs", sm.e2e_runs));
    tile(
        s,
        "latency",
        "Latency p95",
        sm.latency.as_ref().map_or_else(|| "no data".into(), |l| format!("{:.1} ms", l.p95_ms)),
        sm.latency.as_ref().map_or_else(String::new, |l| format!("p50 {:.1} · p99 {:.1}", l.p50_ms, l.p99_ms)),
    );
    tile(
        s,
        "errors",
        "5xx / 4xx",
        sm.traffic.as_ref().map_or_else(|| "no data".into(), |t| format!("{} / {}", t.server_errors, t.client_errors)),
        sm.traffic.as_ref().map_or_else(String::new, |t| format!("of {} requests", t.requests)),
    );
    tile(
        s,
        "volunteers",
        "Volunteers signed up",
        sm.business.as_ref().map_or_else(|| "no data".into(), |b| b.volunteers_signed_up.to_string()),
        sm.business
            .as_ref()
            .map_or_else(String::new, |b| format!("{} registrations, {} waitlisted", b.registrations, b.waitlisted)),
    );
    s.push_str("</section>");
}

fn tables(s: &mut String, sm: &Summary, p: &ViewParams) {
    s.push_str(r#"<section class="tables"><h2>Incidents</h2>"#);
    if sm.incidents.is_empty() {
        s.push_str("<p>None in this range.</p>");
    } else {
        s.push_str(r#"<table id="incidents"><tr><th>started</th><th>ended</th><th>lasted</th><th>detected after</th><th>cause</th><th>build</th></tr>"#);
        for i in &sm.incidents {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i.started_at,
                i.ended_at.as_deref().unwrap_or("open"),
                i.duration,
                human_duration(i.time_to_detect_ms),
                escape(&i.cause).replace('\n', "<br>"),
                escape(i.build.as_deref().unwrap_or("?"))
            );
        }
        s.push_str("</table>");
    }
    s.push_str("<h2>Deployments</h2>");
    if sm.deploys.is_empty() {
        s.push_str("<p>None in this range.</p>");
    } else {
        s.push_str(r#"<ul id="deploys">"#);
        for d in &sm.deploys {
            let _ = write!(
                s,
                "<li>{} {} → {}</li>",
                d.at,
                escape(d.from_build.as_deref().unwrap_or("(first seen)")),
                escape(&d.to_build)
            );
        }
        s.push_str("</ul>");
    }
    s.push_str("<h2>Maintenance</h2>");
    if sm.maintenance.is_empty() {
        s.push_str("<p>None in this range.</p>");
    } else {
        s.push_str(r#"<ul id="maintenance">"#);
        for m in &sm.maintenance {
            let _ =
                write!(s, "<li>{} – {}: {} (left out of availability)</li>", m.starts_at, m.ends_at, escape(&m.reason));
        }
        s.push_str("</ul>");
    }
    s.push_str("<h2>E2E checks that failed</h2>");
    if sm.source != "raw" {
        s.push_str("<p>Per-check history is kept with the raw samples; pick a range within the last two days.</p>");
    } else if sm.failing_checks.is_empty() {
        let _ = write!(s, "<p>No check failed in {} runs.</p>", sm.e2e_runs);
    } else {
        s.push_str(r#"<table id="checks"><tr><th>check</th><th>failed runs</th></tr>"#);
        for (name, n) in &sm.failing_checks {
            let _ = write!(s, "<tr><td>{}</td><td>{n} of {}</td></tr>", escape(name), sm.e2e_runs);
        }
        s.push_str("</table>");
    }
    let here = query(&[
        ("target", &sm.target),
        ("range", p.range.as_deref().unwrap_or("")),
        ("from", p.from.as_deref().unwrap_or("")),
        ("to", p.to.as_deref().unwrap_or("")),
    ]);
    if p.routes.as_deref() == Some("1") {
        s.push_str("<h2>Errors by route</h2>");
        if sm.routes.is_empty() {
            s.push_str("<p>No 4xx or 5xx answers in this range.</p>");
        } else {
            s.push_str(r#"<table id="routes"><tr><th>route</th><th>4xx</th><th>5xx</th></tr>"#);
            for r in &sm.routes {
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&r.route),
                    r.client_errors,
                    r.server_errors
                );
            }
            s.push_str("</table>");
        }
    } else {
        let sep = if here.is_empty() { '?' } else { '&' };
        let _ = write!(s, r#"<p><a id="show-routes" href="/{here}{sep}routes=1">Show errors by route</a></p>"#);
    }
    let report = |f: &str| format!("/report{here}{}format={f}", if here.is_empty() { '?' } else { '&' });
    let _ = write!(
        s,
        r#"<p class="reports">Report for this range: <a href="{}">Markdown</a> · <a href="{}">HTML</a> · <a href="{}">JSON</a> · <a href="{}">CSV</a></p></section>"#,
        report("md"),
        report("html"),
        report("json"),
        report("csv")
    );
}
