//! The checks, one module per area of the API, run in the order their data needs:
//! candidates before the volunteers and events that name them, those before attendances.
//! Each area calls as its own subject when tokens are minted, so no area spends another's
//! rate budget. [`smoke`] is the short list a deploy gate runs.

mod admin;
mod attendances;
mod candidates;
mod events;
mod flags;
mod ops;
mod resource;
mod volunteers;

use crate::Options;
use crate::suite::{Resp, Suite};
use serde_json::Value;

pub(crate) use ops::smoke;

/// The whole suite, or the smoke subset.
pub(crate) async fn all(s: &mut Suite, opts: &Options) {
    if opts.smoke {
        smoke(s).await;
        return;
    }
    ops::run(s).await;
    ops::auth(s).await;
    let candidate = candidates::run(s).await;
    let vols = volunteers::run(s, &candidate).await;
    let events = events::run(s, &candidate).await;
    attendances::run(s, &events, &vols).await;
    flags::run(s).await;
    admin::run(s).await;
    if opts.include_rate_limit {
        ops::rate_limit(s).await;
    } else {
        s.skip("an exhausted budget answers 429", "GET /v1/flags", 429, "needs --include-rate-limit");
    }
}

/// A random id no row has.
pub(crate) fn absent_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The created row's `Location` is `prefix` + its id, and it has an ETag.
pub(crate) fn located(prefix: &'static str) -> impl Fn(&Resp) -> Result<(), String> + Send + Sync {
    move |r| {
        let id = r.id().ok_or("the body has no id")?;
        let want = format!("{prefix}{id}");
        match r.header("location") {
            Some(l) if l == want => {}
            other => return Err(format!("Location is {other:?}, expected {want:?}")),
        }
        if r.header("etag").is_none() {
            return Err("no ETag".into());
        }
        Ok(())
    }
}

/// The body's `field` equals `want`.
pub(crate) fn field_is(field: &'static str, want: Value) -> impl Fn(&Resp) -> Result<(), String> + Send + Sync {
    move |r| {
        let got = r.body.pointer(field).unwrap_or(&Value::Null);
        if *got == want { Ok(()) } else { Err(format!("{field} is {got}, expected {want}")) }
    }
}

/// The body's `id` is `want`.
pub(crate) fn id_is(want: &Option<String>) -> impl Fn(&Resp) -> Result<(), String> + Send + Sync + use<> {
    let want = want.clone();
    move |r| if r.id() == want { Ok(()) } else { Err(format!("id is {:?}, expected {want:?}", r.id())) }
}

/// A list page holding exactly `n` rows, with or without a `next_cursor`.
pub(crate) fn page(n: usize, more: bool) -> impl Fn(&Resp) -> Result<(), String> + Send + Sync {
    move |r| {
        if !r.body["data"].is_array() {
            return Err(format!("no data array: {}", r.snippet()));
        }
        if r.data().len() != n {
            return Err(format!("{} rows, expected {n}", r.data().len()));
        }
        match (r.body["next_cursor"].as_str(), more, r.body.get("next_cursor")) {
            (_, _, None) => Err("no next_cursor field".into()),
            (Some(_), true, _) | (None, false, _) => Ok(()),
            (Some(_), false, _) => Err("a next_cursor on what should be the last page".into()),
            (None, true, _) => Err("no next_cursor where a next page was expected".into()),
        }
    }
}

/// A list whose rows include the id `want` (and, with `only`, nothing else).
pub(crate) fn lists(want: &Option<String>, only: bool) -> impl Fn(&Resp) -> Result<(), String> + Send + Sync + use<> {
    let want = want.clone().unwrap_or_default();
    move |r| {
        let ids = r.ids();
        if !ids.contains(&want) {
            return Err(format!("{want} is not in the list ({} rows)", ids.len()));
        }
        if only && ids.len() != 1 {
            return Err(format!("{} rows, expected only {want}", ids.len()));
        }
        Ok(())
    }
}

/// The response carries this header.
pub(crate) fn has_header(name: &'static str) -> impl Fn(&Resp) -> Result<(), String> + Send + Sync {
    move |r| if r.header(name).is_some() { Ok(()) } else { Err(format!("no {name} header")) }
}

/// The RateLimit-Policy and RateLimit headers every `/v1` answer carries.
pub(crate) fn rate_headers(r: &Resp) -> Result<(), String> {
    for h in ["ratelimit-policy", "ratelimit"] {
        if r.header(h).is_none() {
            return Err(format!("no {h} header"));
        }
    }
    Ok(())
}

/// A batch answer whose items have these statuses, in order.
pub(crate) fn batch_statuses(want: &'static [u16]) -> impl Fn(&Resp) -> Result<(), String> + Send + Sync {
    move |r| {
        let got: Vec<u64> =
            r.body["results"].as_array().into_iter().flatten().filter_map(|x| x["status"].as_u64()).collect();
        let want: Vec<u64> = want.iter().map(|s| u64::from(*s)).collect();
        if got == want { Ok(()) } else { Err(format!("item statuses {got:?}, expected {want:?}")) }
    }
}

/// The `next_cursor` of a list answer.
pub(crate) fn next_cursor(r: &Option<Resp>) -> Option<String> {
    r.as_ref().and_then(|r| r.body["next_cursor"].as_str()).map(str::to_owned)
}

/// The first id of a list answer.
pub(crate) fn first_id(r: &Option<Resp>) -> Option<String> {
    r.as_ref().and_then(|r| r.ids().into_iter().next())
}

/// A query string from pairs, each value encoded.
pub(crate) fn qs(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("string pairs encode")
}
