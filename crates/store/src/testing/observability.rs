//! Conformance checks for what the store keeps for observability: client error reports
//! (listing, paging, retention) and the row totals behind the business gauges.
//!
//! A backend instantiates them with [`observability_suite!`] beside `conformance_suite!`.

use crate::testing::{candidate, event, volunteer};
use crate::{ClientReport, ClientReportQuery, Page, ReportLevel, Store};
use chrono::{DateTime, Duration, Utc};
use muster_domain::attendance::NewAttendance;
use std::sync::Arc;
use uuid::{NoContext, Timestamp, Uuid};

/// Instantiates every observability check as a `#[tokio::test]` using `$fresh().await`.
#[macro_export]
macro_rules! observability_suite {
    ($fresh:path) => {
        $crate::observability_suite!(@each $fresh; client_reports_newest_first, client_reports_retention,
            counts_match_the_rows, pool_stats_describe_the_pools);
    };
    (@each $fresh:path; $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: std::sync::Arc<dyn $crate::Store> = $fresh().await;
                $crate::testing::observability::$name(store).await;
            }
        )+
    };
}

/// A report received `ago` before now, with an id of that instant (ids order by time).
fn report(ago: Duration, level: ReportLevel, message: &str) -> ClientReport {
    let at = muster_domain::now_micros() - ago;
    let ts = Timestamp::from_unix(
        NoContext,
        u64::try_from(at.timestamp()).expect("after 1970"),
        at.timestamp_subsec_nanos(),
    );
    ClientReport {
        id: Uuid::new_v7(ts),
        received_at: at,
        level,
        message: message.into(),
        stack: Some("TypeError: x is undefined\n    at app.js:1:2".into()),
        url: Some("https://app.example.org/events".into()),
        user_agent: Some("Mozilla/5.0".into()),
        release: Some("web-1.4.2".into()),
        subject: "browser-app".into(),
        request_id: Some("req-1".into()),
    }
}

fn messages(rows: &[ClientReport]) -> Vec<&str> {
    rows.iter().map(|r| r.message.as_str()).collect()
}

pub async fn client_reports_newest_first(s: Arc<dyn Store>) {
    let empty = s.list_client_reports(&ClientReportQuery::default()).await.unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
    let oldest = report(Duration::minutes(30), ReportLevel::Error, "oldest");
    for r in [
        &oldest,
        &report(Duration::minutes(20), ReportLevel::Warning, "middle"),
        &report(Duration::minutes(10), ReportLevel::Error, "newest"),
    ] {
        s.insert_client_report(r).await.unwrap();
    }
    let all = s.list_client_reports(&ClientReportQuery::default()).await.unwrap();
    assert_eq!(messages(&all.items), ["newest", "middle", "oldest"]);
    assert_eq!(all.items[2], oldest, "every field round-trips");

    let first = ClientReportQuery { page: Page { limit: 2, after: None }, ..Default::default() };
    let page1 = s.list_client_reports(&first).await.unwrap();
    assert_eq!(messages(&page1.items), ["newest", "middle"]);
    let cursor = page1.next.expect("a second page");
    let page2 = s
        .list_client_reports(&ClientReportQuery { page: Page { limit: 2, after: Some(cursor.0) }, ..first })
        .await
        .unwrap();
    assert_eq!(messages(&page2.items), ["oldest"]);
    assert!(page2.next.is_none());

    let errors = ClientReportQuery { level: Some(ReportLevel::Error), ..Default::default() };
    assert_eq!(messages(&s.list_client_reports(&errors).await.unwrap().items), ["newest", "oldest"]);
    let recent = ClientReportQuery { since: Some(Utc::now() - Duration::minutes(15)), ..Default::default() };
    assert_eq!(messages(&s.list_client_reports(&recent).await.unwrap().items), ["newest"]);
}

pub async fn client_reports_retention(s: Arc<dyn Store>) {
    for (minutes, name) in [(50, "a"), (40, "b"), (30, "c"), (20, "d"), (10, "e")] {
        s.insert_client_report(&report(Duration::minutes(minutes), ReportLevel::Error, name)).await.unwrap();
    }
    let cutoff: DateTime<Utc> = Utc::now() - Duration::minutes(35);
    assert_eq!(s.purge_client_reports(cutoff, 100).await.unwrap(), 2, "the two older than the cutoff");
    assert_eq!(s.purge_client_reports(cutoff, 100).await.unwrap(), 0, "nothing more to purge");
    let long_ago = Utc::now() - Duration::days(365);
    assert_eq!(s.purge_client_reports(long_ago, 2).await.unwrap(), 1, "all but the newest two");
    let left = s.list_client_reports(&ClientReportQuery::default()).await.unwrap();
    assert_eq!(messages(&left.items), ["e", "d"]);
    assert_eq!(s.purge_client_reports(long_ago, 0).await.unwrap(), 2, "keep 0 empties the table");
}

pub async fn counts_match_the_rows(s: Arc<dyn Store>) {
    let zero = s.counts().await.unwrap();
    assert_eq!((zero.candidates, zero.volunteers, zero.events, zero.client_reports), (0, 0, 0, 0));
    assert!(zero.attendances.values().all(|n| *n == 0));
    let c = candidate(&*s, "Counted").await;
    let e = event(&*s, c.id, Some(1)).await;
    let mut vols = Vec::new();
    for i in 0..3 {
        vols.push(volunteer(&*s, &format!("count{i}@example.org"), None).await);
    }
    for v in &vols {
        s.create_attendance(NewAttendance { event_id: e.id, volunteer_id: v.id }).await.unwrap();
    }
    s.insert_client_report(&report(Duration::zero(), ReportLevel::Fatal, "boom")).await.unwrap();
    let n = s.counts().await.unwrap();
    assert_eq!((n.candidates, n.volunteers, n.events, n.client_reports), (1, 3, 1, 1));
    assert_eq!(n.attendances.get("registered"), Some(&1));
    assert_eq!(n.attendances.get("waitlisted"), Some(&2));
    assert_eq!(n.attendances.values().sum::<i64>(), 3);
}

pub async fn pool_stats_describe_the_pools(s: Arc<dyn Store>) {
    s.ping().await.unwrap();
    let pools = s.pool_stats();
    assert!(!pools.is_empty());
    for p in pools {
        assert!(p.max >= 1 && p.open <= p.max && p.idle <= p.open, "{p:?}");
    }
}
