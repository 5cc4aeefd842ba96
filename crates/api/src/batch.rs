//! `POST /v1/{resource}/batch`: many creates, updates and deletes in one call.
//!
//! Every item is parsed first; each answers with the status its single call would have
//! (201, 200, 204, 404, 409, 412, 422). Not atomic (the default), good items are applied
//! even when others fail. Atomic, the first failure (a parse error anywhere, or the first
//! item the store refuses) answers for the whole call with a problem naming the item, and
//! nothing is written.

use crate::AppState;
use crate::access::{self, Access};
use crate::problem::{ApiError, ApiResult};
use crate::resource::Resource;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_domain::input::{Fields, kind, uuid};
use muster_domain::{FieldError, ValidationErrors};
use muster_store::{BatchError, BatchOp, BatchOptions, StoreError};
use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use std::fmt;
use std::marker::PhantomData;

/// Batches processed at once (the rest queue): bounds memory under load.
pub const DEFAULT_BATCH_CONCURRENCY: usize = 4;

/// Default largest number of operations in one batch (`MUSTER_BATCH_MAX`).
pub const DEFAULT_BATCH_MAX: usize = 1000;

/// One operation as parsed, or why it could not be.
type Parsed<R> = Result<BatchOp<<R as Resource>::New, <R as Resource>::Patch>, ValidationErrors>;

/// Field errors of item `i`, renamed into the batch body (`operations[3].data.email`).
fn prefixed(i: usize, errors: ValidationErrors) -> Vec<FieldError> {
    errors.0.into_iter().map(|e| FieldError::new(format!("operations[{i}].{}", e.field), e.message)).collect()
}

fn version(v: &Value) -> Result<i64, String> {
    let s = v.as_str().ok_or_else(|| format!("must be an ETag string like \"\\\"v3\\\"\", not {}", kind(v)))?;
    s.trim()
        .strip_prefix("\"v")
        .and_then(|x| x.strip_suffix('"'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| "must be an ETag this API issued, like \"\\\"v3\\\"\"".into())
}

fn parse_op<R: Resource>(v: &Value) -> Parsed<R> {
    let Some(obj) = v.as_object() else {
        return Err(ValidationErrors::single("op", format!("each operation must be an object, not {}", kind(v))));
    };
    let mut f = Fields::new(obj, &["op", "id", "data", "if_match"]);
    let op = f.required("op", |v| match v.as_str() {
        Some(s @ ("create" | "update" | "delete")) => Ok(s.to_owned()),
        _ => Err("must be one of: create, update, delete".into()),
    });
    let expected = f.optional("if_match", version);
    let data = obj.get("data");
    let data_obj = |f: &mut Fields<'_>| -> Option<&Map<String, Value>> {
        match data {
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                f.error("data", format!("must be an object, not {}", kind(other)));
                None
            }
            None => {
                f.error("data", "is required for create and update");
                None
            }
        }
    };
    let parsed = match op.as_deref() {
        Some("create") => {
            if obj.contains_key("id") {
                f.error("id", "ids of new rows are chosen by the server; leave it out");
            }
            data_obj(&mut f).map(|d| R::parse_new(d).map(BatchOp::Create))
        }
        Some("update") => {
            let id = f.required("id", uuid);
            let d = data_obj(&mut f);
            match (id, d) {
                (Some(id), Some(d)) => Some(R::parse_patch(d).map(|patch| BatchOp::Update { id, patch, expected })),
                _ => None,
            }
        }
        Some("delete") => {
            if data.is_some() {
                f.error("data", "a delete takes no data");
            }
            f.required("id", uuid).map(|id| Ok(BatchOp::Delete { id, expected }))
        }
        _ => None,
    };
    let mut errors = match f.finish(|| ()) {
        Ok(()) => ValidationErrors::default(),
        Err(e) => e,
    };
    match parsed {
        Some(Ok(op)) if errors.is_empty() => Ok(op),
        Some(Err(data_errors)) => {
            errors.0.extend(data_errors.0.into_iter().map(|e| FieldError::new(format!("data.{}", e.field), e.message)));
            Err(errors)
        }
        _ => Err(errors),
    }
}

/// Item errors are plain data; the aborted error is kept whole for the problem it becomes.
fn clone_item_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound { entity } => StoreError::NotFound { entity },
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Invalid(v) => StoreError::Invalid(v.clone()),
        StoreError::PreconditionFailed { entity, expected } => {
            StoreError::PreconditionFailed { entity, expected: *expected }
        }
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Internal(m) => StoreError::Internal(m.clone()),
    }
}

fn item_error(index: usize, e: ApiError) -> Value {
    json!({"index": index, "status": e.status.as_u16(), "error": e.to_json()})
}

pub async fn handle<R: Resource>(
    State(st): State<AppState>,
    access: Access,
    who: crate::audit::Who,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    // A bulkhead: each batch in flight holds its body, rows and results (a few MiB for
    // 1000 rows); more wait their turn instead of growing memory with the load.
    let _slot = st.batch_slots.clone().acquire_owned().await.map_err(|_| ApiError::internal("batch slots closed"))?;
    let bytes = crate::extract::read_json(req, crate::BATCH_BODY_LIMIT).await?;
    let (body, operations) = read_body::<R>(&bytes, st.batch_max)?;
    drop(bytes);
    let mut f = Fields::new(&body, &["atomic", "operations"]);
    let atomic = f.optional("atomic", |v| v.as_bool().ok_or_else(|| format!("must be true or false, not {}", kind(v))));
    let _ = f.required("operations", |v| match v {
        Value::Array(_) => Ok(()),
        _ => Err(format!("must be an array of operations, not {}", kind(v))),
    });
    f.finish(|| ())?;
    let atomic = atomic.unwrap_or(false);
    // the checks above refused anything but an array
    let Some((items, len)) = operations else {
        return Err(ValidationErrors::single("operations", "must be an array of operations").into());
    };
    if len == 0 {
        return Err(ValidationErrors::single("operations", "must hold at least one operation").into());
    }
    if len > st.batch_max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            "Batch too large",
            format!("a batch holds at most {} operations; this one has {len}: split it", st.batch_max),
        ));
    }
    let (parsed, creates): (Vec<Parsed<R>>, Vec<bool>) = items.into_iter().unzip();
    if atomic && parsed.iter().any(Result::is_err) {
        let errors: Vec<FieldError> =
            parsed.into_iter().enumerate().filter_map(|(i, p)| p.err().map(|e| prefixed(i, e))).flatten().collect();
        return Err(ApiError::validation(ValidationErrors(errors)));
    }
    // the store sees only the valid operations; remember where each came from
    let mut positions = Vec::with_capacity(parsed.len());
    let mut ops = Vec::with_capacity(parsed.len());
    let mut results: Vec<Item<R>> = std::iter::repeat_with(|| Item::Failed(Value::Null)).take(parsed.len()).collect();
    for (i, p) in parsed.into_iter().enumerate() {
        match p {
            Ok(op) => {
                positions.push(i);
                ops.push(op);
            }
            Err(e) => results[i] = Item::Failed(item_error(i, ApiError::validation(ValidationErrors(prefixed(i, e))))),
        }
    }
    if let Some(c) = access.confined() {
        let (targets, refs) = confined_targets::<R>(&ops)?;
        let mut refused = refused_among::<R>(&st, c, targets, refs).await?;
        if atomic && !refused.is_empty() {
            let (k, e) = refused.swap_remove(0);
            return Err(aborted(positions[k], e));
        }
        // refused items answer as their single call would (404, 422); the rest go on
        for (k, e) in refused.into_iter().rev() {
            let i = positions.remove(k);
            ops.remove(k);
            results[i] = Item::Failed(item_error(i, ApiError::from(e)));
        }
    }
    let op_ids: Vec<Option<uuid::Uuid>> = ops
        .iter()
        .map(|op| match op {
            BatchOp::Update { id, .. } | BatchOp::Delete { id, .. } => Some(*id),
            BatchOp::Create(_) => None,
        })
        .collect();
    let touched: Vec<uuid::Uuid> = op_ids.iter().flatten().copied().collect();
    let outcome = R::batch(&*st.store, ops, BatchOptions { atomic, dry_run: false }).await;
    if outcome.is_ok() {
        crate::resource::invalidate::<R>(&st, &touched, !touched.is_empty()).await;
    }
    let stored = match outcome {
        Ok(r) => r,
        Err(BatchError::Store(e)) => return Err(e.into()),
        Err(BatchError::Aborted { index, error }) => {
            return Err(aborted(positions.get(index).copied().unwrap_or(index), error));
        }
    };
    let mut succeeded = 0;
    let mut changed = Vec::new();
    for (k, r) in stored.into_iter().enumerate() {
        let i = positions[k];
        results[i] = match r {
            Ok(Some(row)) => {
                succeeded += 1;
                changed.push(row.id());
                if creates[i] {
                    st.metrics.created(&row);
                }
                Item::Done {
                    index: i,
                    status: if creates[i] { 201 } else { 200 },
                    data: Some(access::shown(&access, row)),
                }
            }
            Ok(None) => {
                succeeded += 1;
                changed.extend(op_ids[k]);
                Item::Done { index: i, status: 204, data: None }
            }
            Err(e) => Item::Failed(item_error(i, ApiError::from(e))),
        };
    }
    crate::resource::audit_change::<R>(&st, who, "batch", changed);
    let total = results.len();
    let summary = Summary { total, succeeded, failed: total - succeeded };
    // sized up front: a row's item is about 450 bytes, and a 1000-row answer grown by doubling
    // from axum's 128 bytes would allocate and copy twice its size on the way
    let mut body = Vec::with_capacity(128 + total * 512);
    crate::json::to_writer(&mut body, &Answer { atomic, results, summary })
        .map_err(|e| ApiError::internal(format!("serialising a batch answer: {e}")))?;
    Ok(([(header::CONTENT_TYPE, crate::resource::APPLICATION_JSON)], body).into_response())
}

/// The problem for an atomic batch stopped by operation `at`: nothing was written.
fn aborted(at: usize, error: StoreError) -> ApiError {
    let mut problem = ApiError::from(clone_item_error(&error));
    let detail = format!("operation {at} failed ({}), so nothing was written: {}", problem.status, problem.detail);
    let mut errors = vec![FieldError::new(format!("operations[{at}]"), problem.detail.clone())];
    errors.extend(
        problem.errors.drain(..).map(|e| FieldError::new(format!("operations[{at}].data.{}", e.field), e.message)),
    );
    problem.detail = detail;
    problem.errors = errors;
    problem
}

/// What a confined token's operations touch, read before any query (operations are not
/// `Sync`, so they are not held across one).
fn confined_targets<R: Resource>(ops: &[BatchOp<R::New, R::Patch>]) -> ApiResult<Targets> {
    let mut targets = Vec::new();
    let mut refs = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        match op {
            BatchOp::Create(new) => match R::references(new) {
                Some(r) => refs.extend(r.into_iter().map(|r| (k, r))),
                None => return Err(access::confined_forbidden(R::COLLECTION)),
            },
            BatchOp::Update { id, patch, .. } => {
                targets.push((k, *id));
                refs.extend(R::patch_references(patch).into_iter().map(|r| (k, r)));
            }
            BatchOp::Delete { id, .. } => targets.push((k, *id)),
        }
    }
    Ok((targets, refs))
}

/// The rows a batch's operations change, and what they point at, each with its operation.
type Targets = (Vec<(usize, uuid::Uuid)>, Vec<(usize, access::Ref)>);

/// The operations a confined token may not make, by their place in the batch, in order: an
/// update or delete of a row it cannot see (404), or a create or change pointing at one
/// (422, as a missing reference). One query per resource involved, not per item.
async fn refused_among<R: Resource>(
    st: &AppState,
    candidates: &[uuid::Uuid],
    targets: Vec<(usize, uuid::Uuid)>,
    refs: Vec<(usize, access::Ref)>,
) -> ApiResult<Vec<(usize, StoreError)>> {
    let ids: Vec<uuid::Uuid> = targets.iter().map(|(_, id)| *id).collect();
    let seen = access::owned::<R>(st, candidates, &ids).await?;
    let mut refused: Vec<(usize, StoreError)> = targets
        .into_iter()
        .filter(|(_, id)| !seen.contains(id))
        .map(|(k, _)| (k, StoreError::NotFound { entity: R::ENTITY }))
        .collect();
    let (owners, plain): (Vec<usize>, Vec<access::Ref>) = refs.into_iter().unzip();
    for (j, e) in access::refused_refs(st, candidates, &plain).await? {
        if !refused.iter().any(|(k, _)| *k == owners[j]) {
            refused.push((owners[j], e));
        }
    }
    refused.sort_by_key(|(k, _)| *k);
    Ok(refused)
}

/// What a batch body's `operations` held.
enum Operations<R: Resource> {
    /// An array: each operation parsed as it was read, with whether it is a create; `len`
    /// counts them all, also those past the batch limit, which are not parsed.
    Array { items: Vec<(Parsed<R>, bool)>, len: usize },
    /// Anything else, for the error message (an object is kept empty: only its kind is
    /// named).
    Other(Value),
}

/// A batch body as read: its fields (with `operations` in them as an empty array, or as what
/// it was when not an array), and, when it was an array, the operations parsed with their count.
type Body<R> = (Map<String, Value>, Option<(Vec<(Parsed<R>, bool)>, usize)>);

/// What [`BodySeed`] reads: the fields but `operations`, and `operations`.
type SeedOutput<R> = (Map<String, Value>, Option<Operations<R>>);

/// Reads a batch body: its fields as a map for the usual checks, and the operations, each
/// parsed as soon as it is read. The JSON tree of a whole batch (about 1.5 KiB per
/// operation, 1.5 MiB for 1000, held by each batch in flight) never exists: only one
/// operation's at a time.
fn read_body<R: Resource>(bytes: &[u8], max: usize) -> ApiResult<Body<R>> {
    // anything but an object is refused with the same answer as any other body's
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        crate::extract::parse_object(bytes)?;
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (mut rest, operations) =
        BodySeed::<R> { max, room: (bytes.len() / OPERATION_BYTES).min(max), resource: PhantomData }
            .deserialize(&mut de)
            .map_err(crate::extract::malformed)?;
    de.end().map_err(crate::extract::malformed)?;
    let operations = match operations {
        Some(Operations::Array { items, len }) => {
            rest.insert("operations".to_owned(), Value::Array(Vec::new()));
            Some((items, len))
        }
        Some(Operations::Other(v)) => {
            rest.insert("operations".to_owned(), v);
            None
        }
        None => None,
    };
    Ok((rest, operations))
}

/// Roughly the fewest bytes an operation takes in a body; the body's size over this is the
/// room reserved for its operations, so the list is not grown by doubling (serde_json does
/// not know an array's length before reading it).
const OPERATION_BYTES: usize = 100;

/// The body object: `operations` through [`OperationsSeed`], every other field as a value.
struct BodySeed<R> {
    max: usize,
    room: usize,
    resource: PhantomData<R>,
}

impl<'de, R: Resource> DeserializeSeed<'de> for BodySeed<R> {
    type Value = SeedOutput<R>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: Resource> Visitor<'de> for BodySeed<R> {
    type Value = SeedOutput<R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rest = Map::new();
        let mut operations = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "operations" {
                if operations.is_some() {
                    return Err(A::Error::custom("the field `operations` appears twice"));
                }
                let seed = OperationsSeed::<R> { max: self.max, room: self.room, resource: PhantomData };
                operations = Some(map.next_value_seed(seed)?);
            } else {
                let value = map.next_value::<Value>()?;
                rest.insert(key, value);
            }
        }
        Ok((rest, operations))
    }
}

/// The `operations` value: an array is parsed item by item, anything else kept for its kind.
struct OperationsSeed<R> {
    max: usize,
    room: usize,
    resource: PhantomData<R>,
}

impl<'de, R: Resource> DeserializeSeed<'de> for OperationsSeed<R> {
    type Value = Operations<R>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, R: Resource> Visitor<'de> for OperationsSeed<R> {
    type Value = Operations<R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of operations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(self.room).min(self.max));
        let mut len = 0;
        while len < self.max {
            let Some(v) = seq.next_element::<Value>()? else { break };
            let create = v.get("op").and_then(Value::as_str) == Some("create");
            items.push((parse_op::<R>(&v), create));
            len += 1;
        }
        // past the limit the call is refused (413): the rest are only counted, for the message
        while seq.next_element::<IgnoredAny>()?.is_some() {
            len += 1;
        }
        Ok(Operations::Array { items, len })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Operations::Other(Value::Object(Map::new())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Operations::Other(Value::Null))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Operations::Other(Value::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Operations::Other(Value::from(n)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Operations::Other(Value::from(n)))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        Ok(Operations::Other(Value::from(n)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Operations::Other(Value::String(s.to_owned())))
    }
}

/// The answer to a batch, serialized straight from the rows (no JSON tree in between).
#[derive(Serialize)]
struct Answer<R> {
    atomic: bool,
    results: Vec<Item<R>>,
    summary: Summary,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Item<R> {
    Done {
        index: usize,
        status: u16,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<R>,
    },
    Failed(Value),
}

#[derive(Serialize)]
struct Summary {
    total: usize,
    succeeded: usize,
    failed: usize,
}
