//! Reports from a fixed hour of samples: each format is compared with its golden file
//! (`UPDATE_GOLDEN=1` rewrites them), a range before any data says so and claims no
//! availability, the same samples on PostgreSQL give the same report as on SQLite, and the
//! 5-minute roll-ups give the same figures as the raw samples they summarise, and the hour
//! roll-ups the same as the 5-minute ones.

use muster_monitor::db::{Db, Deploy, Incident, Maintenance, Probe, Scrape, Tier};
use muster_monitor::report::{self, Format};
use muster_monitor::time::{DAY_MS, HOUR_MS, MINUTE_MS, Range};
use muster_monitor::{Retention, rollup};
use std::path::PathBuf;

/// 2026-12-03T00:00:00Z
const T0: i64 = 1_796_256_000_000;
const NOW: i64 = T0 + 2 * HOUR_MS;

async fn sqlite() -> Db {
    let dir = std::env::temp_dir().join(format!("muster-monitor-report-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    Db::open(&format!("sqlite://{}", dir.join("m.db").display())).await.unwrap()
}

/// A fresh PostgreSQL database on the local server (trust auth, user postgres).
async fn postgres() -> Db {
    let admin = std::env::var("MUSTER_TEST_POSTGRES_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sqlx::any::install_default_drivers();
    let name = format!("muster_monitor_test_{}", uuid::Uuid::now_v7().simple());
    let pool = sqlx::AnyPool::connect(&admin).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {admin} ({e}): start it with scripts/db-up, or point \
             MUSTER_TEST_POSTGRES_ADMIN_URL at a running server"
        )
    });
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    Db::open(&url).await.unwrap()
}

/// One hour of one target: `/ready` every 30 s failing from 00:20 to 00:23 and inside the
/// 00:40-00:45 maintenance window, an E2E run a minute (two failing), a scrape a minute
/// (one bad), a deploy at 00:10 and the incident of 00:20.
async fn fixture(db: &Db) {
    fixture_with(db, true).await;
}

async fn fixture_with(db: &Db, maintenance: bool) {
    let mut probes = Vec::new();
    for i in 0..120 {
        let at = T0 + i * 30_000;
        let minute = i / 2;
        let ok = !((20..23).contains(&minute) || (40..45).contains(&minute));
        let why = (!ok).then(|| "unreachable: connection refused".to_owned());
        probes.push(Probe {
            target: "prod".into(),
            at_ms: at,
            kind: "ready".into(),
            ok,
            latency_ms: Some(2.0),
            detail: why,
        });
    }
    for m in 0..60 {
        let ok = !(20..22).contains(&m);
        let detail = if ok {
            r#"{"passed":9,"failed":0,"skipped":0,"failing":[]}"#.to_owned()
        } else {
            r#"{"passed":8,"failed":1,"skipped":0,"failing":["read a candidate (GET /v1/candidates/{id})"]}"#.to_owned()
        };
        probes.push(Probe {
            target: "prod".into(),
            at_ms: T0 + m * MINUTE_MS + 5_000,
            kind: "e2e".into(),
            ok,
            latency_ms: Some(25.0),
            detail: Some(detail),
        });
    }
    db.insert_probes(&probes).await.unwrap();
    let mut scrapes = Vec::new();
    for m in 0..60 {
        let at = T0 + m * MINUTE_MS + 10_000;
        let s = if m == 30 {
            Scrape { target: "prod".into(), at_ms: at, ok: false, deltas: None, detail: Some("answered 503".into()) }
        } else {
            let deltas = format!(
                r#"{{"requests":100,"4xx":4,"5xx":{},"429":1,"auth_failures":2,"volunteers":3,"events":1,"candidates":1,"registered":2,"waitlisted":1,"checkins":1,"client_reports":{},"le:0.005":80,"le:0.025":95,"le:0.1":99,"le:+Inf":100,"route:GET /v1/events:4xx":4}}"#,
                if m == 21 { 2 } else { 0 },
                m % 2
            );
            Scrape { target: "prod".into(), at_ms: at, ok: true, deltas: Some(deltas), detail: None }
        };
        scrapes.push(s);
    }
    db.insert_scrapes(&scrapes).await.unwrap();
    db.insert_deploy(&Deploy {
        target: "prod".into(),
        at_ms: T0 + 10 * MINUTE_MS,
        from_build: Some("91 (875cdda7a959)".into()),
        to_build: "92 (e2bf403db173)".into(),
    })
    .await
    .unwrap();
    db.open_incident(&Incident {
        id: "0193a1b2-0000-7000-8000-000000000001".into(),
        target: "prod".into(),
        started_ms: T0 + 20 * MINUTE_MS,
        detected_ms: T0 + 20 * MINUTE_MS + 30_000,
        ended_ms: None,
        cause: "ready: unreachable: connection refused".into(),
        checks: "read a candidate (GET /v1/candidates/{id})".into(),
        build: Some("92 (e2bf403db173)".into()),
    })
    .await
    .unwrap();
    db.close_incident("0193a1b2-0000-7000-8000-000000000001", T0 + 23 * MINUTE_MS + 30_000).await.unwrap();
    if maintenance {
        db.insert_maintenance(&Maintenance {
            id: "window-1".into(),
            target: None,
            starts_ms: T0 + 40 * MINUTE_MS,
            ends_ms: T0 + 45 * MINUTE_MS,
            reason: "database upgrade".into(),
        })
        .await
        .unwrap();
    }
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

const HOUR: Range = Range { from: T0, to: T0 + HOUR_MS };

#[tokio::test]
async fn each_format_matches_its_golden_file() {
    let db = sqlite().await;
    fixture(&db).await;
    let r = report::build(&db, &[], HOUR, NOW, Retention::default()).await.unwrap();
    let s = &r.targets[0];
    // 120 probes, 10 in maintenance, 6 failing outside it
    assert_eq!((s.probes, s.probes_failed, s.probes_in_maintenance), (110, 6, 10));
    assert_eq!(s.incidents[0].time_to_detect_ms, 30_000);
    golden("report.md", &r.render(Format::Markdown));
    golden("report.html", &r.render(Format::Html));
    golden("report.json", &r.render(Format::Json));
    golden("report.csv", &r.render(Format::Csv));
}

#[tokio::test]
async fn a_range_before_any_data_says_so() {
    let db = sqlite().await;
    fixture(&db).await;
    let before = Range { from: T0 - 2 * 24 * HOUR_MS, to: T0 - 24 * HOUR_MS };
    let r = report::build(&db, &[], before, NOW, Retention::default()).await.unwrap();
    let s = &r.targets[0];
    assert!(!s.has_data);
    assert_eq!(s.availability, None, "no samples must not read as 100 %");
    assert_eq!(s.error_budget_used, None);
    let md = r.render(Format::Markdown);
    assert!(md.contains("No data in this range: no availability is claimed."), "{md}");
    assert!(md.contains("| availability | no data |"), "{md}");
    assert!(!md.contains("100.000 %"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&r.render(Format::Json)).unwrap();
    assert!(json["targets"][0]["availability"].is_null());
    assert!(r.render(Format::Csv).contains("prod,availability,percent,\n"));
    golden("report-empty.md", &md);

    // an empty store: no target at all, and still no figure invented
    let empty = sqlite().await;
    let r = report::build(&empty, &[], HOUR, NOW, Retention::default()).await.unwrap();
    assert!(r.render(Format::Markdown).contains("No data: the store has no samples"));
}

#[tokio::test]
async fn postgres_gives_the_same_report_as_sqlite() {
    let (lite, pg) = (sqlite().await, postgres().await);
    fixture(&lite).await;
    fixture(&pg).await;
    let a = report::build(&lite, &[], HOUR, NOW, Retention::default()).await.unwrap().render(Format::Json);
    let b = report::build(&pg, &[], HOUR, NOW, Retention::default()).await.unwrap().render(Format::Json);
    assert_eq!(a, b);
    rollup::pass(&pg, NOW, Retention::default()).await.unwrap();
    assert_eq!(pg.probe_rollups("prod", "ready", T0, T0 + HOUR_MS).await.unwrap().len(), 12);
}

#[tokio::test]
async fn rollups_give_the_figures_of_the_raw_samples() {
    let db = sqlite().await;
    fixture(&db).await;
    let raw = report::build(&db, &[], HOUR, NOW, Retention::default()).await.unwrap();
    rollup::pass(&db, NOW, Retention::default()).await.unwrap();
    // twice: the same rows (upserts)
    rollup::pass(&db, NOW, Retention::default()).await.unwrap();
    assert_eq!(db.probe_rollups("prod", "ready", T0, T0 + HOUR_MS).await.unwrap().len(), 12);
    // three days: longer than raw ranges go, so the roll-ups are read
    let wide = Range { from: T0 - 24 * HOUR_MS, to: T0 + 48 * HOUR_MS };
    let rolled = report::build(&db, &[], wide, NOW, Retention::default()).await.unwrap();
    let (a, b) = (&raw.targets[0], &rolled.targets[0]);
    assert_eq!(b.source, "rollups");
    assert_eq!(a.availability, b.availability);
    assert_eq!(
        (a.probes, a.probes_failed, a.probes_in_maintenance),
        (b.probes, b.probes_failed, b.probes_in_maintenance)
    );
    assert_eq!(a.e2e_runs_failed, b.e2e_runs_failed);
    assert_eq!(a.traffic, b.traffic);
    assert_eq!(a.business, b.business);
    assert_eq!(a.latency, b.latency);

    // retention: raw samples older than 7 days go, roll-ups stay
    let later = T0 + 8 * 24 * HOUR_MS;
    rollup::pass(&db, later, Retention::default()).await.unwrap();
    assert!(db.probes("prod", "ready", 0, i64::MAX).await.unwrap().is_empty());
    assert_eq!(db.probe_rollups("prod", "ready", 0, i64::MAX).await.unwrap().len(), 12);
}

#[tokio::test]
async fn hour_rollups_give_the_figures_of_the_five_minute_ones() {
    // with the maintenance window, its hour must be read from 5-minute rows to stay exact;
    // without it, the hour row itself is read
    for maintenance in [true, false] {
        let db = sqlite().await;
        fixture_with(&db, maintenance).await;
        let raw = report::build(&db, &[], HOUR, NOW, Retention::default()).await.unwrap();
        rollup::pass(&db, NOW, Retention::default()).await.unwrap();
        let hour = db.probe_rollups_in(Tier::Hour, "prod", "ready", T0, T0 + HOUR_MS).await.unwrap();
        assert_eq!((hour.len(), hour[0].n, hour[0].ok_n), (1, 120, 120 - 6 - 10));
        // ten days with ragged ends: over a week, so hours are read wherever they are exact
        let long = Range { from: T0 - 5 * DAY_MS + 7 * MINUTE_MS, to: T0 + 5 * DAY_MS + 3 * MINUTE_MS };
        let hourly = report::build(&db, &[], long, NOW, Retention::default()).await.unwrap();
        let (a, b) = (&raw.targets[0], &hourly.targets[0]);
        assert_eq!(b.source, "rollups-1h");
        // the five minutes of failures inside the window count only when there is no window
        let (held, failed) = if maintenance { (10, 6) } else { (0, 16) };
        assert_eq!((b.probes, b.probes_failed, b.probes_in_maintenance), (120 - held, failed, held));
        assert_eq!(
            (a.probes, a.probes_failed, a.probes_in_maintenance, a.availability),
            (b.probes, b.probes_failed, b.probes_in_maintenance, b.availability)
        );
        assert_eq!((a.e2e_runs, a.e2e_runs_failed), (b.e2e_runs, b.e2e_runs_failed));
        assert_eq!((a.scrapes, a.scrapes_bad), (b.scrapes, b.scrapes_bad));
        assert_eq!(a.traffic, b.traffic);
        assert_eq!(a.business, b.business);
        assert_eq!(a.latency, b.latency);
    }
}
