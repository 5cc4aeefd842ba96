//! Candidates: create (and its idempotent retry), the refusals of a bad body (400, 413,
//! 415, 422), reads, pages, `?ids=`, changes, batch and delete.

use super::ops::{batch_get, idempotency_key};
use super::resource::CANDIDATES as C;
use super::{field_is, id_is, qs};
use crate::cleanup::E2E_OFFICE;
use crate::suite::{Call, Suite};
use serde_json::{Value, json};

/// A candidate body marked as the suite's.
pub(crate) fn body(s: &Suite, name: &str) -> Value {
    json!({"name": format!("{} {name}", s.mark), "office": E2E_OFFICE, "district": s.mark,
           "party": "Green", "election_date": "2030-11-05"})
}

/// Runs the candidate checks; the candidate the other areas' rows name (kept).
pub(crate) async fn run(s: &mut Suite) -> Option<String> {
    s.area("candidates");
    let mark = s.mark.clone();
    let a_body = body(s, "Maria Lopez");
    let key = format!("{mark}-candidate-a");
    let made = s
        .check(
            Call::new("create a candidate", C.create, 201)
                .note("Location, ETag")
                .header(idempotency_key(), &key)
                .json(&a_body)
                .verify(super::located(C.prefix))
                .verify(field_is("/status", json!("active"))),
        )
        .await;
    let a = made.as_ref().and_then(|r| r.id());
    s.check(
        Call::new("a create retried with its Idempotency-Key writes nothing new", C.create, 201)
            .note("same id")
            .needs(&a)
            .header(idempotency_key(), &key)
            .json(&a_body)
            .verify(id_is(&a)),
    )
    .await;
    s.check(
        Call::new("an Idempotency-Key reused with another body is a 422", C.create, 422)
            .needs(&a)
            .header(idempotency_key(), &key)
            .json(&body(s, "Someone Else"))
            .problem("idempotency-key-reused"),
    )
    .await;
    let b = C.create(s, "create a second candidate", &body(s, "Jo Rivera")).await;
    let a = s.or_existing(a, "/v1/candidates?limit=1").await;

    C.invalid(
        s,
        "a candidate without name and office is a 422 naming both",
        &json!({"party": "Green"}),
        &["name", "office"],
    )
    .await;
    s.check(
        Call::new("a body that is not JSON is a 400", C.create, 400)
            .raw("application/json", b"{\"name\": ".to_vec())
            .problem("malformed-json"),
    )
    .await;
    s.check(
        Call::new("a body that is not JSON by its type is a 415", C.create, 415)
            .raw("text/plain", b"name=Maria".to_vec())
            .problem("unsupported-media-type"),
    )
    .await;
    let huge = format!("{{\"name\": \"{}\", \"office\": \"{E2E_OFFICE}\"}}", "x".repeat(1024 * 1024 + 1));
    s.check(
        Call::new("a body over the limit is a 413", C.create, 413)
            .raw("application/json", huge.into_bytes())
            .problem("body-too-large"),
    )
    .await;

    let etag = C.reads(s, &a).await;
    C.two_pages(s, "candidates by district", C.list, &Some(String::new()), &qs(&[("district", &mark)])).await;
    s.check(
        Call::new("a bad limit is a 400 naming it", C.list, 400)
            .query("limit=0")
            .problem("invalid-query")
            .field_error("limit"),
    )
    .await;
    s.check(batch_get("candidates by ?ids= list the missing one", C.list, &a)).await;
    C.patch(
        s,
        &a,
        &etag,
        &json!({"party": "Blue"}),
        Call::new("change a candidate", C.patch, 200).verify(field_is("/party", json!("Blue"))),
    )
    .await;
    s.check(
        Call::new("a status the rules do not know is a 422", C.patch, 422)
            .arg(&a)
            .json(&json!({"status": "elected"}))
            .problem("validation")
            .field_error("status"),
    )
    .await;
    let valid = json!({"op": "create", "data": body(s, "Batch One")});
    let invalid = json!({"op": "create", "data": {"name": format!("{mark} no office")}});
    C.batch(s, vec![valid.clone(), invalid.clone()], &[201, 422]).await;
    let atomic_one = json!({"op": "create", "data": {"name": format!("{mark} atomic"), "office": E2E_OFFICE, "district": format!("{mark}-atomic")}});
    C.atomic(s, vec![atomic_one, invalid], 422, "validation", (C.list, qs(&[("district", &format!("{mark}-atomic"))])))
        .await;
    C.delete(s, &b).await;
    a
}
