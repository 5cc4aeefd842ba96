//! Feature flags: the admin API (create, read, change with If-Match, refusals, audit
//! trail, delete), the caller's view, and OpenFeature remote evaluation (OFREP). The flag
//! is the run's own (`e2e-<run id>`), on only for this run's subject.

use super::{field_is, has_header, qs};
use crate::suite::{Call, Resp, Suite, etag_of};
use reqwest::header::{IF_MATCH, IF_NONE_MATCH};
use serde_json::json;

const FLAG: &str = "GET /v1/admin/flags/{key}";

pub(crate) async fn run(s: &mut Suite) {
    s.area("flags");
    let key = Some(s.mark.clone());
    let me = s.subject();
    let spec = json!({"description": "made by the E2E suite; deleted when its run ends", "enabled": true,
                      "rollout_percent": 0, "allow": [me]});
    let made = s
        .check(
            Call::new("create a flag", "PUT /v1/admin/flags/{key}", 201)
                .note("ETag")
                .arg(&key)
                .json(&spec)
                .verify(has_header("etag"))
                .verify(field_is("/version", json!(1))),
        )
        .await;
    let read =
        s.check(Call::new("read the flag", FLAG, 200).arg(&key).needs(&made.as_ref().map(|_| String::new()))).await;
    let etag = etag_of(&read);
    s.check(
        Call::new("read the flag again with If-None-Match", FLAG, 304)
            .arg(&key)
            .needs(&etag)
            .header(IF_NONE_MATCH, etag.clone().unwrap_or_default()),
    )
    .await;
    let changed = s
        .check(
            Call::new("widen the flag with If-Match", "PATCH /v1/admin/flags/{key}", 200)
                .arg(&key)
                .needs(&etag)
                .header(IF_MATCH, etag.clone().unwrap_or_default())
                .json(&json!({"rollout_percent": 0.5}))
                .verify(field_is("/version", json!(2))),
        )
        .await;
    s.check(
        Call::new("a flag change with a stale If-Match is a 412", "PATCH /v1/admin/flags/{key}", 412)
            .arg(&key)
            .needs(&changed.as_ref().map(|_| String::new()))
            .header(IF_MATCH, etag.clone().unwrap_or_default())
            .json(&json!({"rollout_percent": 1}))
            .problem("precondition-failed"),
    )
    .await;
    s.check(
        Call::new("a rollout over 100 % is a 422", "PUT /v1/admin/flags/{key}", 422)
            .arg(&Some(format!("{}-bad", s.mark)))
            .json(&json!({"enabled": true, "rollout_percent": 150}))
            .problem("validation")
            .field_error("rollout_percent"),
    )
    .await;
    let on_for_me = {
        let key = key.clone();
        move |r: &Resp| {
            let on =
                r.body["flags"].as_array().into_iter().flatten().any(|f| f["key"] == json!(key) && f["value"] == true);
            if on { Ok(()) } else { Err("the run's flag is not on for its subject".into()) }
        }
    };
    let exists = changed.as_ref().map(|_| String::new());
    s.check(Call::new("the caller sees its flag on", "GET /v1/flags", 200).needs(&exists).verify(on_for_me.clone()))
        .await;
    let context = json!({"context": {"targetingKey": me}});
    s.check(
        Call::new("OFREP: evaluate the flag", "POST /ofrep/v1/evaluate/flags/{key}", 200)
            .arg(&key)
            .needs(&exists)
            .json(&context)
            .verify(field_is("/value", json!(true)))
            .verify(field_is("/reason", json!("TARGETING_MATCH"))),
    )
    .await;
    s.check(
        Call::new("OFREP: a flag that does not exist", "POST /ofrep/v1/evaluate/flags/{key}", 404)
            .arg(&Some(format!("{}-none", s.mark)))
            .json(&context)
            .verify(field_is("/errorCode", json!("FLAG_NOT_FOUND"))),
    )
    .await;
    s.check(
        Call::new("OFREP: evaluate every flag", "POST /ofrep/v1/evaluate/flags", 200)
            .needs(&exists)
            .json(&context)
            .verify(has_header("etag"))
            .verify(on_for_me),
    )
    .await;
    s.check(
        Call::new("OFREP: what the provider supports", "GET /ofrep/v1/configuration", 200)
            .verify(|r| if r.body["capabilities"].is_object() { Ok(()) } else { Err("no capabilities".into()) }),
    )
    .await;
    let listed = {
        let key = key.clone();
        move |r: &Resp| {
            if r.data().iter().any(|f| f["key"] == json!(key)) {
                Ok(())
            } else {
                Err("the run's flag is not listed".into())
            }
        }
    };
    s.check(Call::new("every flag", "GET /v1/admin/flags", 200).needs(&exists).query("limit=200").verify(listed)).await;
    let two_changes =
        |r: &Resp| if r.data().len() >= 2 { Ok(()) } else { Err(format!("{} changes, expected 2", r.data().len())) };
    s.check(
        Call::new("the flag's audit trail", "GET /v1/admin/flags/{key}/changes", 200)
            .arg(&key)
            .needs(&exists)
            .verify(two_changes),
    )
    .await;
    s.check(
        Call::new("every flag change, for one key", "GET /v1/admin/flag-changes", 200)
            .needs(&exists)
            .query(qs(&[("key", key.as_deref().unwrap_or(""))]))
            .verify(two_changes),
    )
    .await;
    let gone = s
        .check(
            Call::new("delete the flag", "DELETE /v1/admin/flags/{key}", 204)
                .arg(&key)
                .needs(&exists)
                .header(IF_MATCH, etag_of(&changed).unwrap_or_default()),
        )
        .await;
    s.check(
        Call::new("a deleted flag is a 404", FLAG, 404)
            .arg(&key)
            .needs(&gone.map(|_| String::new()))
            .problem("not-found"),
    )
    .await;
}
