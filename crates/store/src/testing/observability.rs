//! Conformance checks for what the store keeps for observability: client error reports
//! (listing, paging, retention) and the row totals behind the business gauges.
//!
//! A backend instantiates them with [`observability_suite!`] beside `conformance_suite!`.

use crate::testing::{candidate, event, volunteer};
use crate::{
    AttendanceFilter, AuditEntry, AuditQuery, ClientReport, ClientReportQuery, EventFilter, Page, ReportLevel, Store,
    VolunteerFilter,
};
use chrono::{DateTime, Duration, Utc};
use muster_domain::attendance::NewAttendance;
use std::sync::Arc;
use uuid::{NoContext, Timestamp, Uuid};

/// Instantiates every observability check as a `#[tokio::test]` using `$fresh().await`.
#[macro_export]
macro_rules! observability_suite {
    ($fresh:path) => {
        $crate::observability_suite!(@each $fresh; client_reports_newest_first, client_reports_retention,
            counts_match_the_rows, pool_stats_describe_the_pools, audit_entries_filter_page_and_expire,
            lists_confined_to_candidates);
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

/// An audit entry made `ago` before now (ids order by time, as the API's do).
fn audit(ago: Duration, subject: &str, action: &str, volunteers: Vec<Uuid>) -> AuditEntry {
    let at = muster_domain::now_micros() - ago;
    let ts = Timestamp::from_unix(
        NoContext,
        u64::try_from(at.timestamp()).expect("after 1970"),
        at.timestamp_subsec_nanos(),
    );
    AuditEntry {
        id: Uuid::new_v7(ts),
        at,
        last_at: at + Duration::milliseconds(900),
        subject: subject.into(),
        action: action.into(),
        route: "GET /v1/volunteers/{id}".into(),
        count: i64::try_from(volunteers.len()).unwrap(),
        volunteer_ids: volunteers,
        query: None,
        request_ids: vec!["req-7".into(), "req-8".into()],
        build: "0.1.0+7.abc".into(),
    }
}

pub async fn audit_entries_filter_page_and_expire(s: Arc<dyn Store>) {
    let (v1, v2) = (Uuid::now_v7(), Uuid::now_v7());
    let old = audit(Duration::days(500), "ana", "update", vec![v1]);
    let mid = audit(Duration::hours(2), "bo", "read", vec![v1, v2]);
    let mut list = audit(Duration::minutes(1), "ana", "read", vec![]);
    list.query = Some("limit=20&tag=x".into());
    list.count = 20;
    s.insert_audit(&[old.clone(), mid.clone(), list.clone()]).await.unwrap();
    s.insert_audit(&[]).await.unwrap();
    let all = s.list_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.items, vec![list.clone(), mid.clone(), old.clone()], "newest first, every field kept");
    let by = |q: AuditQuery| {
        let s = s.clone();
        async move { s.list_audit(&q).await.unwrap().items.into_iter().map(|e| e.id).collect::<Vec<_>>() }
    };
    assert_eq!(by(AuditQuery { subject: Some("ana".into()), ..Default::default() }).await, [list.id, old.id]);
    assert_eq!(by(AuditQuery { volunteer_id: Some(v2), ..Default::default() }).await, [mid.id]);
    assert_eq!(by(AuditQuery { volunteer_id: Some(v1), ..Default::default() }).await, [mid.id, old.id]);
    let hour_ago = Utc::now() - Duration::hours(1);
    assert_eq!(by(AuditQuery { from: Some(hour_ago), ..Default::default() }).await, [list.id]);
    assert_eq!(by(AuditQuery { to: Some(hour_ago), ..Default::default() }).await, [mid.id, old.id]);
    let first = s.list_audit(&AuditQuery { page: Page { limit: 2, after: None }, ..Default::default() }).await.unwrap();
    let next = first.next.expect("a second page");
    let second = s.list_audit(&AuditQuery { page: Page { limit: 2, after: Some(next.0) }, ..Default::default() }).await;
    assert_eq!(second.unwrap().items, vec![old.clone()]);
    // retention: the old entry goes, the rest stay
    assert_eq!(s.purge_audit(Utc::now() - Duration::days(400)).await.unwrap(), 1);
    assert_eq!(by(AuditQuery { volunteer_id: Some(v1), ..Default::default() }).await, [mid.id]);
    assert_eq!(by(AuditQuery::default()).await.len(), 2);
}

/// The ownership rule (`owners`): lists confined to candidates hold only their rows, and an
/// attendance needs both its event's and its volunteer's candidate.
pub async fn lists_confined_to_candidates(s: Arc<dyn Store>) {
    let (a, b) = (candidate(&*s, "Ana").await, candidate(&*s, "Bo").await);
    let va = volunteer(&*s, "confined-a@example.org", Some(a.id)).await;
    let vb = volunteer(&*s, "confined-b@example.org", Some(b.id)).await;
    let vn = volunteer(&*s, "confined-n@example.org", None).await;
    let (ea, eb) = (event(&*s, a.id, None).await, event(&*s, b.id, None).await);
    let att = |v: Uuid, e: Uuid| {
        let s = s.clone();
        async move { s.create_attendance(NewAttendance { event_id: e, volunteer_id: v }).await.unwrap().id }
    };
    let (aa, ab, cross) = (att(va.id, ea.id).await, att(vb.id, eb.id).await, att(va.id, eb.id).await);
    let only = |c: &[Uuid]| Some(c.to_vec());
    let vols = s
        .list_volunteers(&VolunteerFilter { candidates: only(&[a.id]), ..Default::default() }, Page::default())
        .await
        .unwrap();
    assert_eq!(vols.items.iter().map(|v| v.id).collect::<Vec<_>>(), [va.id]);
    let none = s
        .list_volunteers(&VolunteerFilter { candidates: only(&[]), ..Default::default() }, Page::default())
        .await
        .unwrap();
    assert!(none.items.is_empty(), "an empty set sees nothing");
    let events =
        s.list_events(&EventFilter { candidates: only(&[b.id]), ..Default::default() }, Page::default()).await.unwrap();
    assert_eq!(events.items.iter().map(|e| e.id).collect::<Vec<_>>(), [eb.id]);
    let atts = |c: Vec<Uuid>| {
        let s = s.clone();
        async move {
            let f = AttendanceFilter { candidates: Some(c), ..Default::default() };
            let mut ids: Vec<Uuid> =
                s.list_attendances(&f, Page::default()).await.unwrap().items.iter().map(|x| x.id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(atts(vec![a.id]).await, [aa]);
    assert_eq!(atts(vec![b.id]).await, [ab]);
    let mut both = vec![aa, ab, cross];
    both.sort();
    assert_eq!(atts(vec![a.id, b.id]).await, both);
    let unconfined = s.list_volunteers(&VolunteerFilter::default(), Page::default()).await.unwrap();
    assert!(unconfined.items.iter().any(|v| v.id == vn.id), "no claim, no confinement");
}
