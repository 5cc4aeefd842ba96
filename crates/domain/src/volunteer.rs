//! Volunteers: people who sign up to help a campaign.

use crate::input::{Fields, kind, uuid, with};
use crate::text::Text;
use crate::{Email, Patch, Phone, ValidationErrors, ZipCode};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// A stored volunteer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Volunteer {
    pub id: Uuid,
    pub first_name: Text,
    pub last_name: Text,
    pub email: Email,
    pub phone: Option<Phone>,
    pub zip_code: Option<ZipCode>,
    pub candidate_id: Option<Uuid>,
    pub tags: Vec<Tag>,
    pub version: i64,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// A short label (`spanish`, `driver`): 1..=32 characters of letters, digits, `-`, `_`,
/// lower-cased so filters match regardless of how it was typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() || s.chars().count() > 32 {
            return Err(format!("tag {raw:?} must be 1 to 32 characters"));
        }
        if !s.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("tag {raw:?} may hold only letters, digits, - and _"));
        }
        Ok(Self(s))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 20 distinct tags, in the order given.
fn tags(v: &Value) -> Result<Vec<Tag>, String> {
    let items = v.as_array().ok_or_else(|| format!("must be an array of strings, not {}", kind(v)))?;
    if items.len() > 20 {
        return Err("at most 20 tags".into());
    }
    let mut out: Vec<Tag> = Vec::with_capacity(items.len());
    for item in items {
        let raw = item.as_str().ok_or_else(|| format!("each tag must be a string, not {}", kind(item)))?;
        let tag = Tag::parse(raw)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// A valid volunteer to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVolunteer {
    pub first_name: Text,
    pub last_name: Text,
    pub email: Email,
    pub phone: Option<Phone>,
    pub zip_code: Option<ZipCode>,
    pub candidate_id: Option<Uuid>,
    pub tags: Vec<Tag>,
}

/// A valid partial update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VolunteerPatch {
    pub first_name: Patch<Text>,
    pub last_name: Patch<Text>,
    pub email: Patch<Email>,
    pub phone: Patch<Option<Phone>>,
    pub zip_code: Patch<Option<ZipCode>>,
    pub candidate_id: Patch<Option<Uuid>>,
    pub tags: Patch<Vec<Tag>>,
}

/// The fields a client may send, in the order errors are reported.
pub const FIELDS: &[&str] = &["first_name", "last_name", "email", "phone", "zip_code", "candidate_id", "tags"];

fn person_name(v: &Value) -> Result<Text, String> {
    with(|s| Text::parse(s, 100))(v)
}

impl NewVolunteer {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let first_name = f.required("first_name", person_name);
        let last_name = f.required("last_name", person_name);
        let email = f.required("email", with(Email::parse));
        let phone = f.optional("phone", with(Phone::parse));
        let zip_code = f.optional("zip_code", with(ZipCode::parse));
        let candidate_id = f.optional("candidate_id", uuid);
        let tags = f.optional("tags", tags);
        f.finish(|| NewVolunteer {
            first_name: first_name.expect("checked"),
            last_name: last_name.expect("checked"),
            email: email.expect("checked"),
            phone,
            zip_code,
            candidate_id,
            tags: tags.unwrap_or_default(),
        })
    }
}

impl VolunteerPatch {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let p = VolunteerPatch {
            first_name: f.patch("first_name", person_name),
            last_name: f.patch("last_name", person_name),
            email: f.patch("email", with(Email::parse)),
            phone: f.patch_nullable("phone", with(Phone::parse)),
            zip_code: f.patch_nullable("zip_code", with(ZipCode::parse)),
            candidate_id: f.patch_nullable("candidate_id", uuid),
            tags: f.patch("tags", tags),
        };
        f.finish(|| p)
    }
}

impl Volunteer {
    pub fn create(new: NewVolunteer, id: Uuid, now: DateTime<Utc>) -> Self {
        Volunteer {
            id,
            first_name: new.first_name,
            last_name: new.last_name,
            email: new.email,
            phone: new.phone,
            zip_code: new.zip_code,
            candidate_id: new.candidate_id,
            tags: new.tags,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn apply(&mut self, p: VolunteerPatch, now: DateTime<Utc>) {
        p.first_name.apply(&mut self.first_name);
        p.last_name.apply(&mut self.last_name);
        p.email.apply(&mut self.email);
        p.phone.apply(&mut self.phone);
        p.zip_code.apply(&mut self.zip_code);
        p.candidate_id.apply(&mut self.candidate_id);
        p.tags.apply(&mut self.tags);
        self.version += 1;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_normalises() {
        let v = json!({"first_name": "Ana", "last_name": "Garcia", "email": "Ana@Example.org",
                       "phone": "(415) 555-0132", "zip_code": "02139", "tags": ["Spanish", "driver", "spanish"]});
        let n = NewVolunteer::from_json(v.as_object().unwrap()).unwrap();
        assert_eq!(n.phone.unwrap().as_str(), "+14155550132");
        assert_eq!(n.tags.iter().map(Tag::as_str).collect::<Vec<_>>(), ["spanish", "driver"]);
        assert_eq!(n.email.normalized(), "ana@example.org");
    }

    #[test]
    fn every_bad_field_is_named() {
        let v = json!({"first_name": "", "email": "nope", "phone": "12", "zip_code": "1", "candidate_id": "x",
                       "tags": ["ok", "not ok"]});
        let e = NewVolunteer::from_json(v.as_object().unwrap()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["first_name", "last_name", "email", "phone", "zip_code", "candidate_id", "tags"]);
    }
}
