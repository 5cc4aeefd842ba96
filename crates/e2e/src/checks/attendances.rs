//! Attendances: the server's seat decision (registered, then waitlisted), the unique pair,
//! filters and the related lists, cancelling a seat promotes the waitlist, check-in and its
//! refusals, batch, a volunteer still signed up (409), delete.

use super::ops::batch_get;
use super::resource::{ATTENDANCES as A, VOLUNTEERS};
use super::{absent_id, field_is, lists, qs};
use crate::checks::events::Events;
use crate::checks::volunteers::Volunteers;
use crate::suite::{Call, Resp, Suite, etag_of};
use serde_json::json;

pub(crate) async fn run(s: &mut Suite, ev: &Events, vols: &Volunteers) {
    s.area("attendances");
    let sign_up =
        |event: &Option<String>, volunteer: &Option<String>| json!({"event_id": event, "volunteer_id": volunteer});
    let seat = s
        .check(
            Call::new("sign up for the one seat: registered", A.create, 201)
                .note("Location, ETag")
                .needs(&ev.small)
                .needs(&vols.first)
                .json(&sign_up(&ev.small, &vols.first))
                .verify(super::located(A.prefix))
                .verify(field_is("/status", json!("registered"))),
        )
        .await;
    let seated = seat.as_ref().and_then(Resp::id);
    let wait = s
        .check(
            Call::new("sign up when the seat is taken: waitlisted", A.create, 201)
                .needs(&ev.small)
                .needs(&vols.second)
                .json(&sign_up(&ev.small, &vols.second))
                .verify(field_is("/status", json!("waitlisted"))),
        )
        .await;
    let waiting = wait.as_ref().and_then(Resp::id);
    s.check(
        Call::new("the same volunteer twice at one event is a 409", A.create, 409)
            .needs(&seated)
            .json(&sign_up(&ev.small, &vols.first))
            .problem("conflict"),
    )
    .await;
    A.invalid(
        s,
        "an event that does not exist is a 422 naming event_id",
        &sign_up(&Some(absent_id()), &vols.first),
        &["event_id"],
    )
    .await;
    A.invalid(
        s,
        "a sign-up without a volunteer is a 422 naming volunteer_id",
        &json!({"event_id": ev.small}),
        &["volunteer_id"],
    )
    .await;

    let created = seated.clone();
    let seated = s.or_existing(seated, "/v1/attendances?limit=1").await;
    let etag = A.reads(s, &seated).await;
    A.two_pages(
        s,
        "attendances of an event",
        A.list,
        &ev.small,
        &qs(&[("event_id", ev.small.as_deref().unwrap_or(""))]),
    )
    .await;
    s.check(
        Call::new("the event's waitlist", A.list, 200)
            .needs(&waiting)
            .query(qs(&[("event_id", ev.small.as_deref().unwrap_or("")), ("status", "waitlisted")]))
            .verify(lists(&waiting, true)),
    )
    .await;
    s.check(
        Call::new("the event's registered attendances", "GET /v1/events/{id}/attendances", 200)
            .arg(&ev.small)
            .needs(&created)
            .query("status=registered")
            .verify(lists(&seated, true)),
    )
    .await;
    s.check(
        Call::new("the volunteer's attendances", "GET /v1/volunteers/{id}/attendances", 200)
            .arg(&vols.first)
            .needs(&created)
            .verify(lists(&seated, true)),
    )
    .await;
    s.check(batch_get("attendances by ?ids= list the missing one", A.list, &seated)).await;

    A.patch(
        s,
        &seated,
        &etag,
        &json!({"status": "cancelled"}),
        Call::new("cancel the registered seat", A.patch, 200).verify(field_is("/status", json!("cancelled"))),
    )
    .await;
    let promoted = s
        .check(
            Call::new("the waitlisted volunteer got the seat", A.get, 200)
                .arg(&waiting)
                .needs(&seated)
                .verify(field_is("/status", json!("registered"))),
        )
        .await;
    let checked_in = |name: &'static str| {
        Call::new(name, "POST /v1/attendances/{id}/check-in", 200)
            .arg(&waiting)
            .needs(&etag_of(&promoted))
            .verify(field_is("/status", json!("attended")))
            .verify(|r| if r.body["checked_in_at"].is_string() { Ok(()) } else { Err("no checked_in_at".into()) })
    };
    s.check(checked_in("check in: attended, with the time")).await;
    s.check(checked_in("checking in again changes nothing")).await;
    s.check(
        Call::new("a cancelled attendance cannot check in: 409", "POST /v1/attendances/{id}/check-in", 409)
            .arg(&seated)
            .problem("conflict"),
    )
    .await;
    s.check(
        Call::new("check-in of an attendance that does not exist is a 404", "POST /v1/attendances/{id}/check-in", 404)
            .arg(&Some(absent_id()))
            .problem("not-found"),
    )
    .await;

    if ev.open.is_some() && vols.first.is_some() {
        let good = json!({"op": "create", "data": sign_up(&ev.open, &vols.first)});
        let bad = json!({"op": "create", "data": {"event_id": ev.open}});
        A.batch(s, vec![good, bad], &[201, 422]).await;
        let twice = json!({"op": "create", "data": sign_up(&ev.open, &vols.second)});
        let list = qs(&[
            ("event_id", ev.open.as_deref().unwrap_or("")),
            ("volunteer_id", vols.second.as_deref().unwrap_or("")),
        ]);
        A.atomic(s, vec![twice.clone(), twice], 409, "conflict", (A.list, list)).await;
    } else {
        for name in
            ["an attendance batch answers per item", "an atomic attendance batch with a bad item is refused whole"]
        {
            s.skip(name, A.batch, 200, "needs the events and volunteers of earlier checks");
        }
    }
    s.check(
        Call::new("a volunteer still signed up cannot be deleted: 409", VOLUNTEERS.delete, 409)
            .arg(&vols.first)
            .needs(&seated)
            .problem("conflict"),
    )
    .await;
    A.delete(s, &seated).await;
}
