//! `POST /v1/volunteers/import`: volunteers from a spreadsheet (`text/csv`).
//!
//! The body is parsed as it streams in and written in chunks of [`CHUNK`] rows through the
//! same batch path as `POST /v1/volunteers/batch`, so the rules are the batch rules and a
//! 50 MB file never sits in memory. Each bad row is reported with its line number; good
//! rows are written regardless (`dry_run=true` runs every check and writes nothing;
//! `upsert=true` updates the volunteer with the row's email instead of refusing it).
//! Retrying an import is made safe by `upsert=true`, not by `Idempotency-Key`, which would
//! mean buffering the whole upload.

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
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

/// Rows written per batch.
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
    /// Hash of each normalised email seen, and its line: a file that lists one person twice
    /// gets the second row refused, dry run or not. Hashes keep this small for big files.
    seen: HashMap<u64, u64>,
    chunk: Vec<(u64, Map<String, Value>, String)>,
    summary: Summary,
    /// Rows must name a candidate a confined token may see.
    access: Access,
    /// Each chunk written goes on the audit trail as it is written (an upload cut off
    /// halfway keeps what it wrote, and its entries).
    who: crate::audit::Who,
    query: Option<String>,
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
        seen: HashMap::new(),
        chunk: Vec::new(),
        summary: Summary::default(),
        access: Access::of(caller.as_deref()),
        who,
        query: raw.clone(),
    };
    let mut records = Records::new(64 * 1024);
    let mut parsed = Vec::new();
    let mut body = body;
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
        records.feed(&bytes, &mut parsed).map_err(|m| ApiError::validation(ValidationErrors::single("(file)", m)))?;
        for record in parsed.drain(..) {
            if header_seen {
                imp.row(record);
            } else {
                imp.columns = header(record)?;
                header_seen = true;
            }
            if imp.chunk.len() >= CHUNK {
                imp.flush(&st).await?;
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
    imp.flush(&st).await?;
    let s = imp.summary;
    Ok(Json(json!({
        "dry_run": dry_run, "upsert": upsert, "rows": s.rows, "created": s.created, "updated": s.updated,
        "failed": s.failed, "errors": s.errors, "errors_truncated": s.failed as usize > s.errors.len(),
    })))
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
            Ok(v) => {
                let email = v.email.normalized();
                let key = BuildHasherDefault::<DefaultHasher>::default().hash_one(&email);
                if let Some(first) = self.seen.insert(key, line) {
                    let msg = format!("repeats the email of line {first}");
                    self.seen.insert(key, first);
                    return self.summary.fail(line, vec![FieldError::new("email", msg)]);
                }
                self.chunk.push((line, obj, email));
            }
        }
    }

    /// Writes the queued rows as one non-atomic batch.
    async fn flush(&mut self, st: &AppState) -> ApiResult<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.chunk);
        let mut existing = if self.upsert {
            let emails: Vec<String> = rows.iter().map(|(_, _, e)| e.clone()).collect();
            st.store.volunteer_ids_by_email(&emails).await?
        } else {
            HashMap::new()
        };
        if let Some(c) = self.access.confined() {
            // a confined token updates only its own volunteers; another campaign's email
            // takes the create path, where it is refused as a duplicate like any other
            let ids: Vec<uuid::Uuid> = existing.values().copied().collect();
            let owned = access::owned::<Volunteer>(st, c, &ids).await?;
            existing.retain(|_, id| owned.contains(id));
        }
        let mut ops = Vec::with_capacity(rows.len());
        let mut written = Vec::with_capacity(rows.len());
        for (line, obj, email) in &rows {
            let (op, refs) = match existing.get(email) {
                Some(id) => {
                    let patch = VolunteerPatch::from_json(obj).map_err(ApiError::validation)?;
                    let refs = Volunteer::patch_references(&patch);
                    (BatchOp::Update { id: *id, patch, expected: None }, refs)
                }
                None => {
                    let new = NewVolunteer::from_json(obj).map_err(ApiError::validation)?;
                    let refs = access::creatable::<Volunteer>(&self.access, &new)?;
                    (BatchOp::Create(new), refs)
                }
            };
            if let Some(c) = self.access.confined()
                && let Some((_, e)) = access::refused_refs(st, c, &refs).await?.into_iter().next()
            {
                self.summary.fail(*line, row_errors(e));
                continue;
            }
            written.push((*line, matches!(op, BatchOp::Create(_))));
            ops.push(op);
        }
        let results = match st.store.batch_volunteers(ops, BatchOptions { atomic: false, dry_run: self.dry_run }).await
        {
            Ok(r) => r,
            Err(BatchError::Store(e) | BatchError::Aborted { error: e, .. }) => return Err(e.into()),
        };
        if !self.dry_run {
            let updated: Vec<uuid::Uuid> = existing.values().copied().collect();
            crate::resource::invalidate::<Volunteer>(st, &updated, !updated.is_empty()).await;
        }
        let before = self.summary.created + self.summary.updated;
        for ((line, created), r) in written.into_iter().zip(results) {
            match r {
                Ok(row) if created => {
                    self.summary.created += 1;
                    if let (Some(v), false) = (row, self.dry_run) {
                        st.metrics.created(&v);
                    }
                }
                Ok(_) => self.summary.updated += 1,
                Err(e) => self.summary.fail(line, row_errors(e)),
            }
        }
        let changed = self.summary.created + self.summary.updated - before;
        if !self.dry_run && changed > 0 {
            // a chunk names too many volunteers to list: the count and the import's options
            let n = usize::try_from(changed).unwrap_or(usize::MAX);
            st.audit.record(self.who.seen("import", Vec::new(), n, self.query.as_deref()));
        }
        Ok(())
    }
}

/// A row's refusal as field errors: the store's, or its message against the whole row.
fn row_errors(e: muster_store::StoreError) -> Vec<FieldError> {
    let p = ApiError::from(e);
    if p.errors.is_empty() { vec![FieldError::new("(row)", p.detail.clone())] } else { p.errors.clone() }
}
