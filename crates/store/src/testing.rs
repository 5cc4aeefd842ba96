//! The conformance suite: every backend must pass every check here.
//!
//! A backend crate instantiates it with [`conformance_suite!`], passing an async function
//! that returns a fresh, migrated, empty store; each check then runs in its own store.

pub mod flags;
pub mod observability;

use crate::{
    AttendanceFilter, BatchError, BatchOp, BatchOptions, CandidateFilter, Claim, Cursor, EventFilter, IdempotencyBegin,
    IdempotencyKey, Page, RateLimitOverride, Store, StoreError, StoredResponse, VolunteerFilter,
};
use muster_domain::attendance::{AttendancePatch, AttendanceStatus as S, NewAttendance};
use muster_domain::candidate::{Candidate, CandidatePatch, CandidateStatus, NewCandidate};
use muster_domain::event::{Event, EventPatch, EventType, NewEvent};
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// Instantiates every conformance check as a `#[tokio::test]` using `$fresh().await` as
/// the store.
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:path) => {
        $crate::conformance_suite!(@each $fresh;
            candidate_crud, volunteer_email_unique_ignoring_case, missing_references_are_invalid,
            referenced_deletes_conflict, optimistic_concurrency, pagination_visits_each_row_once,
            filters, capacity_and_waitlist, concurrent_registrations_respect_capacity,
            raising_capacity_promotes, event_window_rechecked_on_patch, idempotency_keys,
            attendance_transitions, not_found_everywhere, rate_limit_overrides, batch_items_stand_alone,
            batch_creates_see_each_other, atomic_batch_writes_nothing_on_failure, batch_attendances_follow_the_rules,
            dry_run_batch_writes_nothing, large_volunteer_batch, a_committed_write_outlives_its_lost_response);
    };
    (@each $fresh:path; $($name:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store: std::sync::Arc<dyn $crate::Store> = $fresh().await;
                $crate::testing::$name(store).await;
            }
        )+
    };
}

fn obj(v: &Value) -> &serde_json::Map<String, Value> {
    v.as_object().expect("test input is an object")
}

pub async fn candidate(s: &dyn Store, name: &str) -> Candidate {
    s.create_candidate(
        NewCandidate::from_json(obj(&json!({"name": name, "office": "Mayor", "party": "Green"}))).unwrap(),
    )
    .await
    .unwrap()
}

pub async fn volunteer(s: &dyn Store, email: &str, candidate: Option<Uuid>) -> Volunteer {
    let mut v = json!({"first_name": "Ana", "last_name": "Garcia", "email": email, "zip_code": "02139",
                       "tags": ["spanish"]});
    if let Some(c) = candidate {
        v["candidate_id"] = json!(c);
    }
    s.create_volunteer(NewVolunteer::from_json(obj(&v)).unwrap()).await.unwrap()
}

pub fn new_event(candidate: Uuid, capacity: Option<i32>) -> NewEvent {
    NewEvent::from_json(obj(&json!({"candidate_id": candidate, "title": "Canvass", "event_type": "canvass",
        "starts_at": "2026-11-07T14:00:00Z", "ends_at": "2026-11-07T17:00:00Z", "capacity": capacity,
        "location": {"city": "Boston", "state": "MA"}})))
    .unwrap()
}

pub async fn event(s: &dyn Store, candidate: Uuid, capacity: Option<i32>) -> Event {
    s.create_event(new_event(candidate, capacity)).await.unwrap()
}

fn attend(event_id: Uuid, volunteer_id: Uuid) -> NewAttendance {
    NewAttendance { event_id, volunteer_id }
}

fn status_patch(st: S) -> AttendancePatch {
    AttendancePatch { status: muster_domain::Patch::Set(st) }
}

fn invalid_field(e: StoreError) -> String {
    match e {
        StoreError::Invalid(v) => v.0[0].field.clone(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

pub async fn candidate_crud(s: Arc<dyn Store>) {
    let c = candidate(&*s, "Maria Lopez").await;
    assert_eq!(c.version, 1);
    assert_eq!(c.status, CandidateStatus::Active);
    let got = s.get_candidate(c.id).await.unwrap();
    assert_eq!(got, c, "a row reads back exactly as written");
    let patch = CandidatePatch::from_json(obj(&json!({"party": null, "status": "won", "district": "7"}))).unwrap();
    let u = s.update_candidate(c.id, patch, None).await.unwrap();
    assert_eq!((u.version, u.party.clone(), u.status), (2, None, CandidateStatus::Won));
    assert_eq!(u.created_at, c.created_at);
    assert!(u.updated_at >= c.updated_at);
    assert_eq!(s.get_candidate(c.id).await.unwrap(), u);
    let list = s.list_candidates(&CandidateFilter::default(), Page::default()).await.unwrap();
    assert_eq!(list.items, vec![u]);
    assert_eq!(list.next, None);
    s.delete_candidate(c.id, None).await.unwrap();
    assert!(matches!(s.get_candidate(c.id).await, Err(StoreError::NotFound { entity: "candidate" })));
    assert!(matches!(s.delete_candidate(c.id, None).await, Err(StoreError::NotFound { .. })));
}

pub async fn volunteer_email_unique_ignoring_case(s: Arc<dyn Store>) {
    let a = volunteer(&*s, "ana@example.org", None).await;
    let dup = NewVolunteer::from_json(obj(&json!({"first_name": "A", "last_name": "B", "email": "ANA@Example.ORG"})));
    let err = s.create_volunteer(dup.unwrap()).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains("email")), "{err:?}");
    let b = volunteer(&*s, "ben@example.org", None).await;
    let patch = VolunteerPatch::from_json(obj(&json!({"email": "Ana@example.org"}))).unwrap();
    assert!(matches!(s.update_volunteer(b.id, patch, None).await, Err(StoreError::Conflict(_))));
    // changing the case of one's own email is not a clash
    let patch = VolunteerPatch::from_json(obj(&json!({"email": "ANA@example.org"}))).unwrap();
    let a2 = s.update_volunteer(a.id, patch, None).await.unwrap();
    assert_eq!(a2.email.as_str(), "ANA@example.org");
    let found = s
        .list_volunteers(
            &VolunteerFilter { email: Some("ana@EXAMPLE.org".into()), ..Default::default() },
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
}

pub async fn missing_references_are_invalid(s: Arc<dyn Store>) {
    let ghost = Uuid::now_v7();
    let v = NewVolunteer::from_json(obj(&json!({"first_name": "A", "last_name": "B", "email": "a@example.org",
        "candidate_id": ghost})))
    .unwrap();
    assert_eq!(invalid_field(s.create_volunteer(v).await.unwrap_err()), "candidate_id");
    assert_eq!(invalid_field(s.create_event(new_event(ghost, None)).await.unwrap_err()), "candidate_id");
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, None).await;
    let vol = volunteer(&*s, "v@example.org", None).await;
    assert_eq!(invalid_field(s.create_attendance(attend(ghost, vol.id)).await.unwrap_err()), "event_id");
    assert_eq!(invalid_field(s.create_attendance(attend(e.id, ghost)).await.unwrap_err()), "volunteer_id");
    let patch = EventPatch::from_json(obj(&json!({"candidate_id": ghost}))).unwrap();
    assert_eq!(invalid_field(s.update_event(e.id, patch, None).await.unwrap_err()), "candidate_id");
    let patch = VolunteerPatch::from_json(obj(&json!({"candidate_id": ghost}))).unwrap();
    assert_eq!(invalid_field(s.update_volunteer(vol.id, patch, None).await.unwrap_err()), "candidate_id");
}

pub async fn referenced_deletes_conflict(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, None).await;
    let v = volunteer(&*s, "v@example.org", Some(c.id)).await;
    let a = s.create_attendance(attend(e.id, v.id)).await.unwrap();
    assert!(matches!(s.delete_candidate(c.id, None).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.delete_event(e.id, None).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.delete_volunteer(v.id, None).await, Err(StoreError::Conflict(_))));
    s.delete_attendance(a.id, None).await.unwrap();
    s.delete_event(e.id, None).await.unwrap();
    s.delete_volunteer(v.id, None).await.unwrap();
    s.delete_candidate(c.id, None).await.unwrap();
}

pub async fn optimistic_concurrency(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let patch = || CandidatePatch::from_json(obj(&json!({"office": "Governor"}))).unwrap();
    let err = s.update_candidate(c.id, patch(), Some(7)).await.unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed { expected: 7, .. }), "{err:?}");
    let u = s.update_candidate(c.id, patch(), Some(1)).await.unwrap();
    assert_eq!(u.version, 2);
    assert!(matches!(s.delete_candidate(c.id, Some(1)).await, Err(StoreError::PreconditionFailed { .. })));
    assert!(s.get_candidate(c.id).await.is_ok(), "a failed conditional delete deletes nothing");
    s.delete_candidate(c.id, Some(2)).await.unwrap();
}

pub async fn pagination_visits_each_row_once(s: Arc<dyn Store>) {
    let mut made = Vec::new();
    for i in 0..25 {
        made.push(candidate(&*s, &format!("C{i}")).await.id);
    }
    let mut seen = Vec::new();
    let mut page = Page { limit: 10, after: None };
    let mut pages = 0;
    loop {
        let got = s.list_candidates(&CandidateFilter::default(), page).await.unwrap();
        pages += 1;
        seen.extend(got.items.iter().map(|c| c.id));
        if pages == 1 {
            // rows created while paging come after the cursor and do not shift it
            made.push(candidate(&*s, "late").await.id);
        }
        match got.next {
            Some(Cursor(after)) => page.after = Some(after),
            None => break,
        }
    }
    assert_eq!(seen, made, "every row once, in creation order");
    assert_eq!(pages, 3);
}

pub async fn filters(s: Arc<dyn Store>) {
    let c1 = candidate(&*s, "One").await;
    let c2 = candidate(&*s, "Two").await;
    let v1 = volunteer(&*s, "a@example.org", Some(c1.id)).await;
    let v2 = volunteer(&*s, "b@example.org", Some(c2.id)).await;
    let patch = VolunteerPatch::from_json(obj(&json!({"tags": ["driver"], "zip_code": "94103"}))).unwrap();
    let v2 = s.update_volunteer(v2.id, patch, None).await.unwrap();
    let ids = |l: Vec<Volunteer>| l.into_iter().map(|v| v.id).collect::<Vec<_>>();
    let q = |f: VolunteerFilter| {
        let s = s.clone();
        async move { s.list_volunteers(&f, Page::default()).await.unwrap().items }
    };
    assert_eq!(ids(q(VolunteerFilter { candidate_id: Some(c1.id), ..Default::default() }).await), [v1.id]);
    assert_eq!(ids(q(VolunteerFilter { tag: Some("driver".into()), ..Default::default() }).await), [v2.id]);
    assert_eq!(ids(q(VolunteerFilter { tag: Some("spanish".into()), ..Default::default() }).await), [v1.id]);
    assert_eq!(ids(q(VolunteerFilter { zip_code: Some("94103".into()), ..Default::default() }).await), [v2.id]);
    assert_eq!(ids(q(VolunteerFilter { updated_since: Some(v2.updated_at), ..Default::default() }).await), [v2.id]);

    let e1 = event(&*s, c1.id, None).await;
    let mut rally = new_event(c2.id, Some(5));
    rally.event_type = EventType::Rally;
    let e2 = s.create_event(rally).await.unwrap();
    let q = |f: EventFilter| {
        let s = s.clone();
        async move { s.list_events(&f, Page::default()).await.unwrap().items.into_iter().map(|e| e.id).collect::<Vec<_>>() }
    };
    assert_eq!(q(EventFilter { candidate_id: Some(c1.id), ..Default::default() }).await, [e1.id]);
    assert_eq!(q(EventFilter { event_type: Some(EventType::Rally), ..Default::default() }).await, [e2.id]);
    assert_eq!(q(EventFilter { starts_after: Some(e1.starts_at), ..Default::default() }).await, [e1.id, e2.id]);
    assert!(q(EventFilter { starts_before: Some(e1.starts_at), ..Default::default() }).await.is_empty());

    let a1 = s.create_attendance(attend(e1.id, v1.id)).await.unwrap();
    let a2 = s.create_attendance(attend(e2.id, v1.id)).await.unwrap();
    s.update_attendance(a2.id, status_patch(S::Cancelled), None).await.unwrap();
    let q = |f: AttendanceFilter| {
        let s = s.clone();
        async move {
            s.list_attendances(&f, Page::default()).await.unwrap().items.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(q(AttendanceFilter { volunteer_id: Some(v1.id), ..Default::default() }).await, [a1.id, a2.id]);
    assert_eq!(q(AttendanceFilter { status: Some(S::Cancelled), ..Default::default() }).await, [a2.id]);
    assert_eq!(q(AttendanceFilter { event_id: Some(e1.id), ..Default::default() }).await, [a1.id]);
    let cs = s
        .list_candidates(&CandidateFilter { office: Some("Mayor".into()), ..Default::default() }, Page::default())
        .await
        .unwrap();
    assert_eq!(cs.items.len(), 2);
    let only = CandidateFilter { ids: Some(vec![c2.id, Uuid::now_v7()]), ..Default::default() };
    assert_eq!(
        s.list_candidates(&only, Page::default()).await.unwrap().items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [c2.id]
    );
    let none = VolunteerFilter { ids: Some(vec![]), ..Default::default() };
    assert!(s.list_volunteers(&none, Page::default()).await.unwrap().items.is_empty());
    let evs = EventFilter { ids: Some(vec![e1.id, e2.id]), event_type: Some(EventType::Rally), ..Default::default() };
    assert_eq!(s.list_events(&evs, Page::default()).await.unwrap().items.len(), 1, "ids combine with other filters");
    let atts = AttendanceFilter { ids: Some(vec![a1.id]), ..Default::default() };
    assert_eq!(s.list_attendances(&atts, Page::default()).await.unwrap().items.len(), 1);
}

pub async fn capacity_and_waitlist(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, Some(2)).await;
    let mut atts = Vec::new();
    for i in 0..4 {
        let v = volunteer(&*s, &format!("v{i}@example.org"), None).await;
        atts.push(s.create_attendance(attend(e.id, v.id)).await.unwrap());
    }
    let st: Vec<_> = atts.iter().map(|a| a.status).collect();
    assert_eq!(st, [S::Registered, S::Registered, S::Waitlisted, S::Waitlisted]);
    let dup = s.create_attendance(attend(e.id, atts[0].volunteer_id)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(_)), "{dup:?}");
    // cancelling a seat promotes the oldest waitlisted, not the newest
    s.update_attendance(atts[0].id, status_patch(S::Cancelled), None).await.unwrap();
    assert_eq!(s.get_attendance(atts[2].id).await.unwrap().status, S::Registered);
    assert_eq!(s.get_attendance(atts[3].id).await.unwrap().status, S::Waitlisted);
    // deleting a seat holder promotes too
    s.delete_attendance(atts[1].id, None).await.unwrap();
    assert_eq!(s.get_attendance(atts[3].id).await.unwrap().status, S::Registered);
    // rejoining a full event waits
    let back = s.update_attendance(atts[0].id, status_patch(S::Registered), None).await.unwrap();
    assert_eq!(back.status, S::Waitlisted);
    // check-in
    let checked = s.check_in(atts[2].id).await.unwrap();
    assert_eq!(checked.status, S::Attended);
    assert!(checked.checked_in_at.is_some());
    assert!(matches!(s.check_in(atts[0].id).await, Err(StoreError::Conflict(_))), "waitlisted cannot check in");
}

pub async fn concurrent_registrations_respect_capacity(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, Some(50)).await;
    let mut vols = Vec::new();
    for i in 0..200 {
        vols.push(volunteer(&*s, &format!("crowd{i}@example.org"), None).await.id);
    }
    let tasks = vols.into_iter().map(|v| {
        let s = s.clone();
        tokio::spawn(async move { s.create_attendance(attend(e.id, v)).await })
    });
    let results = futures::future::join_all(tasks).await;
    let mut registered = 0;
    for r in results {
        match r.expect("task").expect("registration").status {
            S::Registered => registered += 1,
            S::Waitlisted => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(registered, 50);
    let stored = s
        .list_attendances(
            &AttendanceFilter { event_id: Some(e.id), status: Some(S::Registered), ..Default::default() },
            Page { limit: 200, after: None },
        )
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 50);
}

pub async fn raising_capacity_promotes(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, Some(1)).await;
    let mut atts = Vec::new();
    for i in 0..4 {
        let v = volunteer(&*s, &format!("r{i}@example.org"), None).await;
        atts.push(s.create_attendance(attend(e.id, v.id)).await.unwrap());
    }
    let patch = EventPatch::from_json(obj(&json!({"capacity": 3}))).unwrap();
    s.update_event(e.id, patch, None).await.unwrap();
    let st: Vec<_> = futures::future::join_all(atts.iter().map(|a| s.get_attendance(a.id)))
        .await
        .into_iter()
        .map(|a| a.unwrap().status)
        .collect();
    assert_eq!(st, [S::Registered, S::Registered, S::Registered, S::Waitlisted]);
    let patch = EventPatch::from_json(obj(&json!({"capacity": null}))).unwrap();
    s.update_event(e.id, patch, None).await.unwrap();
    assert_eq!(s.get_attendance(atts[3].id).await.unwrap().status, S::Registered, "unlimited seats everyone");
}

pub async fn event_window_rechecked_on_patch(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, None).await;
    let patch = EventPatch::from_json(obj(&json!({"starts_at": "2026-11-08T00:00:00Z"}))).unwrap();
    assert_eq!(invalid_field(s.update_event(e.id, patch, None).await.unwrap_err()), "ends_at");
    assert_eq!(s.get_event(e.id).await.unwrap(), e, "a refused patch changes nothing");
}

pub async fn idempotency_keys(s: Arc<dyn Store>) {
    // every call to begin is another attempt, with a token of its own
    let attempt = |key: &IdempotencyKey| Claim::new(key.clone());
    let key = IdempotencyKey { principal: "alice".into(), key: "k-1".into() };
    assert_eq!(s.idempotency_begin(&attempt(&key), "fp").await.unwrap(), IdempotencyBegin::Claimed);
    assert_eq!(s.idempotency_begin(&attempt(&key), "fp").await.unwrap(), IdempotencyBegin::InProgress);
    let resp = StoredResponse { status: 201, headers: vec![("location".into(), "/v1/x".into())], body: "{}".into() };
    s.idempotency_complete(&key, &resp).await.unwrap();
    assert_eq!(s.idempotency_begin(&attempt(&key), "fp").await.unwrap(), IdempotencyBegin::Done(resp));
    assert_eq!(s.idempotency_begin(&attempt(&key), "other").await.unwrap(), IdempotencyBegin::Mismatch);
    // the same key from another principal is another key
    let bob = IdempotencyKey { principal: "bob".into(), key: "k-1".into() };
    let first = attempt(&bob);
    assert_eq!(s.idempotency_begin(&first, "fp").await.unwrap(), IdempotencyBegin::Claimed);
    // only the attempt that holds the claim releases it: a late release by another is a no-op
    assert!(!s.idempotency_abort(&attempt(&bob)).await.unwrap(), "another attempt's claim is not released");
    assert_eq!(s.idempotency_begin(&attempt(&bob), "fp").await.unwrap(), IdempotencyBegin::InProgress);
    assert!(s.idempotency_abort(&first).await.unwrap());
    let second = attempt(&bob);
    assert_eq!(s.idempotency_begin(&second, "fp").await.unwrap(), IdempotencyBegin::Claimed);
    // the first attempt's release, retried after the second claimed, leaves the second's claim
    assert!(!s.idempotency_abort(&first).await.unwrap());
    assert_eq!(s.idempotency_begin(&attempt(&bob), "fp").await.unwrap(), IdempotencyBegin::InProgress);
}

pub async fn attendance_transitions(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, Some(1)).await;
    let v1 = volunteer(&*s, "t1@example.org", None).await;
    let v2 = volunteer(&*s, "t2@example.org", None).await;
    let a1 = s.create_attendance(attend(e.id, v1.id)).await.unwrap();
    let a2 = s.create_attendance(attend(e.id, v2.id)).await.unwrap();
    assert_eq!(a2.status, S::Waitlisted);
    let err = s.update_attendance(a2.id, status_patch(S::Registered), None).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "no jumping the queue: {err:?}");
    let err = s.update_attendance(a1.id, status_patch(S::Registered), Some(9)).await.unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed { .. }));
    let same = s.update_attendance(a1.id, status_patch(S::Registered), Some(1)).await.unwrap();
    assert_eq!(same.version, 1, "a no-op change is not a new version");
    let no_show = s.update_attendance(a1.id, status_patch(S::NoShow), None).await.unwrap();
    assert_eq!(no_show.status, S::NoShow);
    let attended = s.check_in(a1.id).await.unwrap();
    assert_eq!(attended.status, S::Attended);
    let again = s.check_in(a1.id).await.unwrap();
    assert_eq!(again.checked_in_at, attended.checked_in_at, "check-in is idempotent");
}

pub async fn not_found_everywhere(s: Arc<dyn Store>) {
    let id = Uuid::now_v7();
    let nf = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound { .. }));
    assert!(nf(s.get_candidate(id).await.map(drop)));
    assert!(nf(s.get_volunteer(id).await.map(drop)));
    assert!(nf(s.get_event(id).await.map(drop)));
    assert!(nf(s.get_attendance(id).await.map(drop)));
    assert!(nf(s.update_candidate(id, CandidatePatch::default(), None).await.map(drop)));
    assert!(nf(s.update_volunteer(id, VolunteerPatch::default(), None).await.map(drop)));
    assert!(nf(s.update_event(id, EventPatch::default(), None).await.map(drop)));
    assert!(nf(s.update_attendance(id, AttendancePatch::default(), None).await.map(drop)));
    assert!(nf(s.delete_volunteer(id, None).await));
    assert!(nf(s.delete_event(id, None).await));
    assert!(nf(s.delete_attendance(id, None).await));
    assert!(nf(s.check_in(id).await.map(drop)));
}

pub async fn rate_limit_overrides(s: Arc<dyn Store>) {
    assert!(s.list_rate_limits().await.unwrap().is_empty());
    let now = muster_domain::now_micros();
    let mut o = RateLimitOverride {
        subject: "loadtest".into(),
        limit: 100_000,
        period_ms: 60_000,
        burst: 500,
        updated_by: "ops".into(),
        updated_at: now,
    };
    s.put_rate_limit(&o).await.unwrap();
    o.limit = 200_000;
    s.put_rate_limit(&o).await.unwrap();
    assert_eq!(s.list_rate_limits().await.unwrap(), vec![o], "put replaces");
    s.delete_rate_limit("loadtest").await.unwrap();
    assert!(matches!(s.delete_rate_limit("loadtest").await, Err(StoreError::NotFound { .. })));
    assert!(s.list_rate_limits().await.unwrap().is_empty());
}

fn new_volunteer(email: &str, candidate: Option<Uuid>) -> NewVolunteer {
    let mut v = json!({"first_name": "Bo", "last_name": "Batch", "email": email});
    if let Some(c) = candidate {
        v["candidate_id"] = json!(c);
    }
    NewVolunteer::from_json(obj(&v)).unwrap()
}

fn status_of<T>(r: &crate::ItemResult<T>) -> &'static str {
    match r {
        Ok(Some(_)) => "ok",
        Ok(None) => "deleted",
        Err(StoreError::NotFound { .. }) => "not_found",
        Err(StoreError::Conflict(_)) => "conflict",
        Err(StoreError::Invalid(_)) => "invalid",
        Err(StoreError::PreconditionFailed { .. }) => "precondition",
        Err(_) => "other",
    }
}

pub async fn batch_items_stand_alone(s: Arc<dyn Store>) {
    let keep = candidate(&*s, "Keep").await;
    let gone = candidate(&*s, "Gone").await;
    let patch = || CandidatePatch::from_json(obj(&json!({"office": "Senate"}))).unwrap();
    let new = |n: &str| NewCandidate::from_json(obj(&json!({"name": n, "office": "Mayor"}))).unwrap();
    let ops = vec![
        BatchOp::Create(new("A")),
        BatchOp::Update { id: keep.id, patch: patch(), expected: Some(1) },
        BatchOp::Update { id: keep.id, patch: patch(), expected: Some(1) },
        BatchOp::Delete { id: Uuid::now_v7(), expected: None },
        BatchOp::Delete { id: gone.id, expected: None },
        BatchOp::Create(new("B")),
    ];
    let r = s.batch_candidates(ops, BatchOptions::default()).await.unwrap();
    let st: Vec<_> = r.iter().map(status_of).collect();
    assert_eq!(
        st,
        ["ok", "ok", "precondition", "not_found", "deleted", "ok"],
        "each item answers for itself, in order"
    );
    assert_eq!(s.get_candidate(keep.id).await.unwrap().version, 2);
    assert!(matches!(s.get_candidate(gone.id).await, Err(StoreError::NotFound { .. })));
    let all = s.list_candidates(&CandidateFilter::default(), Page::default()).await.unwrap();
    assert_eq!(all.items.len(), 3, "Keep, A, B");
}

pub async fn batch_creates_see_each_other(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    volunteer(&*s, "stored@example.org", None).await;
    let ops = vec![
        BatchOp::Create(new_volunteer("one@example.org", Some(c.id))),
        BatchOp::Create(new_volunteer("ONE@example.org", None)),
        BatchOp::Create(new_volunteer("ghost@example.org", Some(Uuid::now_v7()))),
        BatchOp::Create(new_volunteer("Stored@example.org", None)),
        BatchOp::Create(new_volunteer("two@example.org", None)),
    ];
    let r = s.batch_volunteers(ops, BatchOptions::default()).await.unwrap();
    let st: Vec<_> = r.iter().map(status_of).collect();
    assert_eq!(st, ["ok", "conflict", "invalid", "conflict", "ok"]);
    if let Err(StoreError::Invalid(v)) = &r[2] {
        assert_eq!(v.0[0].field, "candidate_id");
    }
    let stored = s.list_volunteers(&VolunteerFilter::default(), Page::default()).await.unwrap();
    assert_eq!(stored.items.len(), 3, "the stored one plus two good creates");
    let ids = s.volunteer_ids_by_email(&["ONE@EXAMPLE.ORG".to_owned(), "nobody@example.org".to_owned()]).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert!(ids.contains_key("one@example.org"));
}

pub async fn atomic_batch_writes_nothing_on_failure(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let ops = vec![
        BatchOp::Create(new_volunteer("a@example.org", Some(c.id))),
        BatchOp::Create(new_volunteer("b@example.org", None)),
        BatchOp::Create(new_volunteer("A@example.org", None)),
    ];
    match s.batch_volunteers(ops, BatchOptions { atomic: true, dry_run: false }).await {
        Err(BatchError::Aborted { index: 2, error: StoreError::Conflict(_) }) => {}
        other => panic!("expected item 2 to abort the batch, got {other:?}"),
    }
    // a failure after a successful update undoes the update too
    let ops = vec![
        BatchOp::Update {
            id: c.id,
            patch: CandidatePatch::from_json(obj(&json!({"office": "X"}))).unwrap(),
            expected: None,
        },
        BatchOp::Delete { id: Uuid::now_v7(), expected: None },
    ];
    assert!(matches!(
        s.batch_candidates(ops, BatchOptions { atomic: true, dry_run: false }).await,
        Err(BatchError::Aborted { index: 1, error: StoreError::NotFound { .. } })
    ));
    assert_eq!(s.get_candidate(c.id).await.unwrap(), c, "nothing written");
    assert!(s.list_volunteers(&VolunteerFilter::default(), Page::default()).await.unwrap().items.is_empty());
    let ok = vec![
        BatchOp::Create(new_volunteer("a@example.org", None)),
        BatchOp::Create(new_volunteer("b@example.org", None)),
    ];
    let r = s.batch_volunteers(ok, BatchOptions { atomic: true, dry_run: false }).await.unwrap();
    assert_eq!(r.iter().map(status_of).collect::<Vec<_>>(), ["ok", "ok"]);
}

pub async fn batch_attendances_follow_the_rules(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let e = event(&*s, c.id, Some(2)).await;
    let mut vols = Vec::new();
    for i in 0..4 {
        vols.push(volunteer(&*s, &format!("b{i}@example.org"), None).await.id);
    }
    let ops = vols.iter().map(|v| BatchOp::Create(attend(e.id, *v))).collect();
    let r = s.batch_attendances(ops, BatchOptions::default()).await.unwrap();
    let st: Vec<_> = r.iter().map(|x| x.as_ref().unwrap().as_ref().unwrap().status).collect();
    assert_eq!(st, [S::Registered, S::Registered, S::Waitlisted, S::Waitlisted]);
    let first = r[0].as_ref().unwrap().as_ref().unwrap().id;
    let third = r[2].as_ref().unwrap().as_ref().unwrap().id;
    let ops = vec![
        BatchOp::Update { id: first, patch: status_patch(S::Cancelled), expected: None },
        BatchOp::Create(attend(e.id, vols[0])),
    ];
    let r = s.batch_attendances(ops, BatchOptions::default()).await.unwrap();
    assert_eq!(status_of(&r[0]), "ok");
    assert_eq!(status_of(&r[1]), "conflict", "the pair is unique even when cancelled");
    assert_eq!(s.get_attendance(third).await.unwrap().status, S::Registered, "the waitlist moved up inside the batch");
}

pub async fn dry_run_batch_writes_nothing(s: Arc<dyn Store>) {
    let ops = vec![
        BatchOp::Create(new_volunteer("dry@example.org", None)),
        BatchOp::Create(new_volunteer("dry@example.org", None)),
    ];
    let r = s.batch_volunteers(ops, BatchOptions { atomic: false, dry_run: true }).await.unwrap();
    assert_eq!(r.iter().map(status_of).collect::<Vec<_>>(), ["ok", "conflict"]);
    assert!(s.list_volunteers(&VolunteerFilter::default(), Page::default()).await.unwrap().items.is_empty());
}

pub async fn large_volunteer_batch(s: Arc<dyn Store>) {
    let c = candidate(&*s, "C").await;
    let ops: Vec<_> = (0..1000)
        .map(|i| BatchOp::Create(new_volunteer(&format!("bulk{i}@example.org"), (i % 2 == 0).then_some(c.id))))
        .collect();
    let r = s.batch_volunteers(ops, BatchOptions::default()).await.unwrap();
    assert_eq!(r.len(), 1000);
    assert!(r.iter().all(|x| matches!(x, Ok(Some(_)))));
    let ids: Vec<Uuid> = r.iter().map(|x| x.as_ref().unwrap().as_ref().unwrap().id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids keep the batch order");
    let page = s
        .list_volunteers(
            &VolunteerFilter { candidate_id: Some(c.id), ..Default::default() },
            Page { limit: 200, after: None },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 200);
}

/// The write of a request with an Idempotency-Key is recorded on the key in the same
/// transaction: when the response is lost (a crash before `idempotency_complete`), a retry
/// learns what was written instead of writing again, and releasing the claim cannot erase
/// that record.
pub async fn a_committed_write_outlives_its_lost_response(s: Arc<dyn Store>) {
    use crate::idempotency::{CURRENT, TAKEN_OVER};
    let key = IdempotencyKey { principal: "mobile-app".into(), key: "signup-1".into() };
    let claim = Claim::new(key.clone());
    assert_eq!(s.idempotency_begin(&claim, "fp").await.unwrap(), IdempotencyBegin::Claimed);
    let v = CURRENT.scope(claim.clone(), s.create_volunteer(new_volunteer("lost@example.org", None))).await.unwrap();
    // the response never made it: the server only manages to release the claim
    assert!(!s.idempotency_abort(&claim).await.unwrap(), "a claim whose write committed stays");
    assert_eq!(
        s.idempotency_begin(&Claim::new(key.clone()), "fp").await.unwrap(),
        IdempotencyBegin::Committed(format!("/v1/volunteers/{}", v.id))
    );
    // every create path marks its key, batches included
    let other = Claim::new(IdempotencyKey { principal: "mobile-app".into(), key: "batch-1".into() });
    assert_eq!(s.idempotency_begin(&other, "fp").await.unwrap(), IdempotencyBegin::Claimed);
    let ops = vec![BatchOp::Create(new_volunteer("b1@example.org", None))];
    CURRENT.scope(other.clone(), s.batch_volunteers(ops, BatchOptions::default())).await.unwrap();
    assert_eq!(
        s.idempotency_begin(&Claim::new(other.key.clone()), "fp").await.unwrap(),
        IdempotencyBegin::Committed("batch".into())
    );
    // a request that wrote nothing is released as before
    let idle = Claim::new(IdempotencyKey { principal: "mobile-app".into(), key: "nothing".into() });
    assert_eq!(s.idempotency_begin(&idle, "fp").await.unwrap(), IdempotencyBegin::Claimed);
    assert!(s.idempotency_abort(&idle).await.unwrap());
    assert_eq!(s.idempotency_begin(&Claim::new(idle.key.clone()), "fp").await.unwrap(), IdempotencyBegin::Claimed);
    // a request whose key another attempt holds (it outlived its claim) writes nothing
    let holder = Claim::new(IdempotencyKey { principal: "mobile-app".into(), key: "taken-1".into() });
    assert_eq!(s.idempotency_begin(&holder, "fp").await.unwrap(), IdempotencyBegin::Claimed);
    let late = Claim::new(holder.key.clone());
    let refused = CURRENT.scope(late.clone(), s.create_volunteer(new_volunteer("late@example.org", None))).await;
    assert!(matches!(&refused, Err(StoreError::Conflict(m)) if m == TAKEN_OVER), "{refused:?}");
    let ops = vec![BatchOp::Create(new_volunteer("late@example.org", None))];
    assert!(CURRENT.scope(late, s.batch_volunteers(ops, BatchOptions::default())).await.is_err());
    // nothing of either was written: the address is still free
    s.create_volunteer(new_volunteer("late@example.org", None)).await.unwrap();
    assert_eq!(s.idempotency_begin(&Claim::new(holder.key.clone()), "fp").await.unwrap(), IdempotencyBegin::InProgress);
}
