//! Feature flags over HTTP, on SQLite and PostgreSQL: the admin API and its audit trail,
//! `GET /v1/flags`, OFREP (checked against the protocol's schema), percentage rollouts
//! that are sticky and monotonic, allow/deny precedence, the two gated behaviours, and
//! changes reaching other instances.

mod support;

use futures::future::join_all;
use muster_api::redis_link::{RedisLink, RedisOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::{Backend, Options, Resp, TestApp, mint, spawn_with};

on_both_backends!(
    admin_api_and_audit_trail,
    only_admins_change_flags,
    flags_for_the_caller,
    rollout_is_even_sticky_and_monotonic,
    allow_deny_and_disabled_precedence,
    ofrep_answers_follow_the_schema,
    csv_import_is_gated,
    compact_lists_ship_dark,
);

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn put_flag(app: &TestApp, key: &str, body: Value) -> Resp {
    app.send(Method::PUT, &format!("/v1/admin/flags/{key}"), Some(&body), &[]).await
}

async fn patch_flag(app: &TestApp, key: &str, body: Value) -> Resp {
    let r = app.patch(&format!("/v1/admin/flags/{key}"), &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r
}

/// `POST /ofrep/v1/evaluate/flags/{key}` for `target` (None: no context), with the
/// suite's admin token unless `token` is given.
async fn ofrep(app: &TestApp, key: &str, target: Option<&str>) -> Resp {
    let body = match target {
        Some(t) => json!({"context": {"targetingKey": t}}),
        None => json!({}),
    };
    app.send(Method::POST, &format!("/ofrep/v1/evaluate/flags/{key}"), Some(&body), &[]).await
}

/// Which of `subjects` get `key` on, asked through OFREP, 100 at a time.
async fn on_for(app: &TestApp, key: &str, subjects: &[String]) -> BTreeSet<String> {
    let mut on = BTreeSet::new();
    for chunk in subjects.chunks(100) {
        let answers = join_all(chunk.iter().map(|s| ofrep(app, key, Some(s)))).await;
        for (s, r) in chunk.iter().zip(answers) {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert_success(&r.body);
            if r.body["value"] == json!(true) {
                on.insert(s.clone());
            }
        }
    }
    on
}

// ---- the OFREP schema (service/openapi.yaml of open-feature/protocol), as assertions ----

const REASONS: &[&str] = &["STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED", "DEFAULT", "UNKNOWN", "ERROR", "CACHED"];

/// `evaluationSuccess`: `key`, `value` (boolean, string, number or object), `reason`,
/// `variant` strings, `metadata` an object of booleans, strings and numbers.
fn assert_success(v: &Value) {
    let o = v.as_object().unwrap_or_else(|| panic!("an object: {v}"));
    assert!(o["key"].is_string(), "key: {v}");
    assert!(
        matches!(o.get("value"), Some(Value::Bool(_) | Value::String(_) | Value::Number(_) | Value::Object(_))),
        "value: {v}"
    );
    assert!(REASONS.contains(&o["reason"].as_str().unwrap_or("")), "reason: {v}");
    assert!(o["variant"].is_string(), "variant: {v}");
    let meta = o["metadata"].as_object().unwrap_or_else(|| panic!("metadata: {v}"));
    assert!(meta.values().all(|m| m.is_boolean() || m.is_string() || m.is_number()), "metadata values: {v}");
    for k in o.keys() {
        assert!(["key", "value", "reason", "variant", "metadata", "cacheable"].contains(&k.as_str()), "extra {k}: {v}");
    }
}

/// `evaluationFailure` / `flagNotFound`: `key` and `errorCode` required, `errorDetails` a string.
fn assert_failure(v: &Value, code: &str) {
    let o = v.as_object().unwrap_or_else(|| panic!("an object: {v}"));
    assert!(o["key"].is_string(), "key: {v}");
    let codes = if code == "FLAG_NOT_FOUND" {
        &["FLAG_NOT_FOUND"][..]
    } else {
        &["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"][..]
    };
    assert!(codes.contains(&o["errorCode"].as_str().unwrap_or("")), "errorCode: {v}");
    assert_eq!(o["errorCode"], code);
    assert!(o.get("errorDetails").is_none_or(Value::is_string), "errorDetails: {v}");
}

/// `bulkEvaluationSuccess`: `flags`, each a success or a failure.
fn assert_bulk(v: &Value) -> Vec<Value> {
    let flags = v["flags"].as_array().unwrap_or_else(|| panic!("flags: {v}")).clone();
    for f in &flags {
        if f.get("errorCode").is_some() {
            assert_failure(f, f["errorCode"].as_str().unwrap());
        } else {
            assert_success(f);
        }
    }
    flags
}

// ---- the tests ----

async fn admin_api_and_audit_trail(app: TestApp) {
    let created = put_flag(
        &app,
        "new-checkout",
        json!({"description": "Checkout v2", "enabled": true, "rollout_percent": 1, "allow": ["qa-1"]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.header("location"), Some("/v1/admin/flags/new-checkout"));
    assert_eq!(created.header("etag"), Some("\"v1\""));
    let f = &created.body;
    assert_eq!(
        (f["key"].clone(), f["rollout_percent"].clone(), f["updated_by"].clone()),
        (json!("new-checkout"), json!(1.0), json!("tester"))
    );
    assert!(f["updated_at"].is_string() && f["created_at"] == f["updated_at"]);

    let got = app.get("/v1/admin/flags/new-checkout").await;
    assert_eq!((got.status, &got.body), (StatusCode::OK, f));
    let again = app.send(Method::GET, "/v1/admin/flags/new-checkout", None, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    // widen by PATCH as another administrator, with optimistic concurrency
    let ops = mint("ops-lead", "admin", 600);
    let stale = app
        .send(
            Method::PATCH,
            "/v1/admin/flags/new-checkout",
            Some(&json!({"rollout_percent": 25})),
            &[("authorization", &bearer(&ops)), ("if-match", "\"v7\"")],
        )
        .await;
    stale.problem(412);
    let widened = app
        .send(
            Method::PATCH,
            "/v1/admin/flags/new-checkout",
            Some(&json!({"rollout_percent": 25.5})),
            &[("authorization", &bearer(&ops)), ("if-match", "\"v1\"")],
        )
        .await;
    assert_eq!(widened.status, StatusCode::OK, "{}", widened.body);
    assert_eq!(
        (widened.body["rollout_percent"].clone(), widened.body["updated_by"].clone()),
        (json!(25.5), json!("ops-lead"))
    );
    assert_eq!(widened.body["allow"], json!(["qa-1"]), "a patch keeps the rest");
    assert_eq!(widened.header("etag"), Some("\"v2\""));

    let replaced = put_flag(&app, "new-checkout", json!({"enabled": false, "rollout_percent": 25.5})).await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(replaced.body["allow"], json!([]), "a put replaces everything");

    let list = app.get("/v1/admin/flags").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["next_cursor"], Value::Null);

    assert_eq!(app.delete("/v1/admin/flags/new-checkout").await.status, StatusCode::NO_CONTENT);
    app.get("/v1/admin/flags/new-checkout").await.problem(404);
    app.delete("/v1/admin/flags/new-checkout").await.problem(404);
    app.patch("/v1/admin/flags/nope", &json!({"enabled": true})).await.problem(404);
    app.get("/v1/admin/flags/not%20a%20key").await.problem(404);

    // the audit trail: who, when, what it was and became; kept after the delete
    let trail = app.get("/v1/admin/flags/new-checkout/changes").await;
    let rows = trail.body["data"].as_array().unwrap();
    let summary: Vec<(&str, &str)> =
        rows.iter().map(|c| (c["action"].as_str().unwrap(), c["actor"].as_str().unwrap())).collect();
    assert_eq!(
        summary,
        [("deleted", "tester"), ("replaced", "tester"), ("updated", "ops-lead"), ("created", "tester")]
    );
    assert_eq!(rows[2]["before"]["rollout_percent"], json!(1.0));
    assert_eq!(rows[2]["after"]["rollout_percent"], json!(25.5));
    assert_eq!(rows[0]["after"], Value::Null);
    assert!(rows.iter().all(|c| c["at"].is_string() && c["key"] == "new-checkout"));
    let paged = app.get("/v1/admin/flag-changes?key=new-checkout&limit=3").await;
    assert_eq!(paged.body["data"].as_array().unwrap().len(), 3);
    assert!(paged.body["next_cursor"].is_string());
    app.get("/v1/admin/flag-changes?colour=red").await.problem(400);

    // bad input: every problem at once; a key that cannot exist
    let bad =
        put_flag(&app, "ok-key", json!({"rollout_percent": 12.345, "allow": "x", "variants": [{"name": "a"}]})).await;
    bad.problem(422);
    let mut fields = bad.fields();
    fields.sort();
    assert_eq!(fields, ["allow", "enabled", "rollout_percent", "variants"]);
    let bad_key = put_flag(&app, "bad key!", json!({"enabled": true, "rollout_percent": 5})).await;
    bad_key.problem(422);
    assert_eq!(bad_key.fields(), ["key"]);
}

async fn only_admins_change_flags(app: TestApp) {
    put_flag(&app, "f", json!({"enabled": true, "rollout_percent": 100})).await;
    let read = mint("reader", "read", 600);
    let write = mint("writer", "read write", 600);
    let body = json!({"enabled": false, "rollout_percent": 0});
    for token in [&read, &write] {
        let auth = bearer(token);
        let h = [("authorization", auth.as_str())];
        for (method, path) in [
            (Method::PUT, "/v1/admin/flags/f"),
            (Method::PATCH, "/v1/admin/flags/f"),
            (Method::DELETE, "/v1/admin/flags/f"),
            (Method::GET, "/v1/admin/flags"),
            (Method::GET, "/v1/admin/flags/f"),
            (Method::GET, "/v1/admin/flags/f/changes"),
            (Method::GET, "/v1/admin/flag-changes"),
        ] {
            let r = app.send(method.clone(), path, Some(&body).filter(|_| method != Method::GET), &h).await;
            assert!(r.problem(403)["detail"].as_str().unwrap().contains("`admin`"), "{method} {path}");
        }
        // reading flags as they apply to oneself needs only `read`
        assert_eq!(app.send(Method::GET, "/v1/flags", None, &h).await.status, StatusCode::OK);
    }
    let none = app.send(Method::PUT, "/v1/admin/flags/f", Some(&body), &[("authorization", "")]).await;
    none.problem(401);
    let f = app.get("/v1/admin/flags/f").await;
    assert_eq!((f.body["version"].clone(), f.body["enabled"].clone()), (json!(1), json!(true)), "nothing changed");
    assert_eq!(app.get("/v1/admin/flag-changes").await.body["data"].as_array().unwrap().len(), 1);
}

async fn get_as(app: &TestApp, path: &str, token: &str) -> Resp {
    app.send(Method::GET, path, None, &[("authorization", &bearer(token))]).await
}

async fn flags_for_the_caller(app: TestApp) {
    let alice_token = mint("alice", "read", 600);
    let alice = bearer(&alice_token);
    let before = get_as(&app, "/v1/flags", &alice_token).await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(before.body["subject"], "alice");
    let flags = before.body["flags"].as_array().unwrap();
    let by_key = |flags: &[Value], k: &str| flags.iter().find(|f| f["key"] == k).cloned().unwrap();
    // the gated features exist at their defaults before anyone stores them
    assert_eq!(by_key(flags, "csv-import")["value"], json!(true));
    assert_eq!(by_key(flags, "list-compact")["value"], json!(false));
    assert_eq!(by_key(flags, "list-compact")["reason"], "DEFAULT");
    let tag = before.header("etag").unwrap().to_owned();
    let unchanged =
        app.send(Method::GET, "/v1/flags", None, &[("authorization", &alice), ("if-none-match", &tag)]).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);

    put_flag(&app, "beta", json!({"enabled": true, "rollout_percent": 0, "allow": ["alice"]})).await;
    put_flag(
        &app,
        "theme",
        json!({"enabled": true, "rollout_percent": 100, "off_variant": "classic",
                                   "variants": [{"name": "dark", "weight": 1}, {"name": "light", "weight": 1}]}),
    )
    .await;
    let after = get_as(&app, "/v1/flags", &alice_token).await;
    assert_ne!(after.header("etag").unwrap(), tag, "the change shows at once on this instance");
    let flags = after.body["flags"].as_array().unwrap();
    let beta = by_key(flags, "beta");
    assert_eq!((beta["value"].clone(), beta["reason"].clone()), (json!(true), json!("TARGETING_MATCH")));
    let theme = by_key(flags, "theme");
    assert!(["dark", "light"].contains(&theme["value"].as_str().unwrap()), "{theme}");
    assert_eq!(theme["value"], theme["variant"]);
    let keys: Vec<&str> = flags.iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["beta", "csv-import", "list-compact", "theme"], "sorted by key");
    // bob is not on the allow list
    let bob = get_as(&app, "/v1/flags", &mint("bob", "read", 600)).await;
    let beta = by_key(bob.body["flags"].as_array().unwrap(), "beta");
    assert_eq!((beta["value"].clone(), beta["reason"].clone()), (json!(false), json!("DEFAULT")));
    let metrics = app.state.metrics.render();
    assert!(metrics.contains(r#"muster_flag_evaluations_total{flag="beta",result="on"}"#), "evaluations are counted");
}

async fn rollout_is_even_sticky_and_monotonic(app: TestApp) {
    let subjects: Vec<String> = (0..2000).map(|i| format!("volunteer-{i}")).collect();
    put_flag(&app, "gradual", json!({"enabled": true, "rollout_percent": 25})).await;
    let at25 = on_for(&app, "gradual", &subjects).await;
    let share = at25.len() as f64 / 20.0;
    assert!((share - 25.0).abs() <= 3.0, "{share:.2} % on at 25 % over 2000 subjects");

    patch_flag(&app, "gradual", json!({"rollout_percent": 50})).await;
    let at50 = on_for(&app, "gradual", &subjects).await;
    let share = at50.len() as f64 / 20.0;
    assert!((share - 50.0).abs() <= 3.0, "{share:.2} % on at 50 %");
    assert!(at25.is_subset(&at50), "widening keeps everyone who had it");

    // and back: the same people as before, not a new draw
    patch_flag(&app, "gradual", json!({"rollout_percent": 25})).await;
    assert_eq!(on_for(&app, "gradual", &subjects).await, at25, "sticky across changes");
    patch_flag(&app, "gradual", json!({"rollout_percent": 0})).await;
    assert!(on_for(&app, "gradual", &subjects[..200]).await.is_empty());
    patch_flag(&app, "gradual", json!({"rollout_percent": 100})).await;
    assert_eq!(on_for(&app, "gradual", &subjects[..200]).await.len(), 200);
}

async fn allow_deny_and_disabled_precedence(app: TestApp) {
    put_flag(
        &app,
        "p",
        json!({"enabled": true, "rollout_percent": 0, "allow": ["amy", "both"], "deny": ["both", "dan"]}),
    )
    .await;
    async fn ask_as(app: &TestApp, who: &str) -> (bool, String) {
        let r = ofrep(app, "p", Some(who)).await;
        assert_success(&r.body);
        (r.body["value"].as_bool().unwrap(), r.body["reason"].as_str().unwrap().to_owned())
    }
    let ask = |who: &'static str| ask_as(&app, who);
    assert_eq!(ask("amy").await, (true, "TARGETING_MATCH".into()), "allowed at 0 %");
    assert_eq!(ask("both").await, (false, "TARGETING_MATCH".into()), "deny wins over allow");
    assert_eq!(ask("zed").await, (false, "DEFAULT".into()));
    patch_flag(&app, "p", json!({"rollout_percent": 100})).await;
    assert_eq!(ask("dan").await, (false, "TARGETING_MATCH".into()), "deny wins over 100 %");
    assert_eq!(ask("zed").await, (true, "STATIC".into()));
    patch_flag(&app, "p", json!({"enabled": false})).await;
    for who in ["amy", "both", "dan", "zed"] {
        assert_eq!(ask(who).await, (false, "DISABLED".into()), "disabled is off for {who}, allow list included");
    }
}

async fn ofrep_answers_follow_the_schema(app: TestApp) {
    put_flag(&app, "bool-flag", json!({"enabled": true, "rollout_percent": 100})).await;
    put_flag(
        &app,
        "theme",
        json!({"enabled": true, "rollout_percent": 50,
        "variants": [{"name": "dark", "weight": 1}, {"name": "light", "weight": 3}]}),
    )
    .await;

    let r = ofrep(&app, "bool-flag", Some("user-1")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_success(&r.body);
    assert_eq!(
        r.body,
        json!({"key": "bool-flag", "value": true, "reason": "STATIC", "variant": "on", "metadata": {"version": 1}})
    );
    // no context: the token's own sub is the subject
    assert_eq!(ofrep(&app, "bool-flag", None).await.body["value"], json!(true));
    for i in 0..20 {
        let r = ofrep(&app, "theme", Some(&format!("user-{i}"))).await;
        assert_success(&r.body);
        let v = r.body["value"].as_str().unwrap();
        assert!(["dark", "light", "off"].contains(&v), "{}", r.body);
        assert_eq!(r.body["variant"], v);
        assert_eq!(r.body["reason"], "SPLIT");
    }

    let missing = ofrep(&app, "no-such-flag", Some("u")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_failure(&missing.body, "FLAG_NOT_FOUND");
    assert_eq!(missing.body["key"], "no-such-flag");
    let metrics = app.state.metrics.render();
    assert!(metrics.contains(r#"muster_flag_evaluations_total{flag="(unknown)",result="not_found"}"#));
    assert!(!metrics.contains("no-such-flag"), "keys clients make up never become label values");
    let weird = ofrep(&app, "not a key", Some("u")).await;
    assert_eq!(weird.status, StatusCode::NOT_FOUND);
    assert_failure(&weird.body, "FLAG_NOT_FOUND");

    async fn raw_as(app: &TestApp, body: &'static str) -> (StatusCode, Value) {
        let r = app
            .client
            .post(format!("{}/ofrep/v1/evaluate/flags/bool-flag", app.base))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    }
    let raw = |body: &'static str| raw_as(&app, body);
    for (body, code) in [
        ("{not json", "PARSE_ERROR"),
        ("[]", "PARSE_ERROR"),
        (r#"{"context": "alice"}"#, "INVALID_CONTEXT"),
        (r#"{"context": {"targetingKey": 42}}"#, "INVALID_CONTEXT"),
        (r#"{"context": {"targetingKey": ""}}"#, "TARGETING_KEY_MISSING"),
    ] {
        let (status, v) = raw(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_failure(&v, code);
    }

    // bulk: every flag, including the server's declared features
    let bulk = app
        .send(Method::POST, "/ofrep/v1/evaluate/flags", Some(&json!({"context": {"targetingKey": "user-1"}})), &[])
        .await;
    assert_eq!(bulk.status, StatusCode::OK);
    let flags = assert_bulk(&bulk.body);
    let keys: Vec<&str> = flags.iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["bool-flag", "csv-import", "list-compact", "theme"]);
    let tag = bulk.header("etag").expect("bulk answers carry an ETag").to_owned();
    let again = app
        .send(
            Method::POST,
            "/ofrep/v1/evaluate/flags",
            Some(&json!({"context": {"targetingKey": "user-1"}})),
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    patch_flag(&app, "bool-flag", json!({"enabled": false})).await;
    let changed = app
        .send(
            Method::POST,
            "/ofrep/v1/evaluate/flags",
            Some(&json!({"context": {"targetingKey": "user-1"}})),
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "a change invalidates the ETag");
    assert_eq!(assert_bulk(&changed.body)[0]["reason"], "DISABLED");
    let bad = app.send(Method::POST, "/ofrep/v1/evaluate/flags", Some(&json!({"context": 1})), &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["errorCode"], "INVALID_CONTEXT");
    assert!(bad.body["errorDetails"].is_string());

    // the gate: a token is needed, with `read`; the RateLimit headers are there
    let anon =
        app.send(Method::POST, "/ofrep/v1/evaluate/flags/bool-flag", Some(&json!({})), &[("authorization", "")]).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    assert!(anon.header("www-authenticate").is_some());
    let write_only = bearer(&mint("w", "write", 600));
    let w = app
        .send(Method::POST, "/ofrep/v1/evaluate/flags/bool-flag", Some(&json!({})), &[("authorization", &write_only)])
        .await;
    assert!(w.problem(403)["detail"].as_str().unwrap().contains("`read`"));
    let reader = bearer(&mint("r", "read", 600));
    let ok = app
        .send(Method::POST, "/ofrep/v1/evaluate/flags/bool-flag", Some(&json!({})), &[("authorization", &reader)])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.header("ratelimit").is_some() && ok.header("ratelimit-policy").is_some());

    let config = app.get("/ofrep/v1/configuration").await;
    assert_eq!(config.body["capabilities"]["flagEvaluation"]["supportedTypes"], json!(["boolean", "string"]));
    assert!(config.body["capabilities"]["cacheInvalidation"]["polling"]["minPollingIntervalMs"].is_number());
}

async fn import_csv(app: &TestApp, token: &str, email: &str) -> Resp {
    let r = app
        .client
        .post(format!("{}/v1/volunteers/import", app.base))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(format!("first_name,last_name,email\nAna,Garcia,{email}\n"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    Resp { status, headers, body }
}

async fn csv_import_is_gated(app: TestApp) {
    let tester = mint("tester", "admin", 600);
    let other = mint("other-admin", "admin", 600);
    // no flag stored: import works as it always did
    assert_eq!(import_csv(&app, &tester, "a@example.org").await.status, StatusCode::OK);
    // the kill switch
    put_flag(&app, "csv-import", json!({"enabled": false, "rollout_percent": 100, "allow": ["tester"]})).await;
    let off = import_csv(&app, &tester, "b@example.org").await;
    assert_eq!(off.body["type"], "/docs/problems#feature-disabled", "{}", off.body);
    off.problem(404);
    assert!(off.body["detail"].as_str().unwrap().contains("csv-import"));
    // narrowed to one caller
    patch_flag(&app, "csv-import", json!({"enabled": true, "rollout_percent": 0})).await;
    assert_eq!(import_csv(&app, &tester, "c@example.org").await.status, StatusCode::OK);
    import_csv(&app, &other, "d@example.org").await.problem(404);
    // deleting the flag restores the default
    app.delete("/v1/admin/flags/csv-import").await;
    assert_eq!(import_csv(&app, &other, "e@example.org").await.status, StatusCode::OK);
}

async fn compact_lists_ship_dark(app: TestApp) {
    let c = app.candidate().await;
    app.volunteer("ana@example.org").await;
    app.volunteer("ben@example.org").await;
    let dark = app.get("/v1/volunteers?format=compact").await;
    assert_eq!(dark.problem(404)["type"], "/docs/problems#feature-disabled");
    app.get("/v1/volunteers?format=table").await.problem(400);
    assert_eq!(app.get("/v1/volunteers?format=objects").await.status, StatusCode::OK);

    put_flag(&app, "list-compact", json!({"enabled": true, "rollout_percent": 0, "allow": ["tester"]})).await;
    let objects = app.get("/v1/volunteers?limit=1").await.body;
    let compact = app.get("/v1/volunteers?format=compact&limit=1").await;
    assert_eq!(compact.status, StatusCode::OK, "{}", compact.body);
    let columns: Vec<&str> = compact.body["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    let row = compact.body["rows"][0].as_array().unwrap();
    assert_eq!(columns.len(), row.len());
    for (name, value) in columns.iter().zip(row) {
        assert_eq!(&objects["data"][0][name], value, "{name}");
    }
    assert_eq!(compact.body["next_cursor"], objects["next_cursor"]);
    assert!(compact.body.get("data").is_none());
    let related = app.get(&format!("/v1/candidates/{}/events?format=compact", c["id"].as_str().unwrap())).await;
    assert_eq!(related.body["rows"], json!([]), "{}", related.body);
    // someone not on the allow list still gets the feature-disabled answer
    let bob = bearer(&mint("bob", "read", 600));
    app.send(Method::GET, "/v1/volunteers?format=compact", None, &[("authorization", &bob)]).await.problem(404);
    assert_eq!(app.send(Method::GET, "/v1/volunteers", None, &[("authorization", &bob)]).await.status, StatusCode::OK);
}

/// Two instances over one store: a change through one reaches the other within about a
/// second through Redis, and within the reload interval without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_other_instances() {
    let store = support::fresh_store(Backend::Postgres).await;
    let prefix = format!("muster-test-flags:{}:", uuid::Uuid::now_v7().simple());
    let link = RedisLink::new("redis://127.0.0.1:6379", RedisOptions::default()).unwrap();
    let a = spawn_with(store.clone(), Options::default()).await;
    let b = spawn_with(store.clone(), Options::default()).await;
    let c = spawn_with(store, Options::default()).await; // no Redis: the reload interval bounds it
    for app in [&a, &b] {
        app.state.flags.use_redis(link.clone(), &prefix);
        app.state.flags.start_watcher();
    }
    c.state.flags.start_watcher();
    /// How long until `app` answers `want` for the flag `fleet`, if within `within`.
    async fn seen(app: &TestApp, want: Value, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if ofrep(app, "fleet", Some("someone")).await.body["value"] == want {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
    put_flag(&a, "fleet", json!({"enabled": true, "rollout_percent": 100})).await;
    // b and c may have loaded before the flag existed; wait until both see it
    assert!(seen(&b, json!(true), Duration::from_secs(3)).await.is_some());
    assert!(seen(&c, json!(true), Duration::from_secs(8)).await.is_some());
    // fresh snapshots on b and c, so neither would reload by age for RELOAD_EVERY
    b.state.flags.reload().await;
    c.state.flags.reload().await;
    patch_flag(&a, "fleet", json!({"enabled": false})).await;
    let via_redis = seen(&b, json!(false), Duration::from_secs(3)).await;
    assert!(via_redis.is_some_and(|t| t < Duration::from_millis(2500)), "through Redis: {via_redis:?}");
    let without = seen(&c, json!(false), Duration::from_secs(9)).await;
    let bound = muster_api::flags::RELOAD_EVERY;
    assert!(
        without.is_some_and(|t| t > Duration::from_millis(2500) && t <= bound + Duration::from_secs(2)),
        "without Redis the reload interval ({bound:?}) bounds staleness: {without:?}"
    );
}
