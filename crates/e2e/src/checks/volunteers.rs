//! Volunteers: normalised contact fields, email uniqueness, filters and pages, changes,
//! batch, the CSV import (dry run, write, refusal) and delete.

use super::ops::batch_get;
use super::resource::VOLUNTEERS as V;
use super::{absent_id, field_is, lists, qs};
use crate::cleanup::E2E_TAG;
use crate::suite::{Auth, Call, Resp, Scope, Suite};
use serde_json::{Value, json};

/// The volunteers the attendance checks sign up.
pub(crate) struct Volunteers {
    pub first: Option<String>,
    pub second: Option<String>,
}

fn email(s: &Suite, n: &str) -> String {
    format!("{}-{n}@example.org", s.mark)
}

fn body(s: &Suite, n: &str, candidate: &Option<String>) -> Value {
    let mut v = json!({"first_name": "Ana", "last_name": format!("{} {n}", s.mark), "email": email(s, n),
                       "tags": [E2E_TAG, s.mark]});
    if let Some(c) = candidate {
        v["candidate_id"] = json!(c);
    }
    v
}

pub(crate) async fn run(s: &mut Suite, candidate: &Option<String>) -> Volunteers {
    s.area("volunteers");
    let mark = s.mark.clone();
    let mut first = body(s, "1", candidate);
    first["phone"] = json!("(415) 555-0132");
    first["zip_code"] = json!("02139");
    let made = s
        .check(
            Call::new("create a volunteer (phone normalised to E.164)", V.create, 201)
                .note("Location, ETag")
                .json(&first)
                .verify(super::located(V.prefix))
                .verify(field_is("/phone", json!("+14155550132"))),
        )
        .await;
    let one = made.as_ref().and_then(Resp::id);
    let two = V.create(s, "create a second volunteer", &body(s, "2", &None)).await;
    let mut again = body(s, "dup", &None);
    again["email"] = json!(email(s, "1").to_uppercase());
    s.check(
        Call::new("an email already signed up, in other case, is a 409", V.create, 409)
            .needs(&one)
            .json(&again)
            .problem("conflict"),
    )
    .await;
    let mut bad = body(s, "bad", &None);
    bad["email"] = json!("not-an-email");
    bad["zip_code"] = json!("1234");
    V.invalid(s, "a bad email and ZIP are a 422 naming both", &bad, &["email", "zip_code"]).await;
    V.invalid(
        s,
        "a candidate that does not exist is a 422 naming candidate_id",
        &body(s, "orphan", &Some(absent_id())),
        &["candidate_id"],
    )
    .await;

    let created = one.clone();
    let one = s.or_existing(one, "/v1/volunteers?limit=1").await;
    let etag = V.reads(s, &one).await;
    V.two_pages(s, "volunteers by tag", V.list, &Some(String::new()), &qs(&[("tag", &mark)])).await;
    s.check(
        Call::new("volunteers by email", V.list, 200)
            .needs(&created)
            .query(qs(&[("email", &email(s, "1"))]))
            .verify(lists(&one, true)),
    )
    .await;
    s.check(batch_get("volunteers by ?ids= list the missing one", V.list, &one)).await;
    contacts(s, &one).await;
    V.patch(
        s,
        &one,
        &etag,
        &json!({"zip_code": "94103-1234"}),
        Call::new("change a volunteer", V.patch, 200).verify(field_is("/zip_code", json!("94103-1234"))),
    )
    .await;

    let mut ops = vec![json!({"op": "create", "data": body(s, "3", &None)})];
    if let Some(two) = &two {
        ops.push(json!({"op": "update", "id": two, "if_match": "\"v1\"", "data": {"first_name": "Bea"}}));
    }
    ops.push(json!({"op": "delete", "id": absent_id()}));
    let statuses: &'static [u16] = if two.is_some() { &[201, 200, 404] } else { &[201, 404] };
    V.batch(s, ops, statuses).await;
    let mut dup = body(s, "atomic", &None);
    dup["email"] = json!(email(s, "2"));
    V.atomic(
        s,
        vec![json!({"op": "create", "data": body(s, "4", &None)}), json!({"op": "create", "data": dup})],
        409,
        "conflict",
        (V.list, qs(&[("email", &email(s, "4"))])),
    )
    .await;
    import(s).await;
    Volunteers { first: one, second: two }
}

/// Contact details: masked for a token without the `contacts` scope, which may not filter
/// by them either; every contact read and change lands on the audit trail.
async fn contacts(s: &mut Suite, one: &Option<String>) {
    s.check(
        Call::new("a read token sees the email and phone masked", V.get, 200)
            .arg(one)
            .auth(Auth::Only(Scope::Read))
            .verify(|r| match r.body.pointer("/email").and_then(Value::as_str) {
                Some(e) if e.contains("***@") => Ok(()),
                other => Err(format!("email {other:?} is not masked")),
            }),
    )
    .await;
    s.check(
        Call::new("filtering by email needs the contacts scope: 403", V.list, 403)
            .auth(Auth::Only(Scope::Read))
            .query(qs(&[("email", &email(s, "1"))]))
            .problem("insufficient-scope"),
    )
    .await;
    s.area("admin");
    s.check(
        Call::new("the audit trail names who touched a volunteer", "GET /v1/admin/audit", 200)
            .needs(one)
            .query(qs(&[("volunteer_id", one.as_deref().unwrap_or_default()), ("limit", "50")]))
            .verify(|r| match r.body.pointer("/data").and_then(Value::as_array) {
                Some(entries) if entries.iter().all(|e| e["volunteer_ids"].is_array() && e["subject"].is_string()) => {
                    Ok(())
                }
                _ => Err(format!("not a page of audit entries: {}", r.body)),
            }),
    )
    .await;
    s.area("volunteers");
}

/// The CSV import: a dry run counts without writing, the real one writes the good rows and
/// names the bad by line, and a body of another type is a 415. Skipped, with the reason,
/// when the `csv-import` flag is off for this caller.
async fn import(s: &mut Suite) {
    const OP: &str = "POST /v1/volunteers/import";
    let on = s.check(Call::new("the caller's flags", "GET /v1/flags", 200)).await.map(|r| {
        r.body["flags"].as_array().into_iter().flatten().any(|f| f["key"] == "csv-import" && f["value"] == true)
    });
    let csv = format!(
        "first_name,last_name,email,zip_code,tags\nCal,{m},{e},02139,{E2E_TAG};{m}\nDee,{m},not-an-email,,{E2E_TAG};{m}\n",
        m = s.mark,
        e = email(s, "csv"),
    );
    let summary = |dry: bool| {
        move |r: &Resp| {
            let b = &r.body;
            let line = b["errors"][0]["line"].as_u64();
            if b["dry_run"] == dry && b["rows"] == 2 && b["created"] == 1 && b["failed"] == 1 && line == Some(3) {
                Ok(())
            } else {
                Err(format!("expected dry_run={dry}, rows 2, created 1, failed 1 on line 3: {}", r.snippet()))
            }
        }
    };
    if on == Some(false) {
        s.area("import-refused");
        for name in ["import volunteers (dry run)", "import volunteers from CSV"] {
            s.skip(name, OP, 200, "the csv-import flag is off for this caller");
        }
        s.check(
            Call::new("a disabled import is a 404 feature-disabled", OP, 404)
                .raw("text/csv", csv.into_bytes())
                .problem("feature-disabled"),
        )
        .await;
        return;
    }
    // an import costs 50 of a budget of 100 (the default): each gets a subject of its own
    s.area("import-dry-run");
    s.check(
        Call::new("import volunteers (dry run)", OP, 200)
            .query("dry_run=true")
            .raw("text/csv", csv.clone().into_bytes())
            .verify(summary(true)),
    )
    .await;
    s.area("import");
    let done = s
        .check(
            Call::new("import volunteers from CSV", OP, 200).raw("text/csv", csv.into_bytes()).verify(summary(false)),
        )
        .await;
    s.area("import-refused");
    s.check(
        Call::new("an import that is not CSV is a 415", OP, 415)
            .raw("application/json", b"{}".to_vec())
            .problem("unsupported-media-type"),
    )
    .await;
    s.area("volunteers");
    let found = s
        .check(
            Call::new("the imported volunteer is there", V.list, 200)
                .needs(&done.map(|_| String::new()))
                .query(qs(&[("email", &email(s, "csv"))]))
                .verify(super::page(1, false)),
        )
        .await;
    V.delete(s, &super::first_id(&found)).await;
}
