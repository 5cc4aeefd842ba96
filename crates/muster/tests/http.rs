//! The HTTP contract, end to end through the real server, on SQLite and on PostgreSQL.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;

on_both_backends!(
    crud_round_trip,
    conditional_requests,
    malformed_input_gets_problems,
    validation_names_every_field,
    references_and_conflicts,
    attendance_rules,
    related_routes,
    idempotent_posts,
    pagination_and_filters,
    operational_endpoints,
    concurrent_registrations_over_http,
    a_retry_after_a_lost_response_gets_the_first_write,
);

async fn crud_round_trip(app: TestApp) {
    let r = app.post("/v1/candidates", &json!({"name": "Maria Lopez", "office": "Mayor", "party": "Green"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), Some(format!("/v1/candidates/{id}").as_str()));
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(r.body["status"], "active");
    for f in ["created_at", "updated_at"] {
        assert!(r.body[f].as_str().unwrap().ends_with('Z'), "{f} is RFC 3339 UTC: {}", r.body[f]);
    }
    let got = app.get(&format!("/v1/candidates/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, r.body);
    let p = app.patch(&format!("/v1/candidates/{id}"), &json!({"party": null, "status": "won"})).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!((p.body["party"].clone(), p.body["status"].clone()), (Value::Null, json!("won")));
    assert_eq!(p.header("etag"), Some("\"v2\""));
    let list = app.get("/v1/candidates").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["next_cursor"], Value::Null);
    let d = app.delete(&format!("/v1/candidates/{id}")).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/candidates/{id}")).await.problem(404);
    app.delete(&format!("/v1/candidates/{id}")).await.problem(404);
}

async fn conditional_requests(app: TestApp) {
    let c = app.candidate().await;
    let path = format!("/v1/candidates/{}", c["id"].as_str().unwrap());
    let r = app.send(Method::GET, &path, None, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let body = json!({"office": "Governor"});
    app.send(Method::PATCH, &path, Some(&body), &[("if-match", "\"v9\"")]).await.problem(412);
    app.send(Method::PATCH, &path, Some(&body), &[("if-match", "W/\"v1\"")]).await.problem(412);
    let ok = app.send(Method::PATCH, &path, Some(&body), &[("if-match", "\"v1\"")]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let r = app.send(Method::GET, &path, None, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(r.status, StatusCode::OK, "a changed row is sent again");
    app.send(Method::DELETE, &path, None, &[("if-match", "\"v1\"")]).await.problem(412);
    let d = app.send(Method::DELETE, &path, None, &[("if-match", "\"v2\"")]).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
}

async fn malformed_input_gets_problems(app: TestApp) {
    let url = format!("{}/v1/candidates", app.base);
    let raw = |body: &'static str, ct: &'static str| {
        app.client.post(&url).bearer_auth(&app.token).header("content-type", ct).body(body).send()
    };
    let to_resp = |r: reqwest::Response| async move {
        let status = r.status();
        let headers = r.headers().clone();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        support::Resp { status, headers, body }
    };
    to_resp(raw("{\"name\": ", "application/json").await.unwrap()).await.problem(400);
    to_resp(raw("{\"name\": \"x\"}", "text/plain").await.unwrap()).await.problem(415);
    to_resp(raw("", "application/json").await.unwrap()).await.problem(400);
    let arr = to_resp(raw("[1, 2]", "application/json").await.unwrap()).await;
    arr.problem(422);
    // announce a 2 MiB body and send none of it: the limit is enforced before reading
    let head = format!(
        "POST /v1/candidates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.token,
        2 * 1024 * 1024
    );
    let mut conn = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut conn, head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    app.get("/v1/nothing-here").await.problem(404);
    app.get("/nowhere").await.problem(404);
    let m = app.send(Method::PUT, "/v1/candidates", Some(&json!({})), &[]).await;
    m.problem(405);
    app.get("/v1/candidates/not-a-uuid").await.problem(404);
    let q = app.get("/v1/candidates?limit=0&colour=red&status=winning").await;
    q.problem(400);
    assert_eq!(q.fields(), ["colour", "status", "limit"]);
    app.get("/v1/candidates?cursor=garbage").await.problem(400);
    app.get("/v1/events?starts_after=tomorrow").await.problem(400);
    app.get("/v1/volunteers?candidate_id=1").await.problem(400);
}

async fn validation_names_every_field(app: TestApp) {
    let r = app
        .post(
            "/v1/volunteers",
            &json!({"first_name": "", "email": "nope", "phone": "12", "zip_code": "1",
                                         "favourite_colour": "red", "id": "x"}),
        )
        .await;
    r.problem(422);
    let mut fields = r.fields();
    fields.sort();
    assert_eq!(fields, ["email", "favourite_colour", "first_name", "id", "last_name", "phone", "zip_code"]);
    let c = app.candidate().await;
    let e = app
        .post(
            "/v1/events",
            &json!({"candidate_id": c["id"], "title": "T", "event_type": "party",
            "starts_at": "2026-11-07T17:00:00Z", "ends_at": "2026-11-07T14:00:00Z", "capacity": -3}),
        )
        .await;
    e.problem(422);
    let mut fields = e.fields();
    fields.sort();
    assert_eq!(fields, ["capacity", "ends_at", "event_type"]);
    let ev = app.event(&c["id"], None).await;
    let p = app
        .patch(&format!("/v1/events/{}", ev["id"].as_str().unwrap()), &json!({"starts_at": "2026-11-08T00:00:00Z"}))
        .await;
    p.problem(422);
    assert_eq!(p.fields(), ["ends_at"]);
    let v = app
        .create(
            "volunteers",
            json!({"first_name": "A", "last_name": "B", "email": "x@example.org",
                                             "phone": "(415) 555-0132", "zip_code": "021394307"}),
        )
        .await;
    assert_eq!(v["phone"], "+14155550132");
    assert_eq!(v["zip_code"], "02139-4307");
}

async fn references_and_conflicts(app: TestApp) {
    let ghost = "0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d";
    let r = app
        .post(
            "/v1/volunteers",
            &json!({"first_name": "A", "last_name": "B", "email": "a@example.org",
                                               "candidate_id": ghost}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.fields(), ["candidate_id"]);
    app.volunteer("dup@example.org").await;
    let d = app.post("/v1/volunteers", &json!({"first_name": "A", "last_name": "B", "email": "DUP@Example.org"})).await;
    assert!(d.problem(409)["detail"].as_str().unwrap().contains("email"));
    let c = app.candidate().await;
    app.event(&c["id"], None).await;
    let del = app.delete(&format!("/v1/candidates/{}", c["id"].as_str().unwrap())).await;
    assert!(del.problem(409)["detail"].as_str().unwrap().contains("events"));
}

async fn attendance_rules(app: TestApp) {
    let c = app.candidate().await;
    let e = app.event(&c["id"], Some(1)).await;
    let v1 = app.volunteer("one@example.org").await;
    let v2 = app.volunteer("two@example.org").await;
    let a1 = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v1["id"]})).await;
    let a2 = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v2["id"]})).await;
    assert_eq!((a1["status"].as_str(), a2["status"].as_str()), (Some("registered"), Some("waitlisted")));
    let again = app.post("/v1/attendances", &json!({"event_id": e["id"], "volunteer_id": v2["id"]})).await;
    again.problem(409);
    let chosen = app
        .post("/v1/attendances", &json!({"event_id": e["id"], "volunteer_id": v2["id"], "status": "registered"}))
        .await;
    assert_eq!(chosen.problem(422)["errors"][0]["field"], "status");
    let a2_path = format!("/v1/attendances/{}", a2["id"].as_str().unwrap());
    app.post(&format!("{a2_path}/check-in"), &json!({})).await.problem(409);
    app.patch(&a2_path, &json!({"status": "registered"})).await.problem(409);
    let cancel =
        app.patch(&format!("/v1/attendances/{}", a1["id"].as_str().unwrap()), &json!({"status": "cancelled"})).await;
    assert_eq!(cancel.body["status"], "cancelled");
    assert_eq!(app.get(&a2_path).await.body["status"], "registered", "the waitlist moved up");
    let checked = app.post(&format!("{a2_path}/check-in"), &json!({})).await;
    assert_eq!(checked.status, StatusCode::OK);
    assert_eq!(checked.body["status"], "attended");
    assert!(checked.body["checked_in_at"].is_string());
    let ghost = app
        .post(
            "/v1/attendances",
            &json!({"event_id": "0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d",
                                                    "volunteer_id": v1["id"]}),
        )
        .await;
    assert_eq!(ghost.problem(422)["errors"][0]["field"], "event_id");
}

async fn related_routes(app: TestApp) {
    let c = app.candidate().await;
    let other = app.candidate().await;
    let e = app.event(&c["id"], None).await;
    app.event(&other["id"], None).await;
    let v = app.volunteer("rel@example.org").await;
    let a = app.create("attendances", json!({"event_id": e["id"], "volunteer_id": v["id"]})).await;
    let cid = c["id"].as_str().unwrap();
    let evs = app.get(&format!("/v1/candidates/{cid}/events")).await;
    assert_eq!(evs.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(evs.body["data"][0]["id"], e["id"]);
    let by_event = app.get(&format!("/v1/events/{}/attendances", e["id"].as_str().unwrap())).await;
    assert_eq!(by_event.body["data"][0]["id"], a["id"]);
    let by_vol = app.get(&format!("/v1/volunteers/{}/attendances?status=registered", v["id"].as_str().unwrap())).await;
    assert_eq!(by_vol.body["data"][0]["id"], a["id"]);
    app.get("/v1/candidates/0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d/events").await.problem(404);
    app.get(&format!("/v1/candidates/{cid}/events?colour=red")).await.problem(400);
}

async fn idempotent_posts(app: TestApp) {
    let body = json!({"first_name": "Ida", "last_name": "Em", "email": "ida@example.org"});
    let key = [("idempotency-key", "signup-42")];
    let first = app.send(Method::POST, "/v1/volunteers", Some(&body), &key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = app.send(Method::POST, "/v1/volunteers", Some(&body), &key).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.body, first.body, "the first response, replayed");
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let list = app.get("/v1/volunteers?email=ida@example.org").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1, "no second row");
    let other = json!({"first_name": "Ida", "last_name": "Other", "email": "ida2@example.org"});
    app.send(Method::POST, "/v1/volunteers", Some(&other), &key).await.problem(422);
    app.send(Method::POST, "/v1/volunteers", Some(&other), &[("idempotency-key", "")]).await.problem(400);
}

async fn pagination_and_filters(app: TestApp) {
    let c = app.candidate().await;
    for i in 0..5 {
        app.create(
            "volunteers",
            json!({"first_name": "P", "last_name": "Q", "email": format!("p{i}@example.org"),
            "candidate_id": c["id"], "zip_code": if i % 2 == 0 { "02139" } else { "94103" },
            "tags": if i == 4 { json!(["Driver"]) } else { json!([]) }}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/volunteers?limit=2".to_owned();
    loop {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        seen.extend(r.body["data"].as_array().unwrap().iter().map(|v| v["email"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(cur) => path = format!("/v1/volunteers?limit=2&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..5).map(|i| format!("p{i}@example.org")).collect::<Vec<_>>());
    let zip = app.get("/v1/volunteers?zip_code=94103").await;
    assert_eq!(zip.body["data"].as_array().unwrap().len(), 2);
    let tag = app.get("/v1/volunteers?tag=driver").await;
    assert_eq!(tag.body["data"][0]["email"], "p4@example.org");
    let email = app.get("/v1/volunteers?email=P3@EXAMPLE.ORG").await;
    assert_eq!(email.body["data"][0]["email"], "p3@example.org");
    app.get("/v1/volunteers?limit=201").await.problem(400);
    let all = app.get("/v1/volunteers").await;
    let (a, b) = (all.body["data"][0]["id"].as_str().unwrap(), all.body["data"][3]["id"].as_str().unwrap());
    let ghost = "0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d";
    let some = app.get(&format!("/v1/volunteers?ids={a},{ghost},{b}")).await;
    assert_eq!(some.body["data"].as_array().unwrap().len(), 2, "{}", some.body);
    assert_eq!(some.body["missing"], json!([ghost]));
    app.get("/v1/volunteers?ids=nope").await.problem(400);
    let too_many = vec![ghost; 201].join(",");
    app.get(&format!("/v1/volunteers?ids={too_many}")).await.problem(400);
    let since = app.get("/v1/volunteers?updated_since=2999-01-01T00:00:00Z").await;
    assert!(since.body["data"].as_array().unwrap().is_empty());
    let evs = app
        .get("/v1/events?event_type=canvass&starts_after=2026-01-01T00:00:00Z&starts_before=2027-01-01T00:00:00Z")
        .await;
    assert_eq!(evs.status, StatusCode::OK);
}

async fn operational_endpoints(app: TestApp) {
    let h = app.send(Method::GET, "/health", None, &[("x-request-id", "trace-me-123")]).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.header("x-request-id"), Some("trace-me-123"));
    assert!(h.header("x-muster-build").is_some());
    let generated = app.get("/v1/candidates").await;
    assert_eq!(generated.header("x-request-id").map(str::len), Some(36));
    let hostile = app.send(Method::GET, "/health", None, &[("x-request-id", "a b\tc")]).await;
    assert_ne!(hostile.header("x-request-id"), Some("a b\tc"));
    // an id that would be masked in the logs is not taken either: logs write ids as they are
    for personal in ["ana@example.org", "call-415-555-0132", "token=abcdef"] {
        let r = app.send(Method::GET, "/health", None, &[("x-request-id", personal)]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-request-id").map(str::len), Some(36), "{personal} was echoed");
    }
    let ready = app.get("/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["checks"]["store"]["status"], "up");
    let v = app.get("/version").await;
    for f in ["version", "build", "commit"] {
        assert!(v.body[f].is_string(), "{f}: {}", v.body);
    }
    let p = app.get("/v1/nope").await;
    assert_eq!(p.body["request_id"].as_str(), p.header("x-request-id"), "problem names the request id");
    // Swagger UI's files, from the packaged release, with this server's headers
    for (file, kind, marker) in
        [("swagger-ui-bundle.js", "text/javascript", "SwaggerUIBundle"), ("swagger-ui.css", "text/css", ".swagger-ui")]
    {
        let r = app.client.get(format!("{}/docs/assets/{file}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        let header = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(header("content-type").starts_with(kind), "{file}: {}", header("content-type"));
        assert_eq!(header("cache-control"), "public, max-age=86400");
        assert!(header("content-security-policy").contains("script-src 'self'"));
        let body = r.text().await.unwrap();
        assert!(body.len() > 100_000 && body.contains(marker), "{file}: {} bytes", body.len());
    }
    assert_eq!(app.get("/docs/assets/swagger-ui.css.map").await.status, StatusCode::NOT_FOUND);
}

async fn concurrent_registrations_over_http(app: TestApp) {
    let c = app.candidate().await;
    let e = app.event(&c["id"], Some(50)).await;
    let mut vols = Vec::new();
    for i in 0..200 {
        vols.push(app.volunteer(&format!("crowd{i}@example.org")).await["id"].clone());
    }
    let app = std::sync::Arc::new(app);
    let tasks = vols.into_iter().map(|v| {
        let app = app.clone();
        let e = e["id"].clone();
        tokio::spawn(async move { app.post("/v1/attendances", &json!({"event_id": e, "volunteer_id": v})).await })
    });
    let mut registered = 0;
    for r in futures::future::join_all(tasks).await {
        let r = r.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        if r.body["status"] == "registered" {
            registered += 1;
        }
    }
    assert_eq!(registered, 50);
}

async fn a_retry_after_a_lost_response_gets_the_first_write(app: TestApp) {
    use muster_store::idempotency::CURRENT;
    use muster_store::{Claim, IdempotencyBegin, IdempotencyKey};
    let body = json!({"first_name": "Lost", "last_name": "Answer", "email": "lost@example.org"});
    let bytes = serde_json::to_vec(&body).unwrap();
    let claim = Claim::new(IdempotencyKey { principal: "tester".into(), key: "crash-1".into() });
    let fp = muster_api::idempotency::fingerprint(&Method::POST, "/v1/volunteers", &bytes);
    // the first attempt was claimed and written, then the server died before answering
    assert_eq!(app.state.store.idempotency_begin(&claim, &fp).await.unwrap(), IdempotencyBegin::Claimed);
    let new = muster_domain::volunteer::NewVolunteer::from_json(body.as_object().unwrap()).unwrap();
    let first = CURRENT.scope(claim, app.state.store.create_volunteer(new)).await.unwrap();
    let retry = app.send(Method::POST, "/v1/volunteers", Some(&body), &[("idempotency-key", "crash-1")]).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.body["id"], first.id.to_string(), "the first write, not a second one");
    assert_eq!(retry.header("location"), Some(format!("/v1/volunteers/{}", first.id).as_str()));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let again = app.send(Method::POST, "/v1/volunteers", Some(&body), &[("idempotency-key", "crash-1")]).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &retry.body), "the recovered answer is kept");
    let rows = app.get("/v1/volunteers?email=lost@example.org").await;
    assert_eq!(rows.body["data"].as_array().unwrap().len(), 1);
}
