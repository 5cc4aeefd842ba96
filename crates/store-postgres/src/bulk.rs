//! An import into empty tables (`muster seed` at a million volunteers): `COPY`, with the
//! tables' keys and indexes built once at the end instead of row by row.
//!
//! Maintaining nine B-trees and a GIN index per inserted row, and looking up both parents
//! of every attendance for its foreign keys, is most of the cost of a large insert. Into
//! empty tables the same result comes cheaper: drop the indexes, the primary and unique
//! keys and the foreign keys, `COPY` the rows in (text format), then put every definition
//! back — one sorted build per index and one join per foreign key. The definitions are read
//! from the catalog (`pg_get_indexdef`, `pg_get_constraintdef`) just before they are
//! dropped, so what comes back is exactly what the migrations made, under the same names;
//! CHECK constraints stay and check each row as it arrives. It all happens inside the
//! import's transaction: the DDL holds the tables locked until the commit, so no other
//! session ever sees them without their keys, and a failure anywhere leaves them as they were.

use crate::errors::map_err;
use chrono::{DateTime, Datelike, Timelike, Utc};
use muster_store::{Import, Result};
use sqlx::PgConnection;
use std::io::Write;
use uuid::Uuid;

/// The tables an import fills, parents first.
pub const TABLES: [&str; 4] = ["candidates", "volunteers", "events", "attendances"];

/// Bytes of `COPY` data buffered before they are sent.
const SEND_AT: usize = 1 << 20;

/// A definition to put back: the statement that re-creates it.
struct Saved {
    /// Primary and unique keys first, then plain indexes, then foreign keys (which need
    /// the keys they reference).
    statements: Vec<String>,
    /// What to drop, in an order that works: foreign keys, then keys, then indexes.
    drops: Vec<String>,
}

/// Reads the definitions of the tables' keys, indexes and foreign keys (also those of other
/// tables pointing at them), and drops them.
async fn save_and_drop(conn: &mut PgConnection) -> Result<Saved> {
    // foreign keys from or to the tables; primary and unique keys of the tables
    let constraints: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT k.contype::text, k.conrelid::regclass::text, quote_ident(k.conname), pg_get_constraintdef(k.oid) \
         FROM pg_constraint k \
         WHERE (k.contype IN ('p', 'u') AND k.conrelid = ANY($1::regclass[])) \
            OR (k.contype = 'f' AND (k.conrelid = ANY($1::regclass[]) OR k.confrelid = ANY($1::regclass[]))) \
         ORDER BY k.contype DESC, k.conrelid, k.conname",
    )
    .bind(TABLES)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    // indexes that no key owns
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.oid::regclass::text, pg_get_indexdef(i.oid) \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
         WHERE x.indrelid = ANY($1::regclass[]) \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid AND k.conrelid = x.indrelid \
                           AND k.contype IN ('p', 'u', 'x')) \
         ORDER BY x.indrelid, i.relname",
    )
    .bind(TABLES)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;

    let (foreign, keys): (Vec<_>, Vec<_>) = constraints.into_iter().partition(|c| c.0 == "f");
    let add = |(_, table, name, def): &(String, String, String, String)| {
        format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}")
    };
    let drop =
        |(_, table, name, _): &(String, String, String, String)| format!("ALTER TABLE {table} DROP CONSTRAINT {name}");
    let mut saved = Saved { statements: Vec::new(), drops: Vec::new() };
    saved.drops.extend(foreign.iter().map(drop));
    saved.drops.extend(keys.iter().map(drop));
    saved.drops.extend(indexes.iter().map(|(name, _)| format!("DROP INDEX {name}")));
    saved.statements.extend(keys.iter().map(add));
    saved.statements.extend(indexes.into_iter().map(|(_, def)| def));
    saved.statements.extend(foreign.iter().map(add));
    for statement in &saved.drops {
        sqlx::query(statement).execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(saved)
}

/// Loads `rows` into the empty tables. The caller holds the transaction.
pub async fn load(conn: &mut PgConnection, rows: &Import) -> Result<()> {
    // index builds sort in memory up to this much per build, within this transaction only
    sqlx::query("SET LOCAL maintenance_work_mem = '256MB'").execute(&mut *conn).await.map_err(map_err)?;
    let saved = save_and_drop(conn).await?;
    copy(conn, "candidates", CANDIDATES, &rows.candidates, candidate).await?;
    copy(conn, "volunteers", VOLUNTEERS, &rows.volunteers, volunteer).await?;
    copy(conn, "events", EVENTS, &rows.events, event).await?;
    copy(conn, "attendances", ATTENDANCES, &rows.attendances, attendance).await?;
    for statement in &saved.statements {
        sqlx::query(statement).execute(&mut *conn).await.map_err(map_err)?;
    }
    // the planner's statistics, so the first queries after a seed use the indexes
    sqlx::query(&format!("ANALYZE {}", TABLES.join(", "))).execute(&mut *conn).await.map_err(map_err)?;
    Ok(())
}

const CANDIDATES: &str =
    "id, name, office, district, party, election_date, status, website, version, created_at, updated_at";
const VOLUNTEERS: &str = "id, first_name, last_name, email, email_normalized, phone, zip_code, candidate_id, tags, version, created_at, \
     updated_at";
const EVENTS: &str = "id, candidate_id, title, description, event_type, starts_at, ends_at, timezone, location, \
                      virtual_url, capacity, visibility, status, version, created_at, updated_at";
const ATTENDANCES: &str = "id, event_id, volunteer_id, status, checked_in_at, version, created_at, updated_at";

/// `COPY table (columns) FROM STDIN` of every row, each written by `line`.
async fn copy<T>(
    conn: &mut PgConnection,
    table: &str,
    columns: &str,
    rows: &[T],
    line: fn(&mut Line, &T),
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN")).await.map_err(map_err)?;
    let mut out = Line { buf: Vec::with_capacity(SEND_AT + 4096), first: true, stamp: None };
    for row in rows {
        out.first = true;
        line(&mut out, row);
        out.buf.push(b'\n');
        if out.buf.len() >= SEND_AT {
            let full = std::mem::replace(&mut out.buf, Vec::with_capacity(SEND_AT + 4096));
            if let Err(e) = copy.send(full).await {
                let _ = copy.abort("send failed").await;
                return Err(map_err(e));
            }
        }
    }
    if let Err(e) = copy.send(out.buf).await {
        let _ = copy.abort("send failed").await;
        return Err(map_err(e));
    }
    copy.finish().await.map_err(map_err)?;
    Ok(())
}

/// One line of `COPY` text: fields separated by tabs, `\N` for NULL, backslash escapes.
struct Line {
    buf: Vec<u8>,
    first: bool,
    /// The last timestamp written and its text: most rows share their timestamps.
    stamp: Option<(DateTime<Utc>, [u8; 29])>,
}

impl Line {
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b'\t');
        }
        self.first = false;
    }

    fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
    }

    fn text(&mut self, s: &str) {
        self.sep();
        escape(&mut self.buf, s.as_bytes());
    }

    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    fn uuid(&mut self, id: Uuid) {
        self.sep();
        let mut b = [0u8; 36];
        self.buf.extend_from_slice(id.hyphenated().encode_lower(&mut b).as_bytes());
    }

    fn opt_uuid(&mut self, id: Option<Uuid>) {
        match id {
            Some(id) => self.uuid(id),
            None => self.null(),
        }
    }

    fn int(&mut self, n: impl std::fmt::Display) {
        self.sep();
        write!(self.buf, "{n}").expect("writing to a Vec");
    }

    fn json(&mut self, text: serde_json::Result<Vec<u8>>) {
        self.sep();
        escape(&mut self.buf, &text.expect("rows serialize"));
    }

    /// `2026-05-01 14:00:00.000000+00`.
    fn stamp(&mut self, t: DateTime<Utc>) {
        self.sep();
        if let Some((last, text)) = &self.stamp
            && *last == t
        {
            self.buf.extend_from_slice(text);
            return;
        }
        let mut text = [0u8; 29];
        write!(
            &mut text[..],
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_micros()
        )
        .expect("a year of four digits fits");
        self.buf.extend_from_slice(&text);
        self.stamp = Some((t, text));
    }

    fn opt_stamp(&mut self, t: Option<DateTime<Utc>>) {
        match t {
            Some(t) => self.stamp(t),
            None => self.null(),
        }
    }
}

/// Appends `s` with `COPY` text's escapes for backslash, newline, carriage return and tab.
fn escape(out: &mut Vec<u8>, s: &[u8]) {
    if !s.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r' | b'\t')) {
        out.extend_from_slice(s);
        return;
    }
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

fn candidate(l: &mut Line, c: &muster_domain::candidate::Candidate) {
    l.uuid(c.id);
    l.text(c.name.as_str());
    l.text(c.office.as_str());
    l.opt_text(c.district.as_ref().map(|t| t.as_str()));
    l.opt_text(c.party.as_ref().map(|t| t.as_str()));
    match c.election_date {
        Some(d) => l.int(d.format("%Y-%m-%d")),
        None => l.null(),
    }
    l.text(c.status.as_str());
    l.opt_text(c.website.as_deref());
    l.int(c.version);
    l.stamp(c.created_at);
    l.stamp(c.updated_at);
}

fn volunteer(l: &mut Line, v: &muster_domain::volunteer::Volunteer) {
    l.uuid(v.id);
    l.text(v.first_name.as_str());
    l.text(v.last_name.as_str());
    l.text(v.email.as_str());
    l.text(&v.email.normalized());
    l.opt_text(v.phone.as_ref().map(|p| p.as_str()));
    l.opt_text(v.zip_code.as_ref().map(|z| z.as_str()));
    l.opt_uuid(v.candidate_id);
    l.json(serde_json::to_vec(&v.tags));
    l.int(v.version);
    l.stamp(v.created_at);
    l.stamp(v.updated_at);
}

fn event(l: &mut Line, e: &muster_domain::event::Event) {
    l.uuid(e.id);
    l.uuid(e.candidate_id);
    l.text(e.title.as_str());
    l.opt_text(e.description.as_deref());
    l.text(e.event_type.as_str());
    l.stamp(e.starts_at);
    l.stamp(e.ends_at);
    l.text(e.timezone.as_str());
    match &e.location {
        Some(loc) => l.json(serde_json::to_vec(loc)),
        None => l.null(),
    }
    l.opt_text(e.virtual_url.as_deref());
    match e.capacity {
        Some(c) => l.int(c),
        None => l.null(),
    }
    l.text(e.visibility.as_str());
    l.text(e.status.as_str());
    l.int(e.version);
    l.stamp(e.created_at);
    l.stamp(e.updated_at);
}

fn attendance(l: &mut Line, a: &muster_domain::attendance::Attendance) {
    l.uuid(a.id);
    l.uuid(a.event_id);
    l.uuid(a.volunteer_id);
    l.text(a.status.as_str());
    l.opt_stamp(a.checked_in_at);
    l.int(a.version);
    l.stamp(a.created_at);
    l.stamp(a.updated_at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_line() {
        let mut out = Vec::new();
        escape(&mut out, b"a\tb\\c\nd\re");
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
        let mut l = Line { buf: Vec::new(), first: true, stamp: None };
        let t = DateTime::parse_from_rfc3339("2026-05-01T14:03:09.000042Z").unwrap().to_utc();
        l.stamp(t);
        l.null();
        l.stamp(t);
        assert_eq!(
            String::from_utf8(l.buf).unwrap(),
            "2026-05-01 14:03:09.000042+00\t\\N\t2026-05-01 14:03:09.000042+00"
        );
    }
}
