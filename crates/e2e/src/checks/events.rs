//! Events: create with capacity, time-window and reference refusals, filters and pages, the
//! candidate's events, changes, batch, a candidate that events still name (409), delete.

use super::ops::batch_get;
use super::resource::{CANDIDATES, EVENTS as E};
use super::{absent_id, field_is, lists, qs};
use crate::suite::{Call, Resp, Suite};
use serde_json::{Value, json};

/// The events the attendance checks use: `small` has one seat, `open` no limit.
pub(crate) struct Events {
    pub small: Option<String>,
    pub open: Option<String>,
}

fn body(s: &Suite, candidate: &Option<String>, title: &str, day: u32) -> Value {
    json!({"candidate_id": candidate, "title": format!("{} {title}", s.mark), "event_type": "canvass",
           "starts_at": format!("2030-10-{day:02}T14:00:00Z"), "ends_at": format!("2030-10-{day:02}T17:00:00Z"),
           "timezone": "America/New_York"})
}

pub(crate) async fn run(s: &mut Suite, candidate: &Option<String>) -> Events {
    s.area("events");
    let mut small = body(s, candidate, "door knock", 3);
    small["capacity"] = json!(1);
    small["location"] = json!({"venue": "Library", "city": "Boston", "state": "MA", "zip_code": "02139"});
    let made = s
        .check(
            Call::new("create an event with one seat", E.create, 201)
                .note("Location, ETag")
                .needs(candidate)
                .json(&small)
                .verify(super::located(E.prefix))
                .verify(field_is("/status", json!("scheduled")))
                .verify(field_is("/capacity", json!(1))),
        )
        .await;
    let one = made.as_ref().and_then(Resp::id);
    let mut open = body(s, candidate, "phone bank", 4);
    open["virtual_url"] = json!("https://example.org/e2e");
    let open = if candidate.is_some() {
        E.create(s, "create an event without a limit", &open).await
    } else {
        s.skip("create an event without a limit", E.create, 201, "needs the candidate of an earlier check");
        None
    };

    let mut backwards = body(s, candidate, "backwards", 5);
    backwards["ends_at"] = json!("2030-10-05T13:00:00Z");
    E.invalid(s, "an event ending before it starts is a 422 naming ends_at", &backwards, &["ends_at"]).await;
    E.invalid(
        s,
        "an event of a candidate that does not exist is a 422 naming candidate_id",
        &body(s, &Some(absent_id()), "orphan", 6),
        &["candidate_id"],
    )
    .await;
    let mut odd = body(s, candidate, "odd", 6);
    odd["event_type"] = json!("party");
    E.invalid(s, "an event type the API does not know is a 422", &odd, &["event_type"]).await;

    let created = one.clone();
    let one = s.or_existing(one, "/v1/events?limit=1").await;
    let etag = E.reads(s, &one).await;
    let by = qs(&[("candidate_id", candidate.as_deref().unwrap_or("")), ("event_type", "canvass")]);
    E.two_pages(s, "events by candidate and type", E.list, candidate, &by).await;
    E.two_pages(s, "the candidate's events", "GET /v1/candidates/{id}/events", candidate, "status=scheduled").await;
    s.check(
        Call::new("a date that is not a date is a 400 naming it", E.list, 400)
            .query("starts_after=next-tuesday")
            .problem("invalid-query")
            .field_error("starts_after"),
    )
    .await;
    s.check(
        Call::new("events starting in a window", E.list, 200)
            .needs(&created)
            .query(qs(&[
                ("candidate_id", candidate.as_deref().unwrap_or("")),
                ("starts_after", "2030-10-03T00:00:00Z"),
                ("starts_before", "2030-10-03T23:59:59Z"),
            ]))
            .verify(lists(&one, true)),
    )
    .await;
    s.check(batch_get("events by ?ids= list the missing one", E.list, &one)).await;
    E.patch(
        s,
        &one,
        &etag,
        &json!({"description": "Meet at the front steps"}),
        Call::new("change an event", E.patch, 200).verify(field_is("/description", json!("Meet at the front steps"))),
    )
    .await;
    s.check(
        Call::new("a capacity of zero is a 422", E.patch, 422)
            .arg(&one)
            .json(&json!({"capacity": 0}))
            .problem("validation")
            .field_error("capacity"),
    )
    .await;
    let third = json!({"op": "create", "data": body(s, candidate, "batch", 7)});
    let mut bad = body(s, candidate, "bad batch", 8);
    bad["title"] = json!("");
    let bad = json!({"op": "create", "data": bad});
    if candidate.is_some() {
        E.batch(s, vec![third.clone(), bad.clone()], &[201, 422]).await;
        let atomic = json!({"op": "create", "data": body(s, candidate, "atomic", 9)});
        E.atomic(
            s,
            vec![atomic, bad],
            422,
            "validation",
            (E.list, by.clone() + "&starts_after=2030-10-09T00:00:00Z&starts_before=2030-10-10T00:00:00Z"),
        )
        .await;
    } else {
        for name in ["an event batch answers per item", "an atomic event batch with a bad item is refused whole"] {
            s.skip(name, E.batch, 200, "needs the candidate of an earlier check");
        }
    }
    s.check(
        Call::new("a candidate that events still name cannot be deleted: 409", CANDIDATES.delete, 409)
            .arg(candidate)
            .needs(&one)
            .problem("conflict"),
    )
    .await;
    let last =
        s.fetch(&format!("/v1/events?{by}&starts_after=2030-10-07T00:00:00Z&starts_before=2030-10-08T00:00:00Z")).await;
    E.delete(s, &last.and_then(|r| r.ids().into_iter().next())).await;
    Events { small: one, open }
}
