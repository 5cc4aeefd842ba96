//! Administration: per-caller rate limits (set, list, refuse, remove) and client error
//! reports (send, refuse, read back).

use super::{field_is, qs};
use crate::suite::{Call, Resp, Suite};
use serde_json::json;

const QUOTA: &str = "PUT /v1/admin/rate-limits/{subject}";
const UNQUOTA: &str = "DELETE /v1/admin/rate-limits/{subject}";

pub(crate) async fn run(s: &mut Suite) {
    s.area("admin");
    let subject = Some(format!("{}-quota", s.mark));
    let set = s
        .check(
            Call::new("give a caller its own rate limit", QUOTA, 200)
                .arg(&subject)
                .json(&json!({"rate": "6000/min", "burst": 100}))
                .verify(field_is("/limit", json!(6000)))
                .verify(field_is("/burst", json!(100))),
        )
        .await;
    s.check(
        Call::new("a rate that is not a rate is a 422", QUOTA, 422)
            .arg(&subject)
            .json(&json!({"rate": "lots"}))
            .problem("validation"),
    )
    .await;
    let listed = {
        let subject = subject.clone();
        move |r: &Resp| {
            if r.data().iter().any(|q| q["subject"] == json!(subject)) {
                Ok(())
            } else {
                Err("the override is not listed".into())
            }
        }
    };
    let exists = set.map(|_| String::new());
    s.check(Call::new("callers with their own limit", "GET /v1/admin/rate-limits", 200).needs(&exists).verify(listed))
        .await;
    let gone = s.check(Call::new("back to the default limit", UNQUOTA, 204).arg(&subject).needs(&exists)).await;
    s.check(
        Call::new("removing a limit that is not there is a 404", UNQUOTA, 404)
            .arg(&subject)
            .needs(&gone.map(|_| String::new()))
            .problem("not-found"),
    )
    .await;

    s.area("reports");
    let report = json!({"message": format!("{} synthetic report from the E2E suite", s.mark), "level": "info",
                        "release": s.mark, "url": "https://example.org/e2e"});
    let kept = s
        .check(
            Call::new("report a client error", "POST /v1/client-errors", 202).json(&report).verify(|r| {
                if r.id().is_some() && r.body["received_at"].is_string() { Ok(()) } else { Err(r.snippet()) }
            }),
        )
        .await;
    s.check(
        Call::new("a report without a message is a 422", "POST /v1/client-errors", 422)
            .json(&json!({"level": "info"}))
            .problem("validation")
            .field_error("message"),
    )
    .await;
    let id = kept.as_ref().and_then(Resp::id);
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    s.area("admin");
    s.check(
        Call::new("read client error reports back", "GET /v1/admin/client-errors", 200)
            .needs(&id)
            .query(qs(&[("level", "info"), ("since", &since), ("limit", "200")]))
            .verify(super::lists(&id, false)),
    )
    .await;
}
