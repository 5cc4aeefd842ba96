//! Charts drawn on the server as SVG: lines over time with gaps where there is no data,
//! incidents as red bands, maintenance as grey bands, deployments as dashed lines.
//!
//! Hand-drawn rather than with `plotters`: a chart here is a few paths, two axes and some
//! bands, and writing the markup ourselves lets each element carry the class and `<title>`
//! that the page's script, the browser test and screen readers use, with no font handling
//! (the browser lays out `<text>`). Output is deterministic, so it can be compared.

use crate::summary::{DeployView, IncidentView, MaintenanceView, Panel};
use crate::time::rfc3339;
use std::fmt::Write;

const W: f64 = 600.0;
const H: f64 = 180.0;
const LEFT: f64 = 46.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;
/// Line colours, in order (distinguishable for common colour blindness).
const COLOURS: [&str; 4] = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];

/// What every chart of a range marks.
pub struct Marks<'a> {
    pub from: i64,
    pub to: i64,
    pub incidents: &'a [IncidentView],
    pub deploys: &'a [DeployView],
    pub maintenance: &'a [MaintenanceView],
    pub now: i64,
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round step for about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn number(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn time_label(ms: i64, span: i64) -> String {
    let t = rfc3339(ms);
    // "2026-12-02T04:57:39Z": a day or less shows the time, longer the date
    if span <= 86_400_000 { t[11..16].to_owned() } else { t[5..10].to_owned() }
}

/// The panel as an SVG element. `data-points` counts the drawn values (0: no data).
pub fn chart(panel: &Panel, marks: &Marks) -> String {
    let span = (marks.to - marks.from).max(1);
    #[expect(clippy::cast_precision_loss, reason = "milliseconds within a range")]
    let x = |ms: i64| LEFT + (W - LEFT - RIGHT) * ((ms - marks.from) as f64 / span as f64).clamp(0.0, 1.0);
    let values = panel.lines.iter().flat_map(|l| l.values.iter().flatten());
    let max = values.clone().fold(0.0f64, |a, v| a.max(*v));
    let points = values.count();
    let percent = panel.unit == "%";
    let (lo, hi) = if percent {
        let min = panel.lines.iter().flat_map(|l| l.values.iter().flatten()).fold(100.0f64, |a, v| a.min(*v));
        (if min >= 99.0 { 99.0 } else { (min / 10.0).floor() * 10.0 }, 100.0)
    } else {
        let step = nice_step(if max > 0.0 { max } else { 1.0 }, 3.0);
        (0.0, (max / step).ceil().max(1.0) * step)
    };
    let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - ((v - lo) / (hi - lo)).clamp(0.0, 1.0));

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" data-panel="{}" data-points="{points}" viewBox="0 0 {W} {H}" role="img" aria-label="{}" preserveAspectRatio="none">"#,
        panel.id,
        escape(panel.title)
    );
    for m in marks.maintenance {
        let (a, b) = (x(m.starts_ms), x(m.ends_ms));
        let _ = write!(
            s,
            r#"<rect class="maintenance" x="{a:.1}" y="{TOP}" width="{:.1}" height="{:.1}"><title>maintenance {} – {}: {}</title></rect>"#,
            (b - a).max(1.0),
            H - TOP - BOTTOM,
            m.starts_at,
            m.ends_at,
            escape(&m.reason)
        );
    }
    for i in marks.incidents {
        let start = chrono::DateTime::parse_from_rfc3339(&i.started_at).map_or(marks.from, |t| t.timestamp_millis());
        let (a, b) = (x(start), x(start + i.duration_ms));
        let _ = write!(
            s,
            r#"<rect class="incident" x="{a:.1}" y="{TOP}" width="{:.1}" height="{:.1}"><title>incident {} ({}): {}</title></rect>"#,
            (b - a).max(1.5),
            H - TOP - BOTTOM,
            i.started_at,
            i.duration,
            escape(&i.cause)
        );
    }
    // grid and y labels
    let ticks =
        if percent { vec![lo, (lo + hi) / 2.0, hi] } else { (0..=3).map(|k| hi * f64::from(k) / 3.0).collect() };
    for v in ticks {
        let yy = y(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            yy + 3.5,
            if percent { format!("{v:.1}") } else { number(v) }
        );
    }
    // x labels: four times across the range
    for k in 0..=3 {
        let ms = marks.from + span * k / 3;
        let anchor = match k {
            0 => "start",
            3 => "end",
            _ => "middle",
        };
        let _ = write!(
            s,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            x(ms),
            H - 6.0,
            time_label(ms, span)
        );
    }
    for (n, line) in panel.lines.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let mut d = String::new();
        let mut pen_down = false;
        let half = panel.step_ms / 2;
        for (t, v) in panel.t.iter().zip(&line.values) {
            match v {
                Some(v) => {
                    let _ = write!(d, "{}{:.1},{:.1}", if pen_down { " L" } else { " M" }, x(t + half), y(*v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !d.is_empty() {
            let _ = write!(
                s,
                r#"<path class="series" data-series="{}" d="{}" stroke="{colour}" fill="none"><title>{}</title></path>"#,
                escape(line.name),
                d.trim_start(),
                escape(line.name)
            );
        }
    }
    for dpl in marks.deploys {
        let xx = x(dpl.at_ms);
        let _ = write!(
            s,
            r#"<line class="deploy" x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{:.1}"><title>deploy {} → {} at {}</title></line>"#,
            H - BOTTOM,
            escape(dpl.from_build.as_deref().unwrap_or("(first seen)")),
            escape(&dpl.to_build),
            dpl.at
        );
    }
    if points == 0 {
        let _ = write!(
            s,
            r#"<text class="nodata" x="{:.1}" y="{:.1}" text-anchor="middle">no data</text>"#,
            W / 2.0,
            H / 2.0
        );
    }
    s.push_str("</svg>");
    s
}
