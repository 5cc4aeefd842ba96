//! Leaving nothing behind. After every run that may write: the rows in the suite's ledger,
//! newest first (so attendances go before their events and volunteers, events before their
//! candidates), then whatever still carries this run's mark (rows the suite could not
//! record: an import, a create cut off by Ctrl-C). A full run also sweeps marked rows of
//! runs older than [`crate::Options::sweep_after`], which interrupted or killed runs left.
//!
//! Only marked rows are deleted: a candidate is the suite's when its office is
//! [`E2E_OFFICE`] and its district starts with `e2e-`; a volunteer when it has the tag
//! [`E2E_TAG`]; an event when its candidate is the suite's; a flag or a rate-limit
//! override when its key or subject starts with `e2e-`. A row of anyone else that refers
//! to one of the suite's rows keeps it in place (a 409), and the cleanup check says so.
//!
//! Client error reports and the flags' audit trail are append-only logs with their own
//! retention; the reports the suite sends carry its mark, the rest is left to retention.

use crate::report::Outcome;
use crate::suite::{Created, Resp, Suite};
use serde_json::Value;
use std::time::Duration;

/// The office of every candidate the suite creates.
pub const E2E_OFFICE: &str = "E2E suite";
/// The tag every volunteer the suite creates carries (besides its run's mark).
pub const E2E_TAG: &str = "e2e";
/// At most this many rows are swept per kind in one run, so a sweep stays quick.
const SWEEP_MAX: usize = 1000;

/// Deletes what this run wrote; `sweep` also deletes leftovers older than `age`.
pub(crate) async fn after_run(s: &mut Suite, sweep: bool, age: Duration) {
    s.area("cleanup");
    let mut left: Vec<String> = Vec::new();
    let created = std::mem::take(&mut s.created);
    for item in created.iter().rev() {
        let gone = match item {
            Created::Row("candidates", id) => purge_candidate(s, id).await,
            Created::Row("events", id) => purge_event(s, id).await,
            Created::Row("volunteers", id) => purge_volunteer(s, id).await,
            Created::Row(collection, id) => deleted(s.remove(&format!("/v1/{collection}/{id}")).await),
            Created::Flag(key) => deleted(s.remove(&format!("/v1/admin/flags/{key}")).await),
            Created::RateLimit(subject) => deleted(s.remove(&format!("/v1/admin/rate-limits/{subject}")).await),
        };
        if !gone {
            left.push(describe(item));
        }
    }
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::hours(1));
    let mark = s.mark.clone();
    // this run's marked rows, and with `sweep` older runs' too
    let mine = |row: &Value| row_mark(row).is_some_and(|m| m.starts_with(mark.as_str()));
    let stale = |row: &Value| sweep && created_before(row, cutoff);
    for v in marked(s, &format!("/v1/volunteers?tag={E2E_TAG}&limit=200")).await {
        if (mine(&v) || stale(&v)) && !purge_volunteer(s, v["id"].as_str().unwrap_or("")).await && mine(&v) {
            left.push(format!("volunteer {}", v["id"]));
        }
    }
    let office = E2E_OFFICE.replace(' ', "%20");
    for c in marked(s, &format!("/v1/candidates?office={office}&limit=200")).await {
        if row_mark(&c).is_none() {
            continue;
        }
        if (mine(&c) || stale(&c)) && !purge_candidate(s, c["id"].as_str().unwrap_or("")).await && mine(&c) {
            left.push(format!("candidate {}", c["id"]));
        }
    }
    if sweep {
        sweep_admin(s, cutoff).await;
    }
    // a smoke run stays within its ten checks unless something was left behind
    if !left.is_empty() {
        s.record(
            "the run's data is deleted",
            "cleanup",
            Outcome::Fail,
            Some(format!("could not delete: {}", left.join(", "))),
        );
    } else if sweep {
        s.record("the run's data is deleted", "cleanup", Outcome::Pass, None);
    }
}

fn deleted(status: Option<u16>) -> bool {
    matches!(status, Some(204 | 404))
}

fn describe(item: &Created) -> String {
    match item {
        Created::Row(c, id) => format!("{} {id}", c.trim_end_matches('s')),
        Created::Flag(k) => format!("flag {k}"),
        Created::RateLimit(s) => format!("rate limit of {s}"),
    }
}

/// The run mark of a row the suite wrote: a candidate's district, a volunteer's other tag.
fn row_mark(row: &Value) -> Option<String> {
    if let Some(d) = row["district"].as_str().filter(|d| d.starts_with("e2e-")) {
        return Some(d.to_owned());
    }
    row["tags"].as_array()?.iter().filter_map(Value::as_str).find(|t| t.starts_with("e2e-")).map(str::to_owned)
}

fn created_before(row: &Value, cutoff: chrono::DateTime<chrono::Utc>) -> bool {
    row["created_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t < cutoff)
}

/// Every row of a list, following cursors, up to [`SWEEP_MAX`].
async fn marked(s: &mut Suite, first: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut path = first.to_owned();
    while rows.len() < SWEEP_MAX {
        let Some(page) = s.fetch(&path).await.filter(|r| r.status == 200) else { break };
        rows.extend(page.data().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(c) => path = format!("{first}&cursor={c}"),
            None => break,
        }
    }
    rows
}

async fn ids_at(s: &mut Suite, path: &str) -> Vec<String> {
    marked(s, path).await.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect()
}

async fn purge_attendances_at(s: &mut Suite, path: &str) {
    for a in ids_at(s, path).await {
        s.remove(&format!("/v1/attendances/{a}")).await;
    }
}

async fn purge_event(s: &mut Suite, id: &str) -> bool {
    purge_attendances_at(s, &format!("/v1/events/{id}/attendances?limit=200")).await;
    deleted(s.remove(&format!("/v1/events/{id}")).await)
}

async fn purge_volunteer(s: &mut Suite, id: &str) -> bool {
    purge_attendances_at(s, &format!("/v1/volunteers/{id}/attendances?limit=200")).await;
    deleted(s.remove(&format!("/v1/volunteers/{id}")).await)
}

/// A candidate with its events and the suite's volunteers who signed up for it.
async fn purge_candidate(s: &mut Suite, id: &str) -> bool {
    for e in ids_at(s, &format!("/v1/candidates/{id}/events?limit=200")).await {
        purge_event(s, &e).await;
    }
    for v in marked(s, &format!("/v1/volunteers?candidate_id={id}&tag={E2E_TAG}&limit=200")).await {
        if let Some(v) = v["id"].as_str() {
            purge_volunteer(s, v).await;
        }
    }
    deleted(s.remove(&format!("/v1/candidates/{id}")).await)
}

/// Flags and rate-limit overrides of older runs.
async fn sweep_admin(s: &mut Suite, cutoff: chrono::DateTime<chrono::Utc>) {
    let old = |r: &Value, key: &str| {
        r[key].as_str().is_some_and(|k| k.starts_with("e2e-"))
            && r["updated_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t < cutoff)
    };
    let flags: Vec<String> = marked(s, "/v1/admin/flags?limit=200")
        .await
        .iter()
        .filter(|f| old(f, "key"))
        .filter_map(|f| f["key"].as_str().map(str::to_owned))
        .collect();
    for key in flags {
        s.remove(&format!("/v1/admin/flags/{key}")).await;
    }
    let quotas: Option<Resp> = s.fetch("/v1/admin/rate-limits").await;
    let subjects: Vec<String> = quotas
        .iter()
        .flat_map(|r| r.data().iter())
        .filter(|q| old(q, "subject"))
        .filter_map(|q| q["subject"].as_str().map(str::to_owned))
        .collect();
    for subject in subjects {
        s.remove(&format!("/v1/admin/rate-limits/{subject}")).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marks_are_read_from_district_or_tags() {
        assert_eq!(row_mark(&json!({"district": "e2e-20261202t1-ab"})).as_deref(), Some("e2e-20261202t1-ab"));
        assert_eq!(row_mark(&json!({"tags": ["e2e", "e2e-r1"]})).as_deref(), Some("e2e-r1"));
        assert_eq!(row_mark(&json!({"district": "Ward 3", "tags": ["e2e"]})), None);
    }

    #[test]
    fn age_is_read_from_created_at() {
        let cutoff = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").unwrap().to_utc();
        assert!(created_before(&json!({"created_at": "2026-12-02T08:59:59Z"}), cutoff));
        assert!(!created_before(&json!({"created_at": "2026-12-02T10:00:01Z"}), cutoff));
        assert!(!created_before(&json!({}), cutoff));
    }
}
