//! JSON Schemas of the four resources: the row a client reads, the body it creates with,
//! and the patch it sends. Field lists and enums come from `muster-domain`, and the tests
//! below check the schemas against what the domain accepts and what the API returns, so
//! they cannot drift apart.

use muster_domain::attendance::AttendanceStatus;
use muster_domain::candidate::CandidateStatus;
use muster_domain::event::{EventStatus, EventType, MAX_CAPACITY, Visibility};
use serde_json::{Map, Value, json};

fn enum_of(values: impl IntoIterator<Item = &'static str>) -> Value {
    json!({"type": "string", "enum": values.into_iter().collect::<Vec<_>>()})
}

fn nullable(mut schema: Value) -> Value {
    match schema.get("type").cloned() {
        Some(Value::String(t)) => schema["type"] = json!([t, "null"]),
        _ => schema = json!({"anyOf": [schema, {"type": "null"}]}),
    }
    if let Some(e) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        e.push(Value::Null);
    }
    schema
}

fn text(max: u32) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max})
}
fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}
fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}
fn url() -> Value {
    json!({"type": "string", "format": "uri", "maxLength": 2048, "pattern": "^https?://"})
}

/// The fields every stored row has besides its own.
fn meta(props: &mut Map<String, Value>) {
    props.insert("id".into(), uuid());
    props.insert(
        "version".into(),
        json!({"type": "integer", "minimum": 1, "description": "Bumped by every change; the ETag is \"v<version>\"."}),
    );
    props.insert("created_at".into(), timestamp());
    props.insert("updated_at".into(), timestamp());
}

/// A resource's writable fields: (name, schema, nullable, required on create).
pub struct Field {
    pub name: &'static str,
    pub schema: Value,
    pub nullable: bool,
    pub required: bool,
}

fn f(name: &'static str, schema: Value, nullable: bool, required: bool) -> Field {
    Field { name, schema, nullable, required }
}

pub fn candidate_fields() -> Vec<Field> {
    vec![
        f("name", text(200), false, true),
        f("office", text(200), false, true),
        f("district", text(100), true, false),
        f("party", text(100), true, false),
        f("election_date", json!({"type": "string", "format": "date"}), true, false),
        f("status", enum_of(CandidateStatus::ALL.iter().map(|s| s.as_str())), false, false),
        f("website", url(), true, false),
    ]
}

pub fn volunteer_fields() -> Vec<Field> {
    vec![
        f("first_name", text(100), false, true),
        f("last_name", text(100), false, true),
        f(
            "email",
            json!({"type": "string", "format": "email", "maxLength": 254, "description": "Unique, ignoring case. Shown only to tokens with the `contacts` scope (or `admin`); others get it masked, like `a***@example.org`."}),
            false,
            true,
        ),
        f(
            "phone",
            json!({"type": "string", "description": "E.164 after normalising; common US formats like (415) 555-0132 are accepted. Shown only to tokens with the `contacts` scope (or `admin`); others get it masked, like `+1******0132`.", "examples": ["+14155550132"]}),
            true,
            false,
        ),
        f("zip_code", json!({"type": "string", "pattern": "^[0-9]{5}(-?[0-9]{4})?$"}), true, false),
        f("candidate_id", uuid(), true, false),
        f(
            "tags",
            json!({"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 32, "description": "letters, digits, - and _; lower-cased"}}),
            false,
            false,
        ),
    ]
}

fn location() -> Value {
    let part = |max| json!({"type": ["string", "null"], "maxLength": max});
    json!({"type": "object", "additionalProperties": false, "minProperties": 1, "properties": {
        "venue": part(200), "address": part(300), "city": part(100),
        "state": {"type": ["string", "null"], "pattern": "^[A-Za-z]{2}$"},
        "zip_code": {"type": ["string", "null"], "pattern": "^[0-9]{5}(-?[0-9]{4})?$"}}})
}

pub fn event_fields() -> Vec<Field> {
    vec![
        f("candidate_id", uuid(), false, true),
        f("title", text(200), false, true),
        f("description", text(5000), true, false),
        f("event_type", enum_of(EventType::ALL.iter().map(|s| s.as_str())), false, true),
        f("starts_at", timestamp(), false, true),
        f(
            "ends_at",
            json!({"type": "string", "format": "date-time", "description": "After starts_at, at most 31 days later."}),
            false,
            true,
        ),
        f(
            "timezone",
            json!({"type": "string", "description": "IANA time zone name", "default": "UTC", "examples": ["America/Chicago"]}),
            false,
            false,
        ),
        f("location", location(), true, false),
        f("virtual_url", url(), true, false),
        f(
            "capacity",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_CAPACITY, "description": "Seats; null for unlimited."}),
            true,
            false,
        ),
        f("visibility", enum_of(Visibility::ALL.iter().map(|s| s.as_str())), false, false),
        f("status", enum_of(EventStatus::ALL.iter().map(|s| s.as_str())), false, false),
    ]
}

pub fn attendance_fields() -> Vec<Field> {
    vec![f("event_id", uuid(), false, true), f("volunteer_id", uuid(), false, true)]
}

pub fn attendance_patch_fields() -> Vec<Field> {
    vec![f("status", enum_of(AttendanceStatus::ALL.iter().map(|s| s.as_str())), false, false)]
}

/// The body of a create.
pub fn create(fields: &[Field]) -> Value {
    let props: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.to_owned(), if f.nullable { nullable(f.schema.clone()) } else { f.schema.clone() }))
        .collect();
    let required: Vec<&str> = fields.iter().filter(|f| f.required).map(|f| f.name).collect();
    json!({"type": "object", "additionalProperties": false, "properties": props, "required": required})
}

/// The body of a PATCH: any subset; null clears a nullable field.
pub fn patch(fields: &[Field]) -> Value {
    let props: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.to_owned(), if f.nullable { nullable(f.schema.clone()) } else { f.schema.clone() }))
        .collect();
    json!({"type": "object", "additionalProperties": false, "properties": props})
}

/// A stored row as the API returns it: every field present, nullable ones may be null.
pub fn row(fields: &[Field], extra: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    meta(&mut props);
    for f in fields {
        // constraints are for input; output is described by type only (a row may predate a rule)
        let mut s = f.schema.clone();
        if let Some(o) = s.as_object_mut() {
            for k in [
                "minLength",
                "maxLength",
                "pattern",
                "minimum",
                "maximum",
                "maxItems",
                "minProperties",
                "default",
                "examples",
            ] {
                o.remove(k);
            }
            if f.name == "email" || f.name.ends_with("url") || f.name == "website" {
                o.remove("format");
            }
        }
        props.insert(f.name.to_owned(), if f.nullable { nullable(s) } else { s });
    }
    for (k, v) in extra {
        props.insert((*k).to_owned(), v.clone());
    }
    let required: Vec<String> = props.keys().cloned().collect();
    json!({"type": "object", "properties": props, "required": required})
}

pub fn attendance_row() -> Value {
    row(
        &attendance_fields(),
        &[
            ("status", enum_of(AttendanceStatus::ALL.iter().map(|s| s.as_str()))),
            ("checked_in_at", json!({"type": ["string", "null"], "format": "date-time"})),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::{attendance, candidate, event, volunteer};

    fn names(fields: &[Field]) -> Vec<&'static str> {
        fields.iter().map(|f| f.name).collect()
    }

    #[test]
    fn schemas_list_exactly_the_fields_the_domain_accepts() {
        assert_eq!(names(&candidate_fields()), candidate::FIELDS);
        assert_eq!(names(&volunteer_fields()), volunteer::FIELDS);
        assert_eq!(names(&event_fields()), event::FIELDS);
        assert_eq!(names(&attendance_fields()), attendance::FIELDS);
        assert_eq!(names(&attendance_patch_fields()), attendance::PATCH_FIELDS);
    }

    /// The required fields are exactly those whose absence the domain refuses.
    #[test]
    fn required_fields_match_the_domain() {
        let check = |fields: Vec<Field>, parse: &dyn Fn(&Map<String, Value>) -> Vec<String>| {
            let missing = parse(&Map::new());
            let mut want: Vec<String> = fields.iter().filter(|f| f.required).map(|f| f.name.to_owned()).collect();
            let mut got = missing;
            want.sort();
            got.sort();
            assert_eq!(got, want);
        };
        let fields = |e: muster_domain::ValidationErrors| e.0.into_iter().map(|x| x.field).collect::<Vec<_>>();
        check(candidate_fields(), &|o| candidate::NewCandidate::from_json(o).err().map(fields).unwrap_or_default());
        check(volunteer_fields(), &|o| volunteer::NewVolunteer::from_json(o).err().map(fields).unwrap_or_default());
        check(event_fields(), &|o| event::NewEvent::from_json(o).err().map(fields).unwrap_or_default());
        check(attendance_fields(), &|o| attendance::NewAttendance::from_json(o).err().map(fields).unwrap_or_default());
    }
}
