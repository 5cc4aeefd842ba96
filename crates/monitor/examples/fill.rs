//! Fills a monitor store with `DAYS` days of samples for one target, ending now, as the
//! monitor itself would have kept them: raw samples for the last 7 days (`/health` and
//! `/ready` every 10 s, E2E and a scrape every 30 s), rolled up by the monitor's own
//! roll-up code, and 5-minute roll-ups before that. Business follows a daily rhythm, with an
//! outage and a deploy every few days, so the dashboard and the benchmark have something real
//! to draw.
//!
//!     cargo run --release -p muster-monitor --example fill -- sqlite://bench.db 30 default

use muster_monitor::db::{Db, Deploy, Incident, Probe, ProbeRollup, Scrape, ScrapeRollup};
use muster_monitor::rollup::{self, BUCKET_MS};
use muster_monitor::time::{DAY_MS, HOUR_MS, now_ms};
use muster_monitor::{Retention, scrape::Counters};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).map_or("sqlite://muster-monitor.db", String::as_str);
    let days: i64 = args.get(2).and_then(|d| d.parse().ok()).unwrap_or(30);
    let target = args.get(3).map_or("default", String::as_str).to_owned();
    let db = Db::open(url).await?;
    let now = now_ms();
    let start = now - days * DAY_MS;
    let raw_from = now - (7 * DAY_MS).min(days * DAY_MS);
    let outage = |t: i64| (t - start).rem_euclid(3 * DAY_MS) < 4 * 60_000 && t - start > DAY_MS;
    // traffic by hour of day: quiet at night, busy in the evening
    let load = |t: i64| {
        let hour = (t.rem_euclid(DAY_MS) / HOUR_MS) as f64;
        0.3 + (std::f64::consts::PI * (hour - 4.0) / 24.0).sin().powi(2) * 1.7
    };
    let counters = |t: i64, secs: f64| {
        let l = load(t) * secs / 30.0;
        let mut c = Counters::default();
        let reqs = (120.0 * l).round();
        c.add("requests", reqs);
        c.add("4xx", (reqs * 0.04).round());
        c.add("5xx", if outage(t) { 3.0 } else { 0.0 });
        c.add("429", (l * 0.6).round());
        c.add("auth_failures", (l * 1.2).round());
        c.add("volunteers", (l * 2.0).round());
        c.add("events", (l * 0.4).round());
        c.add("candidates", (l * 0.1).round());
        c.add("registered", (l * 3.0).round());
        c.add("waitlisted", (l * 0.7).round());
        c.add("checkins", (l * 1.5).round());
        c.add("client_reports", (l * 0.2).round());
        for (le, share) in [
            ("0.005", 0.55),
            ("0.01", 0.8),
            ("0.025", 0.93),
            ("0.05", 0.97),
            ("0.1", 0.99),
            ("0.25", 1.0),
            ("+Inf", 1.0),
        ] {
            c.add(&format!("le:{le}"), (reqs * share).round());
        }
        c.add("route:GET /v1/events/{id}:4xx", (reqs * 0.03).round());
        c.add("route:POST /v1/attendances:4xx", (reqs * 0.01).round());
        c
    };

    // roll-ups before raw retention
    let mut b = rollup::bucket_of(start);
    while b < rollup::bucket_of(raw_from) {
        for (kind, n, lat) in [("health", 30, 1.2), ("ready", 30, 1.5), ("e2e", 10, 300.0)] {
            let bad = if outage(b) { n } else { 0 };
            db.upsert_probe_rollup(&ProbeRollup {
                target: target.clone(),
                bucket_ms: b,
                kind: kind.into(),
                n,
                ok_n: n - bad,
                latency_sum: lat * n as f64,
                latency_max: lat * 3.0,
            })
            .await?;
        }
        db.upsert_scrape_rollup(&ScrapeRollup {
            target: target.clone(),
            bucket_ms: b,
            n: 10,
            ok_n: 10,
            deltas: counters(b, BUCKET_MS as f64 / 1000.0).to_json(),
        })
        .await?;
        b += BUCKET_MS;
    }
    // raw samples for the last week
    let mut t = raw_from;
    let mut probes = Vec::new();
    let mut scrapes = Vec::new();
    while t < now {
        let ok = !outage(t);
        for kind in ["health", "ready"] {
            probes.push(Probe {
                target: target.clone(),
                at_ms: t,
                kind: kind.into(),
                ok,
                latency_ms: Some(1.0 + load(t)),
                detail: (!ok).then(|| "unreachable: connection refused".into()),
            });
        }
        if (t - raw_from) % 30_000 == 0 {
            probes.push(Probe {
                target: target.clone(),
                at_ms: t,
                kind: "e2e".into(),
                ok,
                latency_ms: Some(280.0 + 40.0 * load(t)),
                detail: Some(if ok {
                    r#"{"passed":137,"failed":0,"skipped":1,"failing":[]}"#.into()
                } else {
                    r#"{"error":"target unreachable"}"#.into()
                }),
            });
            scrapes.push(if ok {
                Scrape {
                    target: target.clone(),
                    at_ms: t,
                    ok: true,
                    deltas: Some(counters(t, 30.0).to_json()),
                    detail: None,
                }
            } else {
                Scrape {
                    target: target.clone(),
                    at_ms: t,
                    ok: false,
                    deltas: None,
                    detail: Some("connection refused".into()),
                }
            });
        }
        if probes.len() >= 5000 {
            db.insert_probes(&probes).await?;
            db.insert_scrapes(&scrapes).await?;
            probes.clear();
            scrapes.clear();
        }
        t += 10_000;
    }
    db.insert_probes(&probes).await?;
    db.insert_scrapes(&scrapes).await?;
    rollup::pass(&db, now, Retention::default()).await?;
    // incidents and deploys
    let mut n = 0;
    let mut d = start + DAY_MS;
    while d < now {
        if n % 2 == 0 {
            db.insert_deploy(&Deploy {
                target: target.clone(),
                at_ms: d - HOUR_MS,
                from_build: Some(format!("{}", 80 + n)),
                to_build: format!("{}", 81 + n),
            })
            .await?;
        }
        let s = start + (d - start).div_euclid(3 * DAY_MS) * 3 * DAY_MS;
        if outage(s) && n % 3 == 0 {
            db.open_incident(&Incident {
                id: format!("fill-{n}"),
                target: target.clone(),
                started_ms: s,
                detected_ms: s + 20_000,
                ended_ms: Some(s + 4 * 60_000),
                cause: "ready: unreachable: connection refused".into(),
                checks: String::new(),
                build: Some(format!("{}", 81 + n)),
            })
            .await?;
        }
        n += 1;
        d += DAY_MS;
    }
    println!("filled {days} days for {target} in {url}");
    Ok(())
}
