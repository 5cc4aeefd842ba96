//! The unauthenticated routes, the refusals of the `/v1` gate (401, 403, 429), and the
//! smoke subset that deploy gates run.

use super::{absent_id, field_is, has_header, located, qs, rate_headers};
use crate::cleanup::E2E_OFFICE;
use crate::suite::{Auth, Call, Resp, Scope, Suite};
use reqwest::header::{HeaderName, IF_MATCH};
use serde_json::json;

pub(crate) async fn run(s: &mut Suite) {
    s.area("ops");
    s.check(Call::new("liveness", "GET /health", 200).verify(field_is("/status", json!("ok")))).await;
    s.check(Call::new("readiness", "GET /ready", 200).verify(ready)).await;
    s.check(Call::new("the build answering", "GET /version", 200).verify(version)).await;
    s.check(Call::new("the OpenAPI document", "GET /openapi.json", 200).verify(|r| {
        let v = r.body["openapi"].as_str().unwrap_or("");
        if v.starts_with("3.") && r.body["paths"].is_object() { Ok(()) } else { Err(format!("openapi is {v:?}")) }
    }))
    .await;
    s.check(Call::new("the API reference page (offline)", "GET /docs", 200).undocumented().verify(|r| {
        let html = r.header("content-type").is_some_and(|c| c.starts_with("text/html"));
        if html && !r.text.contains("//cdn.") { Ok(()) } else { Err("not an HTML page of its own".into()) }
    }))
    .await;
    s.check(
        Call::new("an unknown path is a 404 problem", "GET /v1/no-such-route", 404).undocumented().problem("not-found"),
    )
    .await;
    s.check(
        Call::new("headers over 16 KiB are a 431", "GET /v1/candidates", 431)
            .header(HeaderName::from_static("x-e2e-padding"), "x".repeat(20 * 1024))
            .problem("headers-too-large"),
    )
    .await;
    s.check(
        Call::new("a method the path does not take is a 405 with Allow", "DELETE /health", 405)
            .undocumented()
            .problem("method-not-allowed")
            .verify(has_header("allow")),
    )
    .await;
}

/// 401 for no token, a bad signature and an expired token; 403 for a missing scope.
pub(crate) async fn auth(s: &mut Suite) {
    s.area("auth");
    let challenge = |error: Option<&'static str>| {
        move |r: &Resp| {
            let h = r.header("www-authenticate").unwrap_or("");
            if !h.starts_with("Bearer") {
                return Err(format!("WWW-Authenticate is {h:?}"));
            }
            match error {
                Some(e) if !h.contains(e) => Err(format!("WWW-Authenticate {h:?} does not say {e}")),
                _ => Ok(()),
            }
        }
    };
    s.check(
        Call::new("no token is a 401 with a Bearer challenge", "GET /v1/candidates", 401)
            .auth(Auth::Anonymous)
            .problem("unauthorized")
            .verify(challenge(None))
            .verify(rate_headers),
    )
    .await;
    s.check(
        Call::new("a token with a bad signature is a 401", "GET /v1/candidates", 401)
            .auth(Auth::BadSignature)
            .problem("unauthorized")
            .verify(challenge(Some("invalid_token"))),
    )
    .await;
    s.check(
        Call::new("an expired token is a 401", "GET /v1/candidates", 401)
            .auth(Auth::Expired)
            .problem("unauthorized")
            .verify(challenge(Some("invalid_token"))),
    )
    .await;
    s.check(
        Call::new("a read-only token cannot write: 403 naming `write`", "POST /v1/candidates", 403)
            .auth(Auth::Only(Scope::Read))
            .json(&json!({"name": format!("{} refused", s.mark), "office": E2E_OFFICE, "district": s.mark}))
            .problem("insufficient-scope")
            .verify(|r| names_scope(r, "write")),
    )
    .await;
    s.check(
        Call::new("a write token cannot administer: 403 naming `admin`", "GET /v1/admin/flags", 403)
            .auth(Auth::Only(Scope::Write))
            .problem("insufficient-scope")
            .verify(|r| names_scope(r, "admin")),
    )
    .await;
}

fn names_scope(r: &Resp, scope: &str) -> Result<(), String> {
    let detail = r.body["detail"].as_str().unwrap_or("");
    if detail.contains(&format!("`{scope}`")) {
        Ok(())
    } else {
        Err(format!("detail does not name `{scope}`: {detail}"))
    }
}

fn ready(r: &Resp) -> Result<(), String> {
    match r.body["status"].as_str() {
        Some("ready" | "degraded") => Ok(()),
        other => Err(format!("status is {other:?}")),
    }
}

fn version(r: &Resp) -> Result<(), String> {
    for f in ["version", "build", "commit"] {
        if !r.body[f].is_string() {
            return Err(format!("no `{f}`"));
        }
    }
    Ok(())
}

/// Spends a principal of this run's budget down to a 429 (`--include-rate-limit`).
pub(crate) async fn rate_limit(s: &mut Suite) {
    s.area("ratelimit");
    let first = s.spend("/v1/flags", 1).await;
    let remaining = first
        .as_ref()
        .and_then(|r| r.header("ratelimit"))
        .and_then(|h| h.split(';').find_map(|p| p.trim().strip_prefix("r=")?.parse::<usize>().ok()));
    let Some(remaining) = remaining else {
        s.skip("an exhausted budget answers 429", "GET /v1/flags", 429, "the first answer had no RateLimit r=");
        return;
    };
    if remaining > 10_000 {
        s.skip(
            "an exhausted budget answers 429",
            "GET /v1/flags",
            429,
            format!("the budget ({remaining}) is too large to spend"),
        );
        return;
    }
    s.spend("/v1/flags", remaining).await;
    s.check(
        Call::new("an exhausted budget answers 429", "GET /v1/flags", 429)
            .note("Retry-After")
            .problem("rate-limited")
            .verify(has_header("retry-after"))
            .verify(rate_headers),
    )
    .await;
}

/// At most ten checks, under a second against a local server: the probes, an authorised
/// read, a refusal, and one write's whole life.
pub(crate) async fn smoke(s: &mut Suite) {
    s.area("smoke");
    s.check(Call::new("liveness", "GET /health", 200).verify(field_is("/status", json!("ok")))).await;
    s.check(Call::new("readiness", "GET /ready", 200).verify(ready)).await;
    s.check(Call::new("the build answering", "GET /version", 200).verify(version)).await;
    s.check(Call::new("no token is a 401", "GET /v1/candidates", 401).auth(Auth::Anonymous).problem("unauthorized"))
        .await;
    s.check(Call::new("an authorised read", "GET /v1/candidates", 200).query("limit=1").verify(rate_headers)).await;
    let body = json!({"name": format!("{} smoke", s.mark), "office": E2E_OFFICE, "district": s.mark});
    let made =
        s.check(Call::new("a write", "POST /v1/candidates", 201).json(&body).verify(located("/v1/candidates/"))).await;
    let id = made.as_ref().and_then(Resp::id);
    let read = s.check(Call::new("reading it back", "GET /v1/candidates/{id}", 200).arg(&id)).await;
    let etag = crate::suite::etag_of(&read);
    s.check(
        Call::new("changing it", "PATCH /v1/candidates/{id}", 200)
            .arg(&id)
            .needs(&etag)
            .header(IF_MATCH, etag.clone().unwrap_or_default())
            .json(&json!({"party": "Smoke"}))
            .verify(field_is("/party", json!("Smoke"))),
    )
    .await;
    s.check(Call::new("deleting it", "DELETE /v1/candidates/{id}", 204).arg(&id)).await;
    s.check(Call::new("it is gone", "GET /v1/candidates/{id}", 404).arg(&id).problem("not-found")).await;
}

/// The `Idempotency-Key` header.
pub(crate) fn idempotency_key() -> HeaderName {
    HeaderName::from_static("idempotency-key")
}

/// `?ids=` with one row that exists and one that does not.
pub(crate) fn batch_get(name: &'static str, op: &'static str, id: &Option<String>) -> Call {
    let absent = absent_id();
    let ids = format!("{},{absent}", id.clone().unwrap_or_default());
    Call::new(name, op, 200).needs(id).query(qs(&[("ids", &ids)])).verify(super::lists(id, true)).verify(move |r| {
        if r.body["missing"] == json!([absent]) { Ok(()) } else { Err(format!("missing is {}", r.body["missing"])) }
    })
}
