//! Who may see whom: tokens confined to candidates, contact details behind the `contacts`
//! scope, the cache keyed by both, and the audit trail. On SQLite and PostgreSQL, in the
//! cache mode of the run (`MUSTER_TEST_CACHE`).

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Resp, TestApp};

on_both_backends!(
    a_confined_token_sees_and_changes_only_its_candidates,
    a_confined_token_writes_only_within_its_candidates,
    contacts_are_masked_without_the_contacts_scope,
    the_cache_never_serves_one_scope_to_another,
    the_audit_trail_records_changes_and_contact_reads,
    no_response_to_a_confined_token_names_another_campaign,
);

/// A token confined to `candidates` with `scope`.
fn confined(sub: &str, scope: &str, candidates: &[&Value]) -> String {
    let now = chrono::Utc::now().timestamp();
    let ids: Vec<&str> = candidates.iter().map(|c| c.as_str().unwrap()).collect();
    let claims = json!({"sub": sub, "scope": scope, "iat": now, "exp": now + 3600, "candidates": ids});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(support::TEST_SECRET.as_bytes()),
    )
    .unwrap()
}

/// Two campaigns on one instance: each candidate's volunteer and event, their attendances,
/// a volunteer of A at B's event, and a volunteer of no campaign.
struct World {
    a: Value,
    b: Value,
    vol_a: Value,
    vol_b: Value,
    vol_none: Value,
    event_a: Value,
    event_b: Value,
    att_a: Value,
    att_b: Value,
    /// A's volunteer at B's event: it names A's volunteer, so B does not see it, and it is
    /// at B's event, so A does not either.
    att_cross: Value,
}

impl World {
    fn id(v: &Value) -> &str {
        v["id"].as_str().unwrap()
    }
    /// Every id and email of B's campaign (and of no campaign's), which A must never see.
    fn foreign_to_a(&self) -> Vec<String> {
        let mut v: Vec<String> = [&self.b, &self.vol_b, &self.vol_none, &self.event_b, &self.att_b, &self.att_cross]
            .iter()
            .map(|x| Self::id(x).to_owned())
            .collect();
        v.push(self.vol_b["email"].as_str().unwrap().to_owned());
        v.push(self.vol_none["email"].as_str().unwrap().to_owned());
        v
    }
}

async fn world(app: &TestApp) -> World {
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let a = app.create("candidates", json!({"name": "Ana Campaign", "office": "Mayor"})).await;
    let b = app.create("candidates", json!({"name": "Bo Campaign", "office": "Council"})).await;
    let vol = |who: &str, c: Option<&Value>| {
        json!({"first_name": who, "last_name": "Volunteer", "email": format!("{who}-{tag}@example.org"),
               "phone": "+14155550132", "candidate_id": c.map(|c| c["id"].clone())})
    };
    let vol_a = app.create("volunteers", vol("alma", Some(&a))).await;
    let vol_b = app.create("volunteers", vol("bruno", Some(&b))).await;
    let vol_none = app.create("volunteers", vol("nadia", None)).await;
    let event_a = app.event(&a["id"], Some(10)).await;
    let event_b = app.event(&b["id"], Some(10)).await;
    let att = |v: &Value, e: &Value| json!({"volunteer_id": v["id"], "event_id": e["id"]});
    let att_a = app.create("attendances", att(&vol_a, &event_a)).await;
    let att_b = app.create("attendances", att(&vol_b, &event_b)).await;
    let att_cross = app.create("attendances", att(&vol_a, &event_b)).await;
    World { a, b, vol_a, vol_b, vol_none, event_a, event_b, att_a, att_b, att_cross }
}

async fn as_token(app: &TestApp, token: &str, method: Method, path: &str, body: Option<&Value>) -> Resp {
    let auth = format!("Bearer {token}");
    app.send(method, path, body, &[("authorization", &auth)]).await
}

fn ids(r: &Resp) -> Vec<String> {
    r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.body))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_confined_token_sees_and_changes_only_its_candidates(app: TestApp) {
    let w = world(&app).await;
    let tok = confined("field-a", "read write contacts", &[&w.a["id"]]);
    let get = |path: String| {
        let (app, tok) = (&app, &tok);
        async move { as_token(app, tok, Method::GET, &path, None).await }
    };
    let id = World::id;

    // lists hold only A's rows
    assert_eq!(ids(&get("/v1/candidates".into()).await), [id(&w.a)]);
    assert_eq!(ids(&get("/v1/volunteers".into()).await), [id(&w.vol_a)]);
    assert_eq!(ids(&get("/v1/events".into()).await), [id(&w.event_a)]);
    assert_eq!(ids(&get("/v1/attendances".into()).await), [id(&w.att_a)], "not the cross attendance");
    // a filter naming B finds nothing, rather than B's rows
    assert!(ids(&get(format!("/v1/volunteers?candidate_id={}", id(&w.b))).await).is_empty());
    assert!(ids(&get(format!("/v1/attendances?event_id={}", id(&w.event_b))).await).is_empty());

    // B's rows, and rows of no campaign, are 404 like rows that do not exist
    for path in [
        format!("/v1/candidates/{}", id(&w.b)),
        format!("/v1/volunteers/{}", id(&w.vol_b)),
        format!("/v1/volunteers/{}", id(&w.vol_none)),
        format!("/v1/events/{}", id(&w.event_b)),
        format!("/v1/attendances/{}", id(&w.att_b)),
        format!("/v1/attendances/{}", id(&w.att_cross)),
        format!("/v1/events/{}/attendances", id(&w.event_b)),
        format!("/v1/volunteers/{}/attendances", id(&w.vol_b)),
        format!("/v1/candidates/{}/events", id(&w.b)),
    ] {
        let r = get(path.clone()).await;
        r.problem(404);
        let missing = get(path.replace(id(&w.b), &uuid::Uuid::now_v7().to_string())).await;
        if path.contains(id(&w.b)) {
            assert_eq!(r.body["detail"], missing.body["detail"], "{path}: the same answer as a missing row");
        }
    }
    // A's own rows and related lists
    for (path, want) in [
        (format!("/v1/candidates/{}", id(&w.a)), id(&w.a)),
        (format!("/v1/volunteers/{}", id(&w.vol_a)), id(&w.vol_a)),
        (format!("/v1/events/{}", id(&w.event_a)), id(&w.event_a)),
        (format!("/v1/attendances/{}", id(&w.att_a)), id(&w.att_a)),
    ] {
        let r = get(path.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.body["id"], want);
    }
    assert_eq!(ids(&get(format!("/v1/events/{}/attendances", id(&w.event_a))).await), [id(&w.att_a)]);
    assert_eq!(ids(&get(format!("/v1/volunteers/{}/attendances", id(&w.vol_a))).await), [id(&w.att_a)]);
    assert_eq!(ids(&get(format!("/v1/candidates/{}/events", id(&w.a))).await), [id(&w.event_a)]);

    // batch GET: B's id is reported missing, as an unknown one would be
    let r = get(format!("/v1/volunteers?ids={},{}", id(&w.vol_a), id(&w.vol_b))).await;
    assert_eq!(ids(&r), [id(&w.vol_a)]);
    assert_eq!(r.body["missing"], json!([id(&w.vol_b)]));

    // changes to B's rows are 404 and change nothing
    let vb = format!("/v1/volunteers/{}", id(&w.vol_b));
    as_token(&app, &tok, Method::PATCH, &vb, Some(&json!({"first_name": "Hacked"}))).await.problem(404);
    as_token(&app, &tok, Method::DELETE, &format!("/v1/events/{}", id(&w.event_b)), None).await.problem(404);
    as_token(&app, &tok, Method::DELETE, &format!("/v1/candidates/{}", id(&w.b)), None).await.problem(404);
    as_token(&app, &tok, Method::POST, &format!("/v1/attendances/{}/check-in", id(&w.att_b)), None).await.problem(404);
    let own = as_token(&app, &tok, Method::POST, &format!("/v1/attendances/{}/check-in", id(&w.att_a)), None).await;
    assert_eq!(own.status, StatusCode::OK, "checks in its own attendance: {}", own.body);
    let after = app.get(&vb).await;
    assert_eq!(after.body, w.vol_b, "B's volunteer is untouched");
    assert_eq!(app.get(&format!("/v1/events/{}", id(&w.event_b))).await.status, StatusCode::OK);
    let att_b = app.get(&format!("/v1/attendances/{}", id(&w.att_b))).await;
    assert_eq!(att_b.body["status"], w.att_b["status"], "B's attendance is not checked in");

    // administration spans every campaign: a confined admin token is refused
    let admin = confined("admin-a", "admin", &[&w.a["id"]]);
    as_token(&app, &admin, Method::GET, "/v1/admin/audit", None).await.problem(403);
    as_token(&app, &admin, Method::GET, "/v1/admin/rate-limits", None).await.problem(403);
    // but within its candidates it is an admin (contacts included)
    let r = as_token(&app, &admin, Method::GET, &format!("/v1/volunteers/{}", id(&w.vol_a)), None).await;
    assert_eq!(r.body["email"], w.vol_a["email"]);
    as_token(&app, &admin, Method::GET, &vb, None).await.problem(404);
}

async fn a_confined_token_writes_only_within_its_candidates(app: TestApp) {
    let w = world(&app).await;
    let tok = confined("field-a", "read write", &[&w.a["id"]]);
    let post = |path: &'static str, body: Value| {
        let (app, tok) = (&app, &tok);
        async move { as_token(app, tok, Method::POST, path, Some(&body)).await }
    };
    let vol = |c: Value| json!({"first_name": "Nico", "last_name": "New", "email": format!("nico-{}@example.org", uuid::Uuid::now_v7().simple()), "candidate_id": c});

    // a new volunteer must name one of the token's candidates; B's is refused exactly as
    // an id that does not exist
    let created = post("/v1/volunteers", vol(w.a["id"].clone())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let to_b = post("/v1/volunteers", vol(w.b["id"].clone())).await;
    let nowhere = uuid::Uuid::now_v7().to_string();
    let to_nowhere = post("/v1/volunteers", vol(json!(nowhere))).await;
    to_b.problem(422);
    to_nowhere.problem(422);
    assert_eq!(to_b.fields(), ["candidate_id"]);
    assert_eq!(
        to_b.body["errors"].to_string().replace(World::id(&w.b), "ID"),
        to_nowhere.body["errors"].to_string().replace(&nowhere, "ID"),
        "the same words for B's candidate as for a missing one"
    );
    post("/v1/volunteers", vol(Value::Null)).await.problem(422);
    post("/v1/candidates", json!({"name": "New", "office": "Mayor"})).await.problem(403);
    // an attendance must be at its event, of its volunteer
    let att = |v: &Value, e: &Value| json!({"volunteer_id": v["id"], "event_id": e["id"]});
    let r = as_token(&app, &tok, Method::POST, "/v1/attendances", Some(&att(&w.vol_a, &w.event_b))).await;
    assert_eq!(r.problem(422)["errors"][0]["field"], "event_id");
    let r = as_token(&app, &tok, Method::POST, "/v1/attendances", Some(&att(&w.vol_b, &w.event_a))).await;
    assert_eq!(r.problem(422)["errors"][0]["field"], "volunteer_id");
    // moving its volunteer to B is refused; an event too
    let va = format!("/v1/volunteers/{}", World::id(&w.vol_a));
    as_token(&app, &tok, Method::PATCH, &va, Some(&json!({"candidate_id": w.b["id"]}))).await.problem(422);
    as_token(&app, &tok, Method::PATCH, &va, Some(&json!({"candidate_id": null}))).await.problem(422);
    let ea = format!("/v1/events/{}", World::id(&w.event_a));
    as_token(&app, &tok, Method::PATCH, &ea, Some(&json!({"candidate_id": w.b["id"]}))).await.problem(422);
    let ok = as_token(&app, &tok, Method::PATCH, &va, Some(&json!({"first_name": "Alma Rosa"}))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // batch: each item as its single call would answer
    let batch = json!({"operations": [
        {"op": "update", "id": w.vol_b["id"], "data": {"first_name": "X"}},
        {"op": "create", "data": vol(w.b["id"].clone())},
        {"op": "create", "data": vol(w.a["id"].clone())},
        {"op": "delete", "id": w.vol_none["id"]},
        {"op": "update", "id": w.vol_a["id"], "data": {"last_name": "Ruiz"}},
    ]});
    let r = as_token(&app, &tok, Method::POST, "/v1/volunteers/batch", Some(&batch)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let statuses: Vec<u64> =
        r.body["results"].as_array().unwrap().iter().map(|x| x["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [404, 422, 201, 404, 200], "{}", r.body);
    // atomic: the first refused item stops the whole batch, nothing written
    let before = ids(&app.get("/v1/volunteers?limit=100").await).len();
    let mut atomic = batch.clone();
    atomic["atomic"] = json!(true);
    let r = as_token(&app, &tok, Method::POST, "/v1/volunteers/batch", Some(&atomic)).await;
    assert_eq!(r.problem(404)["errors"][0]["field"], "operations[0]");
    assert_eq!(ids(&app.get("/v1/volunteers?limit=100").await).len(), before);
    // a confined token creates no candidates in a batch either
    let r = as_token(
        &app,
        &tok,
        Method::POST,
        "/v1/candidates/batch",
        Some(&json!({"operations": [{"op": "create", "data": {"name": "N", "office": "Mayor"}}]})),
    )
    .await;
    r.problem(403);

    // import: rows must name one of its candidates; B's volunteer is not updated by email
    let csv = format!(
        "first_name,last_name,email,candidate_id\nIda,One,ida-{t}@example.org,{a}\nJo,Two,jo-{t}@example.org,{b}\nKim,Three,kim-{t}@example.org,\nBruno,Over,{eb},{a}\n",
        t = uuid::Uuid::now_v7().simple(),
        a = World::id(&w.a),
        b = World::id(&w.b),
        eb = w.vol_b["email"].as_str().unwrap(),
    );
    let r = app.import_csv(&tok, "?upsert=true", csv).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.body;
    assert_eq!(body["created"], 1, "{body}");
    assert_eq!(body["updated"], 0, "{body}");
    assert_eq!(body["failed"], 3, "{body}");
    let lines: Vec<u64> = body["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [3, 4, 5], "{body}");
    assert_eq!(app.get(&format!("/v1/volunteers/{}", World::id(&w.vol_b))).await.body, w.vol_b);
}

async fn contacts_are_masked_without_the_contacts_scope(app: TestApp) {
    let w = world(&app).await;
    let read = support::mint("reader", "read write", 3600);
    let contacts = support::mint("caller", "read contacts", 3600);
    let path = format!("/v1/volunteers/{}", World::id(&w.vol_a));
    let email = w.vol_a["email"].as_str().unwrap();
    let masked = format!("a***@{}", email.split_once('@').unwrap().1);

    let r = as_token(&app, &read, Method::GET, &path, None).await;
    assert_eq!(r.body["email"], masked.as_str());
    assert_eq!(r.body["phone"], "+1******0132");
    assert_eq!(r.body["first_name"], w.vol_a["first_name"], "only contact details are masked");
    let list = as_token(&app, &read, Method::GET, "/v1/volunteers?limit=100", None).await;
    for v in [&w.vol_a, &w.vol_b, &w.vol_none] {
        assert!(!list.body.to_string().contains(v["email"].as_str().unwrap()), "no address unmasked in {}", list.body);
    }
    assert!(list.body.to_string().contains(&masked));
    // a write without the scope answers masked too
    let r = as_token(&app, &read, Method::PATCH, &path, Some(&json!({"zip_code": "94110"}))).await;
    assert_eq!(r.body["email"], masked.as_str());
    // and may not filter by them
    let q = format!("/v1/volunteers?email={}", urlencode(email));
    assert!(
        as_token(&app, &read, Method::GET, &q, None).await.problem(403)["detail"]
            .as_str()
            .unwrap()
            .contains("contacts")
    );

    // with the scope: as stored, and filterable
    let r = as_token(&app, &contacts, Method::GET, &path, None).await;
    assert_eq!(r.body["email"], email);
    assert_eq!(r.body["phone"], "+14155550132");
    let found = as_token(&app, &contacts, Method::GET, &q, None).await;
    assert_eq!(ids(&found), [World::id(&w.vol_a)]);
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_owned()
}

async fn the_cache_never_serves_one_scope_to_another(app: TestApp) {
    let w = world(&app).await;
    let tok_a = confined("a", "read contacts", &[&w.a["id"]]);
    let tok_b = confined("b", "read contacts", &[&w.b["id"]]);
    let masked_a = confined("a2", "read", &[&w.a["id"]]);
    let read = support::mint("r", "read", 3600);
    let contacts = support::mint("c", "read contacts", 3600);
    let row = format!("/v1/volunteers/{}", World::id(&w.vol_a));
    let email = w.vol_a["email"].as_str().unwrap();
    // twice each, interleaved: the second of each is served from the cache where there is one
    for round in 0..2 {
        let r = as_token(&app, &contacts, Method::GET, &row, None).await;
        assert_eq!(r.body["email"], email, "round {round}");
        let r = as_token(&app, &read, Method::GET, &row, None).await;
        assert_ne!(r.body["email"], email, "round {round}: masked for read");
        let r = as_token(&app, &tok_a, Method::GET, &row, None).await;
        assert_eq!(r.body["email"], email, "round {round}");
        if round == 1 && app.state.cache.mode() != muster_api::cache::CacheMode::None {
            assert_eq!(r.header("x-cache"), Some("hit"), "a confined token's reads are cached too");
        }
        let r = as_token(&app, &masked_a, Method::GET, &row, None).await;
        assert_ne!(r.body["email"], email, "round {round}: masked for A's read token");
        as_token(&app, &tok_b, Method::GET, &row, None).await.problem(404);
        // the same list URL
        let list = "/v1/volunteers?limit=50";
        assert_eq!(ids(&as_token(&app, &tok_a, Method::GET, list, None).await), [World::id(&w.vol_a)]);
        assert_eq!(ids(&as_token(&app, &tok_b, Method::GET, list, None).await), [World::id(&w.vol_b)]);
        let all = ids(&as_token(&app, &contacts, Method::GET, list, None).await);
        assert!(all.len() >= 3, "{all:?}");
        let masked_list = as_token(&app, &read, Method::GET, list, None).await;
        assert!(!masked_list.body.to_string().contains(email), "round {round}");
        let full_list = as_token(&app, &contacts, Method::GET, list, None).await;
        assert!(full_list.body.to_string().contains(email), "round {round}");
    }
    // a write shows through every scope's entries
    let moved = app.patch(&row, &json!({"candidate_id": w.b["id"]})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    as_token(&app, &tok_a, Method::GET, &row, None).await.problem(404);
    assert_eq!(as_token(&app, &tok_b, Method::GET, &row, None).await.body["email"], email);
    let list = "/v1/volunteers?limit=50";
    assert!(ids(&as_token(&app, &tok_a, Method::GET, list, None).await).is_empty());
    // attendances follow their volunteer's campaign: A's attendance is no longer A's
    let att = format!("/v1/attendances/{}", World::id(&w.att_a));
    as_token(&app, &tok_a, Method::GET, &att, None).await.problem(404);
}

async fn the_audit_trail_records_changes_and_contact_reads(app: TestApp) {
    let w = world(&app).await;
    let reader = support::mint("masked-reader", "read", 3600);
    let contacts = support::mint("contact-reader", "read contacts", 3600);
    let va = World::id(&w.vol_a).to_owned();
    let row = format!("/v1/volunteers/{va}");
    app.patch(&row, &json!({"zip_code": "94110"})).await;
    as_token(&app, &contacts, Method::GET, &row, None).await;
    as_token(&app, &contacts, Method::GET, "/v1/volunteers?limit=2", None).await;
    as_token(&app, &reader, Method::GET, &row, None).await;
    as_token(&app, &reader, Method::GET, "/v1/volunteers", None).await;
    let batch = json!({"operations": [{"op": "update", "id": va, "data": {"last_name": "Batch"}}]});
    assert_eq!(app.post("/v1/volunteers/batch", &batch).await.status, StatusCode::OK);
    let csv = format!("first_name,last_name,email\nImp,Orted,imp-{}@example.org\n", uuid::Uuid::now_v7().simple());
    let r = app.import_csv(&app.token, "", csv).await;
    assert_eq!(r.status, StatusCode::OK);
    let gone = app.volunteer(&format!("gone-{}@example.org", uuid::Uuid::now_v7().simple())).await;
    app.delete(&format!("/v1/volunteers/{}", World::id(&gone))).await;
    app.state.audit.flush().await;

    // everything about A's volunteer, newest first
    let r = app.get(&format!("/v1/admin/audit?volunteer_id={va}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let entries = r.body["data"].as_array().unwrap();
    let seen: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["subject"].as_str().unwrap().to_owned()))
        .collect();
    let want = [("batch", "tester"), ("read", "contact-reader"), ("update", "tester"), ("create", "tester")];
    assert_eq!(seen, want.map(|(a, s)| (a.to_owned(), s.to_owned())), "{}", r.body);
    let read = &entries[1];
    assert_eq!(read["route"], "GET /v1/volunteers/{id}");
    assert_eq!(read["volunteer_ids"], json!([va]));
    assert_eq!(read["count"], 1);
    assert!(read["request_ids"][0].as_str().is_some_and(|s| !s.is_empty()), "{read}");
    assert!(read["build"].as_str().unwrap().contains('+'));
    // the masked reader left no trace; the contacts list read left its count and query
    let r = app.get("/v1/admin/audit?sub=masked-reader").await;
    assert_eq!(r.body["data"], json!([]));
    let r = app.get("/v1/admin/audit?sub=contact-reader").await;
    let list = r.body["data"].as_array().unwrap().iter().find(|e| e["route"] == "GET /v1/volunteers").cloned();
    let list = list.unwrap_or_else(|| panic!("a list entry in {}", r.body));
    assert_eq!(list["count"], 2);
    assert_eq!(list["query"], "limit=2");
    // the import and the delete
    let r = app.get("/v1/admin/audit?sub=tester&limit=100").await;
    let actions: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"import") && actions.contains(&"delete"), "{actions:?}");
    let del = r.body["data"].as_array().unwrap().iter().find(|e| e["action"] == "delete").unwrap();
    assert_eq!(del["volunteer_ids"], json!([gone["id"]]));
    // pages, and the time window
    let p1 = app.get("/v1/admin/audit?sub=tester&limit=2").await;
    assert_eq!(p1.body["data"].as_array().unwrap().len(), 2);
    let cursor = p1.body["next_cursor"].as_str().expect("a next page");
    let p2 = app.get(&format!("/v1/admin/audit?sub=tester&limit=2&cursor={cursor}")).await;
    assert_ne!(p1.body["data"][0]["id"], p2.body["data"][0]["id"]);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = app.get(&format!("/v1/admin/audit?from={}", urlencode(&future))).await;
    assert_eq!(r.body["data"], json!([]));
    let r = app.get(&format!("/v1/admin/audit?to={}&volunteer_id={va}", urlencode(&future))).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 4);
    // only administrators read it, and bad filters are refused
    as_token(&app, &contacts, Method::GET, "/v1/admin/audit", None).await.problem(403);
    app.get("/v1/admin/audit?volunteer_id=nope").await.problem(400);
    app.get("/v1/admin/audit?who=x").await.problem(400);
    let metrics = app.state.metrics.render();
    assert!(metrics.contains("muster_audit_failures_total 0"), "no entry lost");
}

/// A property: whatever a confined token asks (random routes, filters, ids of both
/// campaigns, batch GETs), no answer names a row or an email of the other campaign.
async fn no_response_to_a_confined_token_names_another_campaign(app: TestApp) {
    use rand::{Rng, SeedableRng};
    let w = world(&app).await;
    let tok = confined("prop-a", "read contacts", &[&w.a["id"]]);
    let foreign = w.foreign_to_a();
    let all_ids: Vec<String> =
        [&w.a, &w.b, &w.vol_a, &w.vol_b, &w.vol_none, &w.event_a, &w.event_b, &w.att_a, &w.att_b, &w.att_cross]
            .iter()
            .map(|v| World::id(v).to_owned())
            .collect();
    let seed: u64 =
        std::env::var("MUSTER_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let collections = ["candidates", "volunteers", "events", "attendances"];
    let filters = ["candidate_id", "event_id", "volunteer_id", "ids"];
    for case in 0..150 {
        let pick = |rng: &mut rand::rngs::StdRng| all_ids[rng.random_range(0..all_ids.len())].clone();
        let c = collections[rng.random_range(0..collections.len())];
        let path = match rng.random_range(0..5) {
            0 => format!("/v1/{c}/{}", pick(&mut rng)),
            1 => format!("/v1/{c}"),
            2 => {
                let f = filters[rng.random_range(0..filters.len())];
                let v = if f == "ids" { format!("{},{}", pick(&mut rng), pick(&mut rng)) } else { pick(&mut rng) };
                format!("/v1/{c}?{f}={v}")
            }
            3 => format!("/v1/events/{}/attendances", pick(&mut rng)),
            _ => match rng.random_range(0..2) {
                0 => format!("/v1/volunteers/{}/attendances", pick(&mut rng)),
                _ => format!("/v1/candidates/{}/events", pick(&mut rng)),
            },
        };
        let r = as_token(&app, &tok, Method::GET, &path, None).await;
        assert!(matches!(r.status.as_u16(), 200 | 400 | 404), "case {case} (seed {seed}) {path}: {}", r.status);
        let text = r.body.to_string();
        // a 404 names no row; `missing` echoes back ids the caller sent, which is no leak
        let shown = if let Some(data) = r.body.get("data") {
            data.to_string()
        } else if r.status == 200 {
            text
        } else {
            String::new()
        };
        for f in &foreign {
            assert!(!shown.contains(f.as_str()), "case {case} (seed {seed}) {path} shows {f}: {shown}");
        }
    }
}
