//! The OpenAPI 3.1 document, built from the code that serves the API.
//!
//! Paths come from the same [`Resource`] implementations the router mounts (collection
//! names, list filters), field schemas and enums from `muster-domain` (see [`schemas`]),
//! problem types from [`crate::problem_types`]. CI validates the document and fuzzes the
//! running API against it (schemathesis), so a handler that answers differently from what
//! is written here breaks the build.

pub mod schemas;

use crate::BuildInfo;
use crate::problem_types::PROBLEM_TYPES;
use crate::resource::Resource;
use muster_domain::attendance::{Attendance, AttendanceStatus};
use muster_domain::candidate::{Candidate, CandidateStatus};
use muster_domain::event::{Event, EventStatus, EventType, Visibility};
use muster_domain::volunteer::Volunteer;
use schemas::Field;
use serde_json::{Map, Value, json};

/// The document served at `/openapi.json`.
pub fn document(build: &BuildInfo) -> Value {
    let mut doc = Doc::default();
    doc.resource::<Candidate>(
        "Candidate",
        &schemas::candidate_fields(),
        &schemas::candidate_fields(),
        schemas::row(&schemas::candidate_fields(), &[]),
    );
    doc.resource::<Volunteer>(
        "Volunteer",
        &schemas::volunteer_fields(),
        &schemas::volunteer_fields(),
        schemas::row(&schemas::volunteer_fields(), &[]),
    );
    doc.resource::<Event>(
        "Event",
        &schemas::event_fields(),
        &schemas::event_fields(),
        schemas::row(&schemas::event_fields(), &[]),
    );
    doc.resource::<Attendance>(
        "Attendance",
        &schemas::attendance_fields(),
        &schemas::attendance_patch_fields(),
        schemas::attendance_row(),
    );
    doc.related("/v1/candidates/{id}/events", "Candidate", "Event", <Event as Resource>::FILTERS, "events");
    doc.related("/v1/events/{id}/attendances", "Event", "Attendance", <Attendance as Resource>::FILTERS, "attendances");
    doc.related(
        "/v1/volunteers/{id}/attendances",
        "Volunteer",
        "Attendance",
        <Attendance as Resource>::FILTERS,
        "attendances",
    );
    doc.extras();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Muster",
            "version": format!("{}+{}", build.version, build.build),
            "summary": "Candidates, volunteers, events and attendances for campaign organizing teams.",
            "description": "Every `/v1` call needs `Authorization: Bearer <JWT>` with the `read` (GET), `write` \
                (changes) or `admin` (`/v1/admin`) scope; `admin` implies the others. Volunteers' `email` and `phone` \
                are shown, and may be filtered on, only with the `contacts` scope (or `admin`); other tokens get them \
                masked. A token with a `candidates` claim (a list of candidate ids) sees and changes only those \
                candidates' rows, volunteers, events and attendances: anything else answers 404, and it may not \
                use `/v1/admin`. Every `/v1` response carries \
                the IETF `RateLimit-Policy` and `RateLimit` headers; every response carries `X-Request-Id`. Errors \
                are `application/problem+json` (RFC 9457); each `type` links to `/docs/problems`. POSTs accept \
                `Idempotency-Key`: a retry with the same key and body returns the first response.",
            "license": {"name": "MIT", "identifier": "MIT"}
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "candidates"}, {"name": "volunteers"}, {"name": "events"}, {"name": "attendances"},
            {"name": "flags"}, {"name": "admin"}, {"name": "operations"}
        ],
        "paths": doc.paths,
        "components": {
            "schemas": doc.schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "HS256 with the server's secret (`muster token`), or RS256/ES256 from the identity provider's JWKS. Scopes travel in the space-separated `scope` claim (read, write, contacts, admin); the optional `candidates` claim (an array of candidate ids) confines the token to those candidates."}},
            "headers": headers(),
            "responses": problem_responses(),
        }
    })
}

fn headers() -> Value {
    json!({
        "RateLimit": {"description": "Remaining budget (IETF httpapi draft): `\"default\";r=<remaining>;t=<seconds to full>`", "schema": {"type": "string"}},
        "RateLimit-Policy": {"description": "The caller's policy: `\"default\";q=<burst>;w=<seconds>`", "schema": {"type": "string"}},
        "X-Request-Id": {"description": "The request id (echoed when the client sent a sane one).", "schema": {"type": "string"}},
        "ETag": {"description": "Strong validator: `\"v<version>\"` on rows, a digest on lists.", "schema": {"type": "string"}},
        "Location": {"description": "The created row.", "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 0}},
        "WWW-Authenticate": {"description": "Bearer challenge with error and error_description.", "schema": {"type": "string"}},
        "X-Cache": {"description": "hit, miss or bypass: whether the response cache answered.", "schema": {"type": "string", "enum": ["hit", "miss", "bypass"]}}
    })
}

/// One response per problem status, listing the problem types sent with it.
fn problem_responses() -> Value {
    let mut out = Map::new();
    let mut statuses: Vec<u16> = PROBLEM_TYPES.iter().map(|p| p.status).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let kinds: Vec<String> = PROBLEM_TYPES
            .iter()
            .filter(|p| p.status == status)
            .map(|p| format!("[`{}`](/docs/problems#{}): {}", p.slug, p.slug, p.title))
            .collect();
        let mut headers = json!({"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}});
        if status == 401 || status == 403 {
            headers["WWW-Authenticate"] = json!({"$ref": "#/components/headers/WWW-Authenticate"});
        }
        if status == 429 || status == 503 {
            headers["Retry-After"] = json!({"$ref": "#/components/headers/Retry-After"});
        }
        out.insert(
            status.to_string(),
            json!({"description": kinds.join("; "), "headers": headers,
                   "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
    }
    Value::Object(out)
}

fn problem(status: u16) -> Value {
    json!({"$ref": format!("#/components/responses/{status}")})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_body(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// The schema of a list filter, by name; a filter without one fails the tests.
fn filter_schema(name: &str) -> Option<Value> {
    let enum_of = |v: Vec<&'static str>| json!({"type": "string", "enum": v});
    Some(match name {
        "candidate_id" | "event_id" | "volunteer_id" => json!({"type": "string", "format": "uuid"}),
        "starts_after" | "starts_before" | "updated_since" | "since" => {
            json!({"type": "string", "format": "date-time"})
        }
        "office" | "party" | "district" | "email" | "zip_code" | "tag" => {
            json!({"type": "string", "minLength": 1, "maxLength": 320})
        }
        "event_type" => enum_of(EventType::ALL.iter().map(|s| s.as_str()).collect()),
        "visibility" => enum_of(Visibility::ALL.iter().map(|s| s.as_str()).collect()),
        _ => return None,
    })
}

fn status_filter(collection: &str) -> Value {
    let values: Vec<&str> = match collection {
        "candidates" => CandidateStatus::ALL.iter().map(|s| s.as_str()).collect(),
        "events" => EventStatus::ALL.iter().map(|s| s.as_str()).collect(),
        _ => AttendanceStatus::ALL.iter().map(|s| s.as_str()).collect(),
    };
    json!({"type": "string", "enum": values})
}

fn param(name: &str, location: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": location, "required": location == "path", "schema": schema, "description": description})
}

fn list_params(collection: &str, filters: &[&str]) -> Vec<Value> {
    let mut out = vec![
        param("limit", "query", json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50}), "Page size."),
        param("cursor", "query", json!({"type": "string", "minLength": 1}), "`next_cursor` of the previous page."),
        param(
            "updated_since",
            "query",
            json!({"type": "string", "format": "date-time"}),
            "Only rows changed at or after this instant (for syncing).",
        ),
        param(
            "ids",
            "query",
            json!({"type": "string", "minLength": 1}),
            "Batch GET: up to 200 comma-separated ids; the answer lists `missing` ones.",
        ),
    ];
    for f in filters {
        let schema = if *f == "status" {
            status_filter(collection)
        } else {
            filter_schema(f).unwrap_or_else(|| panic!("no schema for filter {f}"))
        };
        out.push(param(f, "query", schema, "Filter: equal to this value."));
    }
    out
}

fn id_param(entity: &str) -> Value {
    param("id", "path", json!({"type": "string", "format": "uuid"}), &format!("The {entity}'s id."))
}

/// Responses every `/v1` operation can give besides its own.
fn v1_failures(responses: &mut Map<String, Value>) {
    // 400: a bad query string or header (Idempotency-Key, If-Match) on any call
    for s in [400, 401, 403, 429, 431, 500, 503] {
        responses.entry(s.to_string()).or_insert_with(|| problem(s));
    }
}

fn ok(description: &str, schema: Value, extra_headers: &[&str]) -> Value {
    let mut headers = json!({
        "RateLimit": {"$ref": "#/components/headers/RateLimit"},
        "RateLimit-Policy": {"$ref": "#/components/headers/RateLimit-Policy"},
        "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}
    });
    for h in extra_headers {
        headers[*h] = json!({"$ref": format!("#/components/headers/{h}")});
    }
    json!({"description": description, "headers": headers, "content": json_body(schema)})
}

fn operation(
    tag: &str,
    id: &str,
    summary: &str,
    scope: &str,
    params: Vec<Value>,
    body: Option<Value>,
    mut responses: Map<String, Value>,
) -> Value {
    v1_failures(&mut responses);
    let mut op = json!({
        "tags": [tag], "operationId": id, "summary": summary,
        "security": [{"bearerAuth": [scope]}],
        "parameters": params, "responses": responses
    });
    if let Some(b) = body {
        op["requestBody"] = json!({"required": true, "content": b});
    }
    op
}

fn responses(pairs: Vec<(u16, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(s, v)| (s.to_string(), v)).collect()
}

fn idempotency_param() -> Value {
    param(
        "Idempotency-Key",
        "header",
        json!({"type": "string", "pattern": "^[ -~]{1,255}$"}),
        "Retrying with the same key and body returns the first response instead of writing again.",
    )
}

#[derive(Default)]
struct Doc {
    paths: Map<String, Value>,
    schemas: Map<String, Value>,
}

impl Doc {
    fn resource<R: Resource>(&mut self, name: &str, create_fields: &[Field], patch_fields: &[Field], row: Value) {
        let c = R::COLLECTION;
        let e = R::ENTITY;
        let list_name = format!("{name}List");
        self.schemas.insert(name.to_owned(), row);
        self.schemas.insert(format!("{name}Create"), schemas::create(create_fields));
        self.schemas.insert(format!("{name}Patch"), schemas::patch(patch_fields));
        self.schemas.insert(list_name.clone(), list_schema(name));
        self.schemas.insert(format!("{name}Batch"), batch_request(name));
        let if_match = param(
            "If-Match",
            "header",
            json!({"type": "string", "pattern": r#"^(\*|\s*(W/)?"[^"]*"\s*(,\s*(W/)?"[^"]*"\s*)*)$"#}),
            "Only if the row is still at this ETag (412 otherwise; 400 if it is not a list of ETags).",
        );
        let if_none_match =
            param("If-None-Match", "header", json!({"type": "string"}), "304 when the ETag still matches.");
        let not_modified = json!({"description": "Unchanged since the ETag in If-None-Match."});
        self.paths.insert(format!("/v1/{c}"), json!({
            "get": operation(c, &format!("list_{c}"), &format!("List {c}"), "read", {
                let mut p = list_params(c, R::FILTERS);
                p.push(if_none_match.clone());
                p
            }, None, responses(vec![(200, ok("A page", schema_ref(&list_name), &["ETag", "X-Cache"])), (304, not_modified.clone()), (400, problem(400))])),
            "post": operation(c, &format!("create_{e}"), &format!("Create {}", a(e)), "write", vec![idempotency_param()], Some(json_body(schema_ref(&format!("{name}Create")))),
                responses(vec![(201, ok("Created", schema_ref(name), &["Location", "ETag"])), (400, problem(400)), (404, problem(404)), (409, problem(409)), (413, problem(413)), (415, problem(415)), (422, problem(422))])),
        }));
        self.paths.insert(format!("/v1/{c}/{{id}}"), json!({
            "get": operation(c, &format!("get_{e}"), &format!("Get {}", a(e)), "read", vec![id_param(e), if_none_match],
                None, responses(vec![(200, ok("The row", schema_ref(name), &["ETag", "X-Cache"])), (304, not_modified), (404, problem(404))])),
            "patch": operation(c, &format!("update_{e}"), &format!("Change some fields of {}", a(e)), "write", vec![id_param(e), if_match.clone()], Some(json_body(schema_ref(&format!("{name}Patch")))),
                responses(vec![(200, ok("The changed row", schema_ref(name), &["ETag"])), (400, problem(400)), (404, problem(404)), (409, problem(409)), (412, problem(412)), (413, problem(413)), (415, problem(415)), (422, problem(422))])),
            "delete": operation(c, &format!("delete_{e}"), &format!("Delete {}", a(e)), "write", vec![id_param(e), if_match],
                None, responses(vec![(204, json!({"description": "Deleted"})), (404, problem(404)), (409, problem(409)), (412, problem(412))])),
        }));
        self.paths.insert(format!("/v1/{c}/batch"), json!({
            "post": operation(c, &format!("batch_{c}"), &format!("Create, change and delete many {c} in one call"), "write", vec![idempotency_param()], Some(json_body(schema_ref(&format!("{name}Batch")))),
                responses(vec![(200, ok("One result per operation, in order", schema_ref("BatchResult"), &[])), (400, problem(400)), (404, problem(404)), (409, problem(409)), (412, problem(412)), (413, problem(413)), (415, problem(415)), (422, problem(422))])),
        }));
    }

    fn related(&mut self, path: &str, parent: &str, child: &str, filters: &[&str], collection: &str) {
        let op_id = path.trim_start_matches("/v1/").replace("/{id}/", "_");
        self.paths.insert(path.to_owned(), json!({
            "get": operation(collection, &format!("list_{op_id}"), &format!("List the {}'s {collection}", parent.to_lowercase()), "read", {
                let mut p = vec![id_param(&parent.to_lowercase())];
                p.extend(list_params(collection, filters));
                p
            }, None, responses(vec![(200, ok("A page", schema_ref(&format!("{child}List")), &["ETag", "X-Cache"])), (304, json!({"description": "Unchanged"})), (400, problem(400)), (404, problem(404))]))
        }));
    }

    fn extras(&mut self) {
        self.schemas.insert("Problem".into(), json!({
            "type": "object", "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "enum": PROBLEM_TYPES.iter().map(|p| format!("{}{}", crate::problem::TYPE_BASE, p.slug)).collect::<Vec<_>>()},
                "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                "request_id": {"type": "string"},
                "errors": {"type": "array", "items": schema_ref("FieldError")}
            }
        }));
        self.schemas.insert(
            "FieldError".into(),
            json!({"type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}),
        );
        self.schemas.insert("BatchResult".into(), json!({
            "type": "object", "required": ["atomic", "results", "summary"],
            "properties": {
                "atomic": {"type": "boolean"},
                "results": {"type": "array", "items": {"type": "object", "required": ["index", "status"], "properties": {
                    "index": {"type": "integer", "minimum": 0}, "status": {"type": "integer"},
                    "data": {"type": "object"}, "error": {"type": "object"}}}},
                "summary": {"type": "object", "required": ["total", "succeeded", "failed"], "properties": {
                    "total": {"type": "integer"}, "succeeded": {"type": "integer"}, "failed": {"type": "integer"}}}
            }
        }));
        self.schemas.insert("ImportSummary".into(), json!({
            "type": "object", "required": ["dry_run", "upsert", "rows", "created", "updated", "failed", "errors", "errors_truncated"],
            "properties": {
                "dry_run": {"type": "boolean"}, "upsert": {"type": "boolean"}, "rows": {"type": "integer"},
                "created": {"type": "integer"}, "updated": {"type": "integer"}, "failed": {"type": "integer"},
                "errors": {"type": "array", "items": {"type": "object", "required": ["line", "errors"], "properties": {
                    "line": {"type": "integer"}, "errors": {"type": "array", "items": schema_ref("FieldError")}}}},
                "errors_truncated": {"type": "boolean"}
            }
        }));
        self.paths.insert("/v1/attendances/{id}/check-in".into(), json!({
            "post": operation("attendances", "check_in", "Check a registered volunteer in (repeating it changes nothing)", "write", vec![id_param("attendance"), idempotency_param()], None,
                responses(vec![(200, ok("The attendance, now attended", schema_ref("Attendance"), &["ETag"])), (404, problem(404)), (409, problem(409)), (422, problem(422))]))
        }));
        self.paths.insert("/v1/volunteers/import".into(), json!({
            "post": operation("volunteers", "import_volunteers", "Import volunteers from CSV (streamed; per-row errors by line)", "write", vec![
                param("dry_run", "query", json!({"type": "string", "enum": ["true", "false", "1", "0"]}), "Check every row, write nothing."),
                param("upsert", "query", json!({"type": "string", "enum": ["true", "false", "1", "0"]}), "Update the volunteer with the row's email instead of refusing the row."),
            ], Some(json!({"text/csv": {"schema": {"type": "string"}}})),
                responses(vec![(200, ok("What happened to each row", schema_ref("ImportSummary"), &[])), (400, problem(400)), (404, problem(404)), (413, problem(413)), (415, problem(415)), (422, problem(422))]))
        }));
        self.schemas.insert("RateLimitOverride".into(), json!({"type": "object", "required": ["subject", "limit", "period_seconds", "burst", "updated_by", "updated_at"], "properties": {
            "subject": {"type": "string"}, "limit": {"type": "integer"}, "period_seconds": {"type": "number"}, "burst": {"type": "integer"},
            "policy": {"type": ["string", "null"]}, "updated_by": {"type": "string"}, "updated_at": {"type": "string", "format": "date-time"}}}));
        let subject = param(
            "subject",
            "path",
            json!({"type": "string", "minLength": 1, "maxLength": 256}),
            "A token subject (`sub`).",
        );
        self.paths.insert("/v1/admin/rate-limits".into(), json!({
            "get": operation("admin", "list_rate_limits", "Callers with their own rate limit", "admin", vec![], None,
                responses(vec![(200, ok("All overrides", json!({"type": "object", "required": ["data", "next_cursor"], "properties": {"data": {"type": "array", "items": schema_ref("RateLimitOverride")}, "next_cursor": {"type": "null"}}}), &[]))]))
        }));
        self.paths.insert("/v1/admin/rate-limits/{subject}".into(), json!({
            "put": operation("admin", "put_rate_limit", "Give a caller its own rate limit (no restart)", "admin", vec![subject.clone()],
                Some(json_body(json!({"type": "object", "additionalProperties": false, "required": ["rate"], "properties": {
                    "rate": {"type": "string", "examples": ["10000/min"]}, "burst": {"type": ["integer", "null"], "minimum": 1}}}))),
                responses(vec![(200, ok("The override", schema_ref("RateLimitOverride"), &[])), (400, problem(400)), (404, problem(404)), (413, problem(413)), (415, problem(415)), (422, problem(422))])),
            "delete": operation("admin", "delete_rate_limit", "Back to the default limit", "admin", vec![subject], None,
                responses(vec![(204, json!({"description": "Removed"})), (404, problem(404))]))
        }));
        self.paths.insert("/v1/client-errors".into(), json!({
            "post": operation("operations", "report_client_error", "Report an error that happened in a browser or app", "read", vec![idempotency_param()],
                Some(json_body(json!({"type": "object", "additionalProperties": false, "required": ["message"], "properties": {
                    "message": {"type": "string", "minLength": 1}, "stack": {"type": "string"}, "url": {"type": "string"},
                    "user_agent": {"type": "string"}, "release": {"type": "string"},
                    "level": {"type": "string", "enum": ["fatal", "error", "warning", "info", "debug"]}}}))),
                responses(vec![(202, ok("Kept", json!({"type": "object", "required": ["id", "received_at"], "properties": {"id": {"type": "string", "format": "uuid"}, "received_at": {"type": "string", "format": "date-time"}}}), &[])), (400, problem(400)), (413, problem(413)), (415, problem(415)), (422, problem(422))]))
        }));
        self.paths.insert("/v1/admin/client-errors".into(), json!({
            "get": operation("admin", "list_client_errors", "Client error reports, newest first", "admin", vec![
                param("since", "query", json!({"type": "string", "format": "date-time"}), "Reports received at or after this instant."),
                param("level", "query", json!({"type": "string", "enum": ["fatal", "error", "warning", "info", "debug"]}), "Only this level."),
                param("limit", "query", json!({"type": "integer", "minimum": 1, "maximum": 200}), "Page size."),
                param("cursor", "query", json!({"type": "string", "minLength": 1}), "`next_cursor` of the previous page."),
            ], None, responses(vec![(200, ok("A page", json!({"type": "object", "required": ["data", "next_cursor"], "properties": {"data": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}}), &[])), (400, problem(400))]))
        }));
        self.paths.insert("/v1/admin/audit".into(), json!({
            "get": operation("admin", "list_audit", "The audit trail of personal data, newest first", "admin", vec![
                param("sub", "query", json!({"type": "string", "minLength": 1}), "Only entries made by this subject."),
                param("volunteer_id", "query", json!({"type": "string", "format": "uuid"}), "Only entries naming this volunteer."),
                param("from", "query", json!({"type": "string", "format": "date-time"}), "Entries whose last request was at or after this instant."),
                param("to", "query", json!({"type": "string", "format": "date-time"}), "Entries whose first request was before this instant."),
                param("limit", "query", json!({"type": "integer", "minimum": 1, "maximum": 200}), "Page size."),
                param("cursor", "query", json!({"type": "string", "minLength": 1}), "`next_cursor` of the previous page."),
            ], None, responses(vec![(200, ok("A page", json!({"type": "object", "required": ["data", "next_cursor"], "properties": {
                "data": {"type": "array", "items": {"type": "object", "required": ["id", "at", "last_at", "subject", "action", "route", "volunteer_ids", "count", "query", "request_ids", "build"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "at": {"type": "string", "format": "date-time", "description": "The first request's time."},
                    "last_at": {"type": "string", "format": "date-time", "description": "The last request's time: one caller's requests through one route (and query) within about a second are one entry."},
                    "subject": {"type": "string"}, "action": {"type": "string", "enum": ["create", "update", "delete", "batch", "import", "read"]},
                    "route": {"type": "string", "description": "Method and route, like `GET /v1/volunteers/{id}`."},
                    "volunteer_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}, "description": "The volunteers named, each once (rows read or changed one by one, batches; empty for lists and imports)."},
                    "count": {"type": "integer", "description": "Volunteers changed or shown, all the entry's requests together."},
                    "query": {"type": ["string", "null"], "description": "The list query or import options."},
                    "request_ids": {"type": "array", "items": {"type": "string"}, "description": "The requests folded into the entry (at most 20,000; a busier second makes several entries)."}, "build": {"type": "string"}}}},
                "next_cursor": {"type": ["string", "null"]}}}), &[])), (400, problem(400))]))
        }));
        self.flags();
        let plain = |id: &str, summary: &str, schema: Value| {
            json!({"get": {"tags": ["operations"], "operationId": id, "summary": summary, "security": [],
            "responses": {"200": {"description": "OK", "content": json_body(schema)}}}})
        };
        self.paths.insert(
            "/health".into(),
            plain(
                "health",
                "Liveness: the process serves requests",
                json!({"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}),
            ),
        );
        let mut ready = plain(
            "ready",
            "Readiness: the store answers and the server is not draining (503 otherwise)",
            json!({"type": "object", "required": ["status", "draining", "checks"], "properties": {
            "status": {"type": "string", "enum": ["ready", "degraded", "unavailable", "draining"]}, "draining": {"type": "boolean"}, "checks": {"type": "object"}}}),
        );
        ready["get"]["responses"]["503"] =
            json!({"description": "Not ready", "content": json_body(json!({"type": "object"}))});
        self.paths.insert("/ready".into(), ready);
        self.paths.insert(
            "/version".into(),
            plain(
                "version",
                "Which build answers",
                json!({"type": "object", "required": ["version", "build", "commit"], "properties": {
            "version": {"type": "string"}, "build": {"type": "string"}, "commit": {"type": "string"}}}),
            ),
        );
        self.paths.insert("/openapi.json".into(), plain("openapi", "This document", json!({"type": "object"})));
    }
}

/// "a candidate", "an event".
fn a(entity: &str) -> String {
    let article = if entity.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {entity}")
}

impl Doc {
    /// Feature flags: the admin API, the caller's view, and OFREP (OpenFeature Remote
    /// Evaluation Protocol) outside `/v1`.
    fn flags(&mut self) {
        use muster_domain::flag::{MAX_DESCRIPTION, MAX_KEY_LEN, MAX_SUBJECTS, MAX_VARIANTS};
        let subjects = json!({"type": "array", "maxItems": MAX_SUBJECTS, "items": {"type": "string", "minLength": 1}});
        let spec = |required: bool| {
            let mut s = json!({"type": "object", "additionalProperties": false, "properties": {
                "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION},
                "enabled": {"type": "boolean"},
                "rollout_percent": {"type": "number", "minimum": 0, "maximum": 100, "description": "Two decimals at most."},
                "allow": subjects, "deny": subjects,
                "variants": {"type": "array", "maxItems": MAX_VARIANTS, "items": {"type": "object", "required": ["name", "weight"],
                    "properties": {"name": {"type": "string", "minLength": 1}, "weight": {"type": "integer", "minimum": 0}}}},
                "off_variant": {"type": ["string", "null"]}
            }});
            if required {
                s["required"] = json!(["enabled", "rollout_percent"]);
            }
            s
        };
        self.schemas.insert("FlagSpec".into(), spec(true));
        self.schemas.insert("FlagPatch".into(), spec(false));
        self.schemas.insert("Flag".into(), json!({"type": "object", "required": ["key", "enabled", "rollout_percent", "version", "updated_by", "updated_at"],
            "properties": {"key": {"type": "string"}, "enabled": {"type": "boolean"}, "rollout_percent": {"type": "number"},
                "version": {"type": "integer"}, "updated_by": {"type": "string"}, "updated_at": {"type": "string", "format": "date-time"}}}));
        let key = param(
            "key",
            "path",
            json!({"type": "string", "minLength": 1, "maxLength": MAX_KEY_LEN, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"}),
            "The flag's key.",
        );
        let page = json!({"type": "object", "required": ["data"], "properties": {"data": {"type": "array"}, "next_cursor": {"type": ["string", "null"]}}});
        let if_match = param(
            "If-Match",
            "header",
            json!({"type": "string", "pattern": r#"^(\*|\s*(W/)?"[^"]*"\s*(,\s*(W/)?"[^"]*"\s*)*)$"#}),
            "Only if the flag is still at this ETag.",
        );
        self.paths.insert("/v1/flags".into(), json!({
            "get": operation("flags", "my_flags", "The flags as they apply to the caller", "read", vec![], None,
                responses(vec![(200, ok("Each flag's value for the caller", json!({"type": "object", "required": ["subject", "flags"], "properties": {"subject": {"type": "string"}, "flags": {"type": "array"}}}), &["ETag"])), (304, json!({"description": "Unchanged"}))]))
        }));
        self.paths.insert("/v1/admin/flags".into(), json!({
            "get": operation("admin", "list_flags", "Every flag", "admin", vec![], None, responses(vec![(200, ok("All flags", page.clone(), &[]))]))
        }));
        self.paths.insert("/v1/admin/flags/{key}".into(), json!({
            "get": operation("admin", "get_flag", "A flag", "admin", vec![key.clone()], None,
                responses(vec![(200, ok("The flag", schema_ref("Flag"), &["ETag"])), (304, json!({"description": "Unchanged"})), (404, problem(404))])),
            "put": operation("admin", "put_flag", "Create or replace a flag", "admin", vec![key.clone(), if_match.clone()], Some(json_body(schema_ref("FlagSpec"))),
                responses(vec![(200, ok("Replaced", schema_ref("Flag"), &["ETag"])), (201, ok("Created", schema_ref("Flag"), &["ETag", "Location"])), (404, problem(404)), (409, problem(409)), (412, problem(412)), (413, problem(413)), (415, problem(415)), (422, problem(422))])),
            "patch": operation("admin", "patch_flag", "Change some settings of a flag", "admin", vec![key.clone(), if_match.clone()], Some(json_body(schema_ref("FlagPatch"))),
                responses(vec![(200, ok("Changed", schema_ref("Flag"), &["ETag"])), (404, problem(404)), (409, problem(409)), (412, problem(412)), (413, problem(413)), (415, problem(415)), (422, problem(422))])),
            "delete": operation("admin", "delete_flag", "Delete a flag (its audit trail stays)", "admin", vec![key.clone(), if_match], None,
                responses(vec![(204, json!({"description": "Deleted"})), (404, problem(404)), (409, problem(409)), (412, problem(412))]))
        }));
        let paging = vec![
            param("limit", "query", json!({"type": "integer", "minimum": 1, "maximum": 200}), "Page size."),
            param("cursor", "query", json!({"type": "string", "minLength": 1}), "`next_cursor` of the previous page."),
        ];
        self.paths.insert("/v1/admin/flags/{key}/changes".into(), json!({
            "get": operation("admin", "flag_changes", "A flag's audit trail", "admin", [vec![key], paging.clone()].concat(), None,
                responses(vec![(200, ok("Changes, newest first", page.clone(), &[])), (404, problem(404))]))
        }));
        self.paths.insert("/v1/admin/flag-changes".into(), json!({
            "get": operation("admin", "all_flag_changes", "Every flag change", "admin",
                [vec![param("key", "query", json!({"type": "string", "minLength": 1}), "Only this flag.")], paging].concat(), None,
                responses(vec![(200, ok("Changes, newest first", page, &[]))]))
        }));
        let ofrep_error = json!({"type": "object", "required": ["errorCode"], "properties": {
            "key": {"type": "string"}, "errorCode": {"type": "string", "enum": ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "FLAG_NOT_FOUND", "GENERAL"]},
            "errorDetails": {"type": "string"}}});
        let context = json!({"type": "object", "properties": {"context": {"type": "object", "properties": {"targetingKey": {"type": "string"}}}}});
        let success = json!({"type": "object", "required": ["key", "value", "reason"], "properties": {
            "key": {"type": "string"}, "value": {"type": ["boolean", "string"]},
            "reason": {"type": "string", "enum": ["STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED", "DEFAULT", "ERROR"]},
            "variant": {"type": "string"}, "metadata": {"type": "object"}}});
        let ofrep_key = param("key", "path", json!({"type": "string", "minLength": 1}), "The flag's key.");
        self.paths.insert("/ofrep/v1/evaluate/flags/{key}".into(), json!({
            "post": operation("flags", "ofrep_evaluate_flag", "OFREP: evaluate one flag", "read", vec![ofrep_key], Some(json_body(context.clone())),
                responses(vec![(200, ok("The evaluation", success, &[])),
                    (400, json!({"description": "OFREP error", "content": json_body(ofrep_error.clone())})),
                    (404, json!({"description": "FLAG_NOT_FOUND", "content": json_body(ofrep_error.clone())})),
                    (413, problem(413)), (415, problem(415))]))
        }));
        self.paths.insert("/ofrep/v1/evaluate/flags".into(), json!({
            "post": operation("flags", "ofrep_evaluate_flags", "OFREP: evaluate every flag", "read",
                vec![param("If-None-Match", "header", json!({"type": "string"}), "304 when nothing changed.")], Some(json_body(context)),
                responses(vec![(200, ok("Every evaluation", json!({"type": "object", "required": ["flags"], "properties": {"flags": {"type": "array"}}}), &["ETag"])),
                    (304, json!({"description": "Unchanged"})),
                    (400, json!({"description": "OFREP error", "content": json_body(ofrep_error)})), (413, problem(413)), (415, problem(415))]))
        }));
        // the evaluation context is optional: without it the caller's `sub` is the targeting key
        for path in ["/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags"] {
            self.paths[path]["post"]["requestBody"]["required"] = json!(false);
        }
        self.paths.insert("/ofrep/v1/configuration".into(), json!({
            "get": operation("flags", "ofrep_configuration", "OFREP: what this provider supports", "read", vec![], None,
                responses(vec![(200, ok("Capabilities", json!({"type": "object"}), &[]))]))
        }));
    }
}

fn list_schema(name: &str) -> Value {
    json!({"type": "object", "required": ["data", "next_cursor"], "properties": {
        "data": {"type": "array", "items": schema_ref(name)},
        "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last."},
        "missing": {"type": "array", "items": {"type": "string", "format": "uuid"}, "description": "Batch GET: requested ids that do not exist."}
    }})
}

fn batch_request(name: &str) -> Value {
    let if_match = json!({"type": "string", "description": "Like If-Match: only if the row is still at this ETag."});
    json!({"type": "object", "additionalProperties": false, "required": ["operations"], "properties": {
        "atomic": {"type": "boolean", "default": false, "description": "All or nothing."},
        "operations": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["op", "data"], "properties": {
                "op": {"const": "create"}, "data": schema_ref(&format!("{name}Create"))}},
            {"type": "object", "additionalProperties": false, "required": ["op", "id", "data"], "properties": {
                "op": {"const": "update"}, "id": {"type": "string", "format": "uuid"}, "data": schema_ref(&format!("{name}Patch")), "if_match": if_match}},
            {"type": "object", "additionalProperties": false, "required": ["op", "id"], "properties": {
                "op": {"const": "delete"}, "id": {"type": "string", "format": "uuid"}, "if_match": if_match}}
        ]}}
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        document(&BuildInfo { version: "0.0.0", build: "1".into(), commit: "test".into() })
    }

    #[test]
    fn every_reference_resolves() {
        let d = doc();
        let text = d.to_string();
        let refs = regex::Regex::new(r##""\$ref":"#/components/(\w+)/([\w-]+)""##).unwrap();
        let mut n = 0;
        for cap in refs.captures_iter(&text) {
            assert!(d["components"][&cap[1]].get(&cap[2]).is_some(), "dangling $ref {}/{}", &cap[1], &cap[2]);
            n += 1;
        }
        assert!(n > 50);
    }

    #[test]
    fn every_resource_filter_has_a_schema() {
        for (c, f) in [
            ("candidates", Candidate::FILTERS),
            ("volunteers", Volunteer::FILTERS),
            ("events", Event::FILTERS),
            ("attendances", Attendance::FILTERS),
        ] {
            let params = list_params(c, f);
            for filter in f {
                let p = params.iter().find(|p| p["name"] == *filter).unwrap_or_else(|| panic!("{c}: no ?{filter}"));
                assert_eq!(p["in"], "query");
                assert!(p["schema"]["type"].is_string(), "{c}: ?{filter} has no typed schema: {p}");
            }
        }
    }
}
