//! The post-mortem draft on a store the monitor's own code filled: probes and scrapes for
//! three hours, incidents opened and closed by the incident [`Tracker`] fed those probes in
//! order (as the prober does), two deployments (one in the hour before the window), and a
//! roll-up pass. The draft is compared with its golden file (`UPDATE_GOLDEN=1` rewrites it),
//! and its headings with those of `docs/postmortem-template.md`.

use muster_monitor::db::{Db, Deploy, Incident, Probe, Scrape};
use muster_monitor::incident::{Signal, Tracker, Transition, merge_cause};
use muster_monitor::postmortem::{self, HEADINGS};
use muster_monitor::time::{HOUR_MS, MINUTE_MS, Range};
use muster_monitor::{Retention, rollup};
use std::path::PathBuf;

/// 2026-12-03T00:00:00Z: the window is 00:00 to 02:00, drafted at 03:00.
const T0: i64 = 1_796_256_000_000;
const NOW: i64 = T0 + 3 * HOUR_MS;
const WINDOW: Range = Range { from: T0, to: T0 + 2 * HOUR_MS };
const FAILING_CHECK: &str = "register a volunteer (POST /v1/attendances)";

async fn sqlite() -> Db {
    let dir = std::env::temp_dir().join(format!("muster-monitor-postmortem-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    Db::open(&format!("sqlite://{}", dir.join("m.db").display())).await.unwrap()
}

/// 23:00 to 02:00: build 92 deployed at 23:45; `/ready` unreachable 00:20-00:23 (incident
/// one); build 93 deployed at 00:50; one E2E check failing 01:20-01:26 with 5xx answers
/// (incident two).
async fn fixture(db: &Db) {
    let start = T0 - HOUR_MS;
    let deploys = [
        Deploy {
            target: "prod".into(),
            at_ms: T0 - 15 * MINUTE_MS,
            from_build: Some("91".into()),
            to_build: "92".into(),
        },
        Deploy {
            target: "prod".into(),
            at_ms: T0 + 50 * MINUTE_MS,
            from_build: Some("92".into()),
            to_build: "93".into(),
        },
    ];
    for d in &deploys {
        db.insert_deploy(d).await.unwrap();
    }
    let build_at = |t: i64| deploys.iter().rev().find(|d| d.at_ms <= t).map_or("91".to_owned(), |d| d.to_build.clone());
    let down = |t: i64| (T0 + 20 * MINUTE_MS..T0 + 23 * MINUTE_MS).contains(&t);
    let broken = |t: i64| (T0 + 80 * MINUTE_MS..T0 + 86 * MINUTE_MS).contains(&t);

    // every probe in time order, through the tracker, as the prober records them
    let mut probes = Vec::new();
    let mut t = start;
    while t < T0 + 2 * HOUR_MS {
        let ok = !down(t);
        probes.push(Probe {
            target: "prod".into(),
            at_ms: t,
            kind: "ready".into(),
            ok,
            latency_ms: Some(2.0),
            detail: (!ok).then(|| "unreachable: connection refused".into()),
        });
        if (t - start) % MINUTE_MS == 0 {
            let ok = !down(t) && !broken(t);
            let detail = if down(t) {
                r#"{"error":"target unreachable"}"#.to_owned()
            } else if ok {
                r#"{"passed":9,"failed":0,"skipped":0,"failing":[]}"#.to_owned()
            } else {
                format!(r#"{{"passed":8,"failed":1,"skipped":0,"failing":["{FAILING_CHECK}"]}}"#)
            };
            probes.push(Probe {
                target: "prod".into(),
                at_ms: t + 5_000,
                kind: "e2e".into(),
                ok,
                latency_ms: Some(25.0),
                detail: Some(detail),
            });
        }
        t += 30_000;
    }
    probes.sort_by_key(|p| p.at_ms);
    // the prober's bookkeeping: the checks failing lately, kept until the incident closes
    let mut tracker = Tracker::new(2, 2);
    let (mut open, mut failing_checks, mut n): (Option<String>, Vec<String>, usize) = (None, Vec::new(), 0);
    let mut recorded = String::new();
    for p in &probes {
        let (signal, why) = match (p.kind.as_str(), p.ok, down(p.at_ms)) {
            ("ready", _, _) => (Signal::Ready, p.detail.clone().unwrap_or_default()),
            ("e2e", true, _) => (Signal::E2e, String::new()),
            (_, false, true) => (Signal::E2e, "target unreachable".to_owned()),
            _ => {
                failing_checks = vec![FAILING_CHECK.to_owned()];
                (Signal::E2e, format!("1 check failing: {FAILING_CHECK}"))
            }
        };
        let checks = failing_checks.join("\n");
        match tracker.observe(signal, p.ok, p.at_ms, &why, false) {
            Some(Transition::Opened { started_ms, cause }) => {
                n += 1;
                let id = format!("incident-{n}");
                recorded.clone_from(&cause);
                db.open_incident(&Incident {
                    id: id.clone(),
                    target: "prod".into(),
                    started_ms,
                    detected_ms: p.at_ms,
                    ended_ms: None,
                    cause,
                    checks,
                    build: Some(build_at(started_ms)),
                })
                .await
                .unwrap();
                open = Some(id);
            }
            Some(Transition::Changed { cause }) => {
                recorded = merge_cause(&recorded, &cause);
                db.update_incident(open.as_deref().unwrap(), &recorded, &checks).await.unwrap();
            }
            Some(Transition::Closed) => {
                db.close_incident(&open.take().unwrap(), p.at_ms).await.unwrap();
                failing_checks.clear();
            }
            None => {}
        }
    }
    assert_eq!(n, 2, "the fixture should open two incidents");
    db.insert_probes(&probes).await.unwrap();

    let mut scrapes = Vec::new();
    let mut m = start + 10_000;
    while m < T0 + 2 * HOUR_MS {
        scrapes.push(if down(m) {
            Scrape { target: "prod".into(), at_ms: m, ok: false, deltas: None, detail: Some("connection refused".into()) }
        } else {
            let errors = if broken(m) { 6 } else { 0 };
            let slow = if broken(m) { 20 } else { 5 };
            let deltas = format!(
                r#"{{"requests":100,"4xx":3,"5xx":{errors},"le:0.005":{},"le:0.025":95,"le:0.1":100,"le:+Inf":100,"route:GET /v1/events:4xx":3{}}}"#,
                100 - slow - 10,
                if errors > 0 { format!(r#","route:POST /v1/attendances:5xx":{errors}"#) } else { String::new() }
            );
            Scrape { target: "prod".into(), at_ms: m, ok: true, deltas: Some(deltas), detail: None }
        });
        m += MINUTE_MS;
    }
    db.insert_scrapes(&scrapes).await.unwrap();
    rollup::pass(db, NOW, Retention::default()).await.unwrap();
}

fn golden(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        got, want,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change)"
    );
}

/// Lines that are Markdown headings below the title, outside code blocks.
fn headings(md: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with("##") {
            out.push(line.trim_end().to_owned());
        }
    }
    out
}

#[tokio::test]
async fn the_draft_of_two_incidents_and_a_deployment_matches_its_golden_file() {
    let db = sqlite().await;
    fixture(&db).await;
    let draft = postmortem::build(&db, &[], WINDOW, NOW, Retention::default()).await.unwrap();
    let t = &draft.targets[0];
    assert_eq!(t.incidents.len(), 2);
    // /ready healed before the E2E run did: the record still says the outage began with it
    assert!(t.incidents[0].cause.starts_with("ready: unreachable"), "{}", t.incidents[0].cause);
    assert_eq!(t.deploys.len(), 2, "the deployment of the hour before the window is listed too");
    assert!(t.window.traffic.as_ref().unwrap().server_errors > 0.0);
    let md = draft.markdown();
    assert!(md.contains("incident resolved"), "{md}");
    assert!(md.contains("| the hour before the window |"), "{md}");
    assert!(md.ends_with(
        "by `muster report --postmortem --from 2026-12-03T00:00:00Z --to 2026-12-03T02:00:00Z --format md` \
         from the monitor's store.\n"
    ));
    golden("postmortem.md", &md);
}

#[tokio::test]
async fn the_draft_has_the_templates_headings() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/postmortem-template.md");
    let template = std::fs::read_to_string(&path).unwrap();
    assert_eq!(headings(&template), HEADINGS, "docs/postmortem-template.md and postmortem::HEADINGS differ");
    // a draft with nothing in it still has every heading, in order
    let empty = postmortem::build(&sqlite().await, &[], WINDOW, NOW, Retention::default()).await.unwrap();
    assert_eq!(headings(&empty.markdown()), HEADINGS);
    let db = sqlite().await;
    fixture(&db).await;
    let full = postmortem::build(&db, &[], WINDOW, NOW, Retention::default()).await.unwrap();
    assert_eq!(headings(&full.markdown()), HEADINGS);
}
