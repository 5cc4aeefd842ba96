//! `POST /v1/volunteers/import`: volunteers from a spreadsheet (`text/csv`).
//!
//! The body is parsed as it streams in and written in chunks of [`CHUNK`] rows through the
//! same batch path as `POST /v1/volunteers/batch`, so the rules are the batch rules and a
//! 50 MB file never sits in memory. Each bad row is reported with its line number; good
//! rows are written regardless (`dry_run=true` runs every check and writes nothing;
//! `upsert=true` updates the volunteer with the row's email instead of refusing it).
//! Retrying an import is made safe by `upsert=true`, not by `Idempotency-Key`, which would
//! mean buffering the whole upload.
//!
//! One chunk is written (its own task) while the next is read and parsed, so the database
//! and the parser work at the same time; chunks still commit one after the other, in file
//! order, so an upload cut short leaves whole chunks of a prefix of the file, and the
//! handler waits for the chunk in flight before it answers, whatever the answer.

use crate::AppState;
use crate::access::{self, Access};
use crate::csv::{Record, Records};
use crate::extract::Query;
use crate::problem::{ApiError, ApiResult};
use crate::resource::Resource;
use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use muster_domain::volunteer::{NewVolunteer, Volunteer, VolunteerPatch};
use muster_domain::{FieldError, ValidationErrors};
use muster_store::{BatchError, BatchOp, BatchOptions};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use tokio::task::JoinHandle;

/// Rows written per batch, each batch its own transaction; two chunks (one being written, the
/// next filling) are in memory at a time.
pub const CHUNK: usize = 500;
/// Largest upload; beyond it the import stops with 413 (rows before it are kept).
pub const MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Row errors listed in the answer; more are counted, not listed.
const MAX_LISTED_ERRORS: usize = 1000;

const COLUMNS: &[&str] = &["first_name", "last_name", "email", "phone", "zip_code", "candidate_id", "tags"];
const REQUIRED: &[&str] = &["first_name", "last_name", "email"];

#[derive(Default)]
struct Summary {
    rows: u64,
    created: u64,
    updated: u64,
    failed: u64,
    errors: Vec<Value>,
}

impl Summary {
    fn fail(&mut self, line: u64, errors: Vec<FieldError>) {
        self.failed += 1;
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(json!({"line": line, "errors": errors}));
        }
    }
}

struct Import {
    columns: Vec<String>,
    upsert: bool,
    dry_run: bool,
    /// A file that lists one person twice gets the second row refused, dry run or not.
    seen: Seen,
    chunk: Vec<Queued>,
    /// The chunk being written, at most one: the next waits for it, so chunks commit in order.
    writing: Option<JoinHandle<ApiResult<Written>>>,
    summary: Summary,
    /// Rows must name a candidate a confined token may see.
    access: Access,
    /// Each chunk written goes on the audit trail as it is written (an upload cut off
    /// halfway keeps what it wrote, and its entries).
    who: crate::audit::Who,
    query: Option<String>,
}

/// A checked row waiting for its chunk's write: the parsed create, and with `upsert=true`
/// the cells again, for an update if the email is stored already.
struct Queued {
    line: u64,
    cells: Option<Map<String, Value>>,
    new: NewVolunteer,
    email: String,
}

/// What writing one chunk did.
struct Written {
    created: u64,
    updated: u64,
    failed: Vec<(u64, Vec<FieldError>)>,
}

/// The normalised emails of the file so far, each with the line it was first seen on, kept
/// as 64-bit hashes in 12-byte entries: a million-row file takes about 27 MiB. The entries
/// are spread over [`Seen::SHARDS`] tables, so growing one copies a sixty-fourth of them,
/// not all (one table doubling at a million rows would hold 40 MiB at once).
struct Seen {
    shards: Vec<HashMap<(u32, u32), u32, BuildHasherDefault<DefaultHasher>>>,
}

impl Seen {
    const SHARDS: usize = 64;

    fn new() -> Self {
        Seen { shards: (0..Self::SHARDS).map(|_| HashMap::default()).collect() }
    }

    /// Records `email` at `line`; if it was seen before, the line it was first seen on.
    fn first_line(&mut self, email: &str, line: u64) -> Option<u64> {
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(email);
        let shard = &mut self.shards[(h >> 58) as usize % Self::SHARDS];
        // two halves of the hash: (u32, u32) and a u32 line pack into 12 bytes, a u64 would take 16
        match shard.entry(((h >> 32) as u32, h as u32)) {
            Entry::Occupied(first) => Some(u64::from(*first.get())),
            Entry::Vacant(slot) => {
                slot.insert(u32::try_from(line).unwrap_or(u32::MAX));
                None
            }
        }
    }
}

fn is_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
}

fn flag(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

pub async fn import_volunteers(
    State(st): State<AppState>,
    caller: Option<axum::Extension<crate::principal::Principal>>,
    who: crate::audit::Who,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    // behind the `csv-import` flag: on unless an administrator stored the flag (a kill switch)
    let subject = caller.as_ref().map_or(crate::principal::Principal::ANONYMOUS, |c| c.subject.as_str());
    if !st.flags.enabled(&crate::flags::CSV_IMPORT, subject).await {
        return Err(crate::flags::disabled(&crate::flags::CSV_IMPORT));
    }
    if !is_csv(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the file as Content-Type: text/csv with a header row",
        ));
    }
    if headers.contains_key(&crate::idempotency::IDEMPOTENCY_KEY) {
        return Err(ApiError::bad_request(
            "Idempotency-Key is not supported on CSV import; retry with upsert=true so rows already written are updated",
        ));
    }
    let mut q = Query::parse(raw.as_deref(), &["dry_run", "upsert"])?;
    let dry_run = q.get("dry_run", flag).unwrap_or(false);
    let upsert = q.get("upsert", flag).unwrap_or(false);
    q.finish()?;

    let mut imp = Import {
        columns: Vec::new(),
        upsert,
        dry_run,
        seen: Seen::new(),
        chunk: Vec::with_capacity(CHUNK),
        writing: None,
        summary: Summary::default(),
        access: Access::of(caller.as_deref()),
        who,
        query: raw.clone(),
    };
    let read = imp.read(&st, body).await;
    // the chunk in flight commits or fails before the answer, whatever the answer
    let written = imp.settle().await;
    read?;
    written?;
    let mut s = imp.summary;
    // a chunk's refusals arrive once it is written, after the next chunk's parse errors
    s.errors.sort_by_key(|e| e["line"].as_u64());
    Ok(Json(json!({
        "dry_run": dry_run, "upsert": upsert, "rows": s.rows, "created": s.created, "updated": s.updated,
        "failed": s.failed, "errors": s.errors, "errors_truncated": s.failed as usize > s.errors.len(),
    })))
}

impl Import {
    /// Reads, checks and queues the file, writing each full chunk.
    async fn read(&mut self, st: &AppState, mut body: Body) -> ApiResult<()> {
        let mut records = Records::new(64 * 1024);
        let mut parsed = Vec::new();
        let mut read: u64 = 0;
        let mut header_seen = false;
        loop {
            let (bytes, end) = match body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => (data, false),
                    Err(_) => continue, // trailers
                },
                Some(Err(e)) => {
                    // a body that stalled is a 408 (the edge's body read timeout), as on every route
                    let why = crate::extract::unreadable_body(&e, MAX_BYTES as usize);
                    if why.status == StatusCode::BAD_REQUEST {
                        return Err(ApiError::bad_request("the upload was interrupted"));
                    }
                    return Err(why);
                }
                None => (axum::body::Bytes::new(), true),
            };
            read += bytes.len() as u64;
            if read > MAX_BYTES {
                return Err(crate::extract::body_too_large(MAX_BYTES as usize));
            }
            records
                .feed(&bytes, &mut parsed)
                .map_err(|m| ApiError::validation(ValidationErrors::single("(file)", m)))?;
            for record in parsed.drain(..) {
                if header_seen {
                    self.row(record);
                } else {
                    self.columns = header(record)?;
                    header_seen = true;
                }
                if self.chunk.len() >= CHUNK {
                    self.flush(st).await?;
                }
            }
            if end {
                break;
            }
        }
        if !header_seen {
            return Err(ApiError::validation(ValidationErrors::single(
                "(file)",
                "is empty; the first row names the columns",
            )));
        }
        self.flush(st).await
    }
}

/// The header row: known columns, each once, the required ones present.
fn header(record: Record) -> ApiResult<Vec<String>> {
    let fields = record.fields.map_err(|m| ApiError::validation(ValidationErrors::single("(header)", m)))?;
    let cols: Vec<String> = fields.iter().map(|f| f.trim().to_ascii_lowercase()).collect();
    let mut errors = ValidationErrors::default();
    for (i, c) in cols.iter().enumerate() {
        if !COLUMNS.contains(&c.as_str()) {
            errors.push("(header)", format!("unknown column {c:?}; the columns are: {}", COLUMNS.join(", ")));
        } else if cols[..i].contains(c) {
            errors.push("(header)", format!("column {c:?} appears twice"));
        }
    }
    for r in REQUIRED {
        if !cols.iter().any(|c| c == r) {
            errors.push("(header)", format!("the required column {r:?} is missing"));
        }
    }
    errors.into_result(|| cols).map_err(ApiError::validation)
}

impl Import {
    /// Validates one data row and queues it for the next write.
    fn row(&mut self, record: Record) {
        let line = record.line;
        let fields = match record.fields {
            Ok(f) if f.iter().all(|x| x.trim().is_empty()) => return, // blank line
            Ok(f) => f,
            Err(m) => {
                self.summary.rows += 1;
                return self.summary.fail(line, vec![FieldError::new("(row)", m)]);
            }
        };
        self.summary.rows += 1;
        if fields.len() != self.columns.len() {
            let msg = format!("has {} fields; the header has {}", fields.len(), self.columns.len());
            return self.summary.fail(line, vec![FieldError::new("(row)", msg)]);
        }
        // empty cells are absent: null on create, unchanged on upsert
        let mut obj = Map::new();
        for (col, cell) in self.columns.iter().zip(fields) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let value = if col == "tags" {
                Value::Array(cell.split(';').map(str::trim).filter(|t| !t.is_empty()).map(|t| json!(t)).collect())
            } else {
                json!(cell)
            };
            obj.insert(col.clone(), value);
        }
        match NewVolunteer::from_json(&obj) {
            Err(e) => self.summary.fail(line, e.0),
            Ok(new) => {
                let email = new.email.normalized();
                if let Some(first) = self.seen.first_line(&email, line) {
                    let msg = format!("repeats the email of line {first}");
                    return self.summary.fail(line, vec![FieldError::new("email", msg)]);
                }
                let cells = self.upsert.then_some(obj);
                self.chunk.push(Queued { line, cells, new, email });
            }
        }
    }

    /// Starts writing the queued rows, once the chunk before them is written.
    async fn flush(&mut self, st: &AppState) -> ApiResult<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let rows = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let chunk = Chunk {
            upsert: self.upsert,
            dry_run: self.dry_run,
            access: self.access.clone(),
            who: self.who.clone(),
            query: self.query.clone(),
        };
        self.writing = Some(tokio::spawn(write(st.clone(), rows, chunk)));
        Ok(())
    }

    /// Waits for the chunk in flight and counts what it did.
    async fn settle(&mut self) -> ApiResult<()> {
        let Some(writing) = self.writing.take() else { return Ok(()) };
        let written = writing.await.map_err(|e| ApiError::internal(format!("CSV import chunk: {e}")))??;
        self.summary.created += written.created;
        self.summary.updated += written.updated;
        for (line, errors) in written.failed {
            self.summary.fail(line, errors);
        }
        Ok(())
    }
}

/// How a chunk is written: the import's options and its caller.
struct Chunk {
    upsert: bool,
    dry_run: bool,
    /// Rows must name a candidate a confined token may see.
    access: Access,
    /// Each chunk written goes on the audit trail as it is written (an upload cut off
    /// halfway keeps what it wrote, and its entries).
    who: crate::audit::Who,
    query: Option<String>,
}

/// Writes `rows` as one non-atomic batch.
async fn write(st: AppState, rows: Vec<Queued>, c: Chunk) -> ApiResult<Written> {
    let (upsert, dry_run) = (c.upsert, c.dry_run);
    let mut existing = if upsert {
        let emails: Vec<String> = rows.iter().map(|q| q.email.clone()).collect();
        st.store.volunteer_ids_by_email(&emails).await?
    } else {
        HashMap::new()
    };
    if let Some(confined) = c.access.confined() {
        // a confined token updates only its own volunteers; another campaign's email
        // takes the create path, where it is refused as a duplicate like any other
        let ids: Vec<uuid::Uuid> = existing.values().copied().collect();
        let owned = access::owned::<Volunteer>(&st, confined, &ids).await?;
        existing.retain(|_, id| owned.contains(id));
    }
    let mut ops = Vec::with_capacity(rows.len());
    let mut lines = Vec::with_capacity(rows.len());
    let mut written = Written { created: 0, updated: 0, failed: Vec::new() };
    for q in rows {
        let (op, refs) = match (existing.get(&q.email), &q.cells) {
            (Some(id), Some(cells)) => {
                let patch = VolunteerPatch::from_json(cells).map_err(ApiError::validation)?;
                let refs = Volunteer::patch_references(&patch);
                (BatchOp::Update { id: *id, patch, expected: None }, refs)
            }
            _ => {
                let refs = access::creatable::<Volunteer>(&c.access, &q.new)?;
                (BatchOp::Create(q.new), refs)
            }
        };
        if let Some(confined) = c.access.confined()
            && let Some((_, e)) = access::refused_refs(&st, confined, &refs).await?.into_iter().next()
        {
            written.failed.push((q.line, row_errors(e)));
            continue;
        }
        lines.push((q.line, matches!(op, BatchOp::Create(_))));
        ops.push(op);
    }
    let results = match st.store.batch_volunteers(ops, BatchOptions { atomic: false, dry_run }).await {
        Ok(r) => r,
        Err(BatchError::Store(e) | BatchError::Aborted { error: e, .. }) => return Err(e.into()),
    };
    if !dry_run {
        let updated: Vec<uuid::Uuid> = existing.values().copied().collect();
        crate::resource::invalidate::<Volunteer>(&st, &updated, !updated.is_empty()).await;
    }
    for ((line, created), r) in lines.into_iter().zip(results) {
        match r {
            Ok(row) if created => {
                written.created += 1;
                if let (Some(v), false) = (row, dry_run) {
                    st.metrics.created(&v);
                }
            }
            Ok(_) => written.updated += 1,
            Err(e) => written.failed.push((line, row_errors(e))),
        }
    }
    let changed = written.created + written.updated;
    if !dry_run && changed > 0 {
        // a chunk names too many volunteers to list: the count and the import's options
        let n = usize::try_from(changed).unwrap_or(usize::MAX);
        st.audit.record(c.who.seen("import", Vec::new(), n, c.query.as_deref()));
    }
    Ok(written)
}

/// A row's refusal as field errors: the store's, or its message against the whole row.
fn row_errors(e: muster_store::StoreError) -> Vec<FieldError> {
    let p = ApiError::from(e);
    if p.errors.is_empty() { vec![FieldError::new("(row)", p.detail.clone())] } else { p.errors.clone() }
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn a_repeated_email_names_the_line_it_was_first_seen_on() {
        let mut seen = Seen::new();
        for line in 2..20_002 {
            assert_eq!(seen.first_line(&format!("v{line}@example.org"), line), None);
        }
        assert_eq!(seen.first_line("v7@example.org", 30_000), Some(7));
        assert_eq!(seen.first_line("v7@example.org", 30_001), Some(7), "still the first line");
        assert_eq!(seen.first_line("new@example.org", 30_002), None);
    }
}
