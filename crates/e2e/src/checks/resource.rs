//! The checks every resource shares (create, read, 304, 404, two pages, optimistic
//! concurrency, batch, delete), written once and run per resource with its operations.

use super::{absent_id, batch_statuses, first_id, id_is, located, next_cursor, page, qs};
use crate::suite::{Call, Resp, Suite, etag_of};
use reqwest::header::{IF_MATCH, IF_NONE_MATCH};
use serde_json::{Value, json};

/// One resource's operations, as the document names them.
pub(crate) struct Ops {
    /// "candidate", for check names.
    pub noun: &'static str,
    /// "a candidate", "an event".
    pub one: &'static str,
    pub prefix: &'static str,
    pub list: &'static str,
    pub create: &'static str,
    pub get: &'static str,
    pub patch: &'static str,
    pub delete: &'static str,
    pub batch: &'static str,
}

macro_rules! ops {
    ($one:literal, $noun:literal, $c:literal) => {
        Ops {
            noun: $noun,
            one: $one,
            prefix: concat!("/v1/", $c, "/"),
            list: concat!("GET /v1/", $c),
            create: concat!("POST /v1/", $c),
            get: concat!("GET /v1/", $c, "/{id}"),
            patch: concat!("PATCH /v1/", $c, "/{id}"),
            delete: concat!("DELETE /v1/", $c, "/{id}"),
            batch: concat!("POST /v1/", $c, "/batch"),
        }
    };
}

pub(crate) const CANDIDATES: Ops = ops!("a candidate", "candidate", "candidates");
pub(crate) const VOLUNTEERS: Ops = ops!("a volunteer", "volunteer", "volunteers");
pub(crate) const EVENTS: Ops = ops!("an event", "event", "events");
pub(crate) const ATTENDANCES: Ops = ops!("an attendance", "attendance", "attendances");

impl Ops {
    /// A create that must answer 201 with `Location` and an ETag; the new id.
    pub async fn create(&self, s: &mut Suite, name: &str, body: &Value) -> Option<String> {
        let made = s
            .check(Call::new(name, self.create, 201).note("Location, ETag").json(body).verify(located(self.prefix)))
            .await;
        made.as_ref().and_then(Resp::id)
    }

    /// Reading a row: 200 with an ETag, then 304 for that ETag; and 404 for an id no row has.
    /// The ETag read.
    pub async fn reads(&self, s: &mut Suite, id: &Option<String>) -> Option<String> {
        let row = s.check(Call::new(format!("read {}", self.one), self.get, 200).arg(id).verify(id_is(id))).await;
        let etag = etag_of(&row);
        s.check(
            Call::new(format!("read {} again with If-None-Match", self.one), self.get, 304)
                .note("If-None-Match")
                .arg(id)
                .needs(&etag)
                .header(IF_NONE_MATCH, etag.clone().unwrap_or_default()),
        )
        .await;
        s.check(
            Call::new(format!("{} that does not exist is a 404", self.one), self.get, 404)
                .arg(&Some(absent_id()))
                .problem("not-found"),
        )
        .await;
        etag
    }

    /// `op` with `query` matches exactly two rows: page one holds one and a cursor, page two
    /// the other and none. A read-only run cannot know what the target holds: it reads the
    /// unfiltered list and only asks that page two, if any, moves on.
    pub async fn two_pages(&self, s: &mut Suite, what: &str, op: &'static str, parent: &Option<String>, query: &str) {
        let strict = !s.read_only;
        let query = if strict || op.contains("{id}") { query } else { "" };
        let call = |name: String, q: String, more: bool| {
            let c = Call::new(name, op, 200).query(q);
            let c = if strict {
                c.verify(page(1, more))
            } else {
                c.verify(|r| if r.data().len() <= 1 { Ok(()) } else { Err("more rows than limit=1".into()) })
            };
            if op.contains("{id}") { c.arg(parent) } else { c.needs(parent) }
        };
        let sep = if query.is_empty() { "" } else { "&" };
        let first = s.check(call(format!("{what}: page one"), format!("{query}{sep}limit=1"), true)).await;
        let cursor = next_cursor(&first);
        let seen = first_id(&first);
        let q2 = format!("{query}{sep}limit=1&{}", qs(&[("cursor", cursor.as_deref().unwrap_or(""))]));
        s.check(call(format!("{what}: page two"), q2, false).needs(&cursor).verify(move |r| {
            if r.ids().first() == seen.as_ref() { Err("page two repeats page one's row".into()) } else { Ok(()) }
        }))
        .await;
    }

    /// A change with the current ETag (200, a new ETag), then the same change with the old
    /// one (412). The new ETag.
    pub async fn patch(
        &self,
        s: &mut Suite,
        id: &Option<String>,
        etag: &Option<String>,
        body: &Value,
        check: Call,
    ) -> Option<String> {
        let changed = s
            .check(
                check
                    .note("If-Match")
                    .arg(id)
                    .needs(etag)
                    .header(IF_MATCH, etag.clone().unwrap_or_default())
                    .json(body)
                    .verify(move |r| if r.header("etag").is_some() { Ok(()) } else { Err("no ETag".into()) }),
            )
            .await;
        s.check(
            Call::new(format!("changing {} with a stale If-Match is a 412", self.one), self.patch, 412)
                .arg(id)
                .needs(&changed.as_ref().map(|_| String::new()))
                .header(IF_MATCH, etag.clone().unwrap_or_default())
                .json(body)
                .problem("precondition-failed"),
        )
        .await;
        etag_of(&changed)
    }

    /// A batch of items answered one by one with `statuses`.
    pub async fn batch(&self, s: &mut Suite, operations: Vec<Value>, statuses: &'static [u16]) {
        s.check(
            Call::new(format!("{} batch answers per item", self.one), self.batch, 200)
                .json(&json!({"atomic": false, "operations": operations}))
                .verify(batch_statuses(statuses)),
        )
        .await;
    }

    /// An atomic batch refused with `status` as a whole; `written` then lists what it would
    /// have written, which must be nothing.
    pub async fn atomic(
        &self,
        s: &mut Suite,
        operations: Vec<Value>,
        status: u16,
        slug: &'static str,
        written: (&'static str, String),
    ) {
        let n = self.noun;
        let refused = s
            .check(
                Call::new(format!("an atomic {n} batch with a bad item is refused whole"), self.batch, status)
                    .json(&json!({"atomic": true, "operations": operations}))
                    .problem(slug),
            )
            .await;
        s.check(
            Call::new(format!("the refused atomic {n} batch wrote nothing"), written.0, 200)
                .needs(&refused.map(|_| String::new()))
                .query(written.1)
                .verify(page(0, false)),
        )
        .await;
    }

    /// Deleting a row: 204, then it is a 404.
    pub async fn delete(&self, s: &mut Suite, id: &Option<String>) {
        let n = self.noun;
        let gone = s.check(Call::new(format!("delete {}", self.one), self.delete, 204).arg(id)).await;
        s.check(
            Call::new(format!("a deleted {n} is a 404"), self.get, 404)
                .arg(id)
                .needs(&gone.map(|_| String::new()))
                .problem("not-found"),
        )
        .await;
    }

    /// A create refused with 422 naming each of `fields`.
    pub async fn invalid(&self, s: &mut Suite, name: &str, body: &Value, fields: &'static [&'static str]) {
        let mut c = Call::new(name, self.create, 422).json(body).problem("validation");
        for f in fields {
            c = c.field_error(f);
        }
        s.check(c).await;
    }
}
