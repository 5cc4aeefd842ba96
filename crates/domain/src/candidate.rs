//! Candidates: the people whose campaigns volunteers sign up for.

use crate::input::{Fields, with};
use crate::text::{Text, parse_web_url};
use crate::{Patch, ValidationErrors, wire_enum};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

wire_enum!(
    /// Where a candidacy stands.
    CandidateStatus { Active => "active", Withdrawn => "withdrawn", Won => "won", Lost => "lost" }
);

/// A stored candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: Uuid,
    pub name: Text,
    pub office: Text,
    pub district: Option<Text>,
    pub party: Option<Text>,
    pub election_date: Option<NaiveDate>,
    pub status: CandidateStatus,
    pub website: Option<String>,
    /// Bumped by every change; the ETag is derived from it.
    pub version: i64,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// A valid candidate to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCandidate {
    pub name: Text,
    pub office: Text,
    pub district: Option<Text>,
    pub party: Option<Text>,
    pub election_date: Option<NaiveDate>,
    pub status: CandidateStatus,
    pub website: Option<String>,
}

/// A valid partial update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidatePatch {
    pub name: Patch<Text>,
    pub office: Patch<Text>,
    pub district: Patch<Option<Text>>,
    pub party: Patch<Option<Text>>,
    pub election_date: Patch<Option<NaiveDate>>,
    pub status: Patch<CandidateStatus>,
    pub website: Patch<Option<String>>,
}

/// The fields a client may send, in the order errors are reported.
pub const FIELDS: &[&str] = &["name", "office", "district", "party", "election_date", "status", "website"];

fn name(v: &Value) -> Result<Text, String> {
    with(|s| Text::parse(s, 200))(v)
}
fn short(v: &Value) -> Result<Text, String> {
    with(|s| Text::parse(s, 100))(v)
}
fn date(v: &Value) -> Result<NaiveDate, String> {
    with(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| "must be a date like 2026-11-03".to_owned()))(v)
}

impl NewCandidate {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let name_ = f.required("name", name);
        let office = f.required("office", name);
        let district = f.optional("district", short);
        let party = f.optional("party", short);
        let election_date = f.optional("election_date", date);
        let status = f.optional("status", with(CandidateStatus::parse));
        let website = f.optional("website", with(parse_web_url));
        f.finish(|| NewCandidate {
            name: name_.expect("checked"),
            office: office.expect("checked"),
            district,
            party,
            election_date,
            status: status.unwrap_or(CandidateStatus::Active),
            website,
        })
    }
}

impl CandidatePatch {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let p = CandidatePatch {
            name: f.patch("name", name),
            office: f.patch("office", name),
            district: f.patch_nullable("district", short),
            party: f.patch_nullable("party", short),
            election_date: f.patch_nullable("election_date", date),
            status: f.patch("status", with(CandidateStatus::parse)),
            website: f.patch_nullable("website", with(parse_web_url)),
        };
        f.finish(|| p)
    }
}

impl Candidate {
    /// A new candidate as it will be stored.
    pub fn create(new: NewCandidate, id: Uuid, now: DateTime<Utc>) -> Self {
        Candidate {
            id,
            name: new.name,
            office: new.office,
            district: new.district,
            party: new.party,
            election_date: new.election_date,
            status: new.status,
            website: new.website,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a patch; the caller stores the result.
    pub fn apply(&mut self, p: CandidatePatch, now: DateTime<Utc>) {
        p.name.apply(&mut self.name);
        p.office.apply(&mut self.office);
        p.district.apply(&mut self.district);
        p.party.apply(&mut self.party);
        p.election_date.apply(&mut self.election_date);
        p.status.apply(&mut self.status);
        p.website.apply(&mut self.website);
        self.version += 1;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn create_defaults_and_requires() {
        let c = NewCandidate::from_json(&obj(json!({"name": " Maria Lopez ", "office": "Mayor"}))).unwrap();
        assert_eq!(c.name.as_str(), "Maria Lopez");
        assert_eq!(c.status, CandidateStatus::Active);
        let e = NewCandidate::from_json(&obj(json!({"office": 3, "status": "winning", "website": "x"}))).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["name", "office", "status", "website"]);
    }

    #[test]
    fn patch_clears_and_bumps_version() {
        let new = NewCandidate::from_json(&obj(json!({"name": "A", "office": "B", "party": "Green"}))).unwrap();
        let now = Utc::now();
        let mut c = Candidate::create(new, Uuid::now_v7(), now);
        let p = CandidatePatch::from_json(&obj(json!({"party": null, "status": "won"}))).unwrap();
        c.apply(p, now);
        assert_eq!(c.party, None);
        assert_eq!(c.status, CandidateStatus::Won);
        assert_eq!(c.version, 2);
        assert!(CandidatePatch::from_json(&obj(json!({"name": null}))).is_err());
        assert!(CandidatePatch::from_json(&obj(json!({"election_date": "2026-02-30"}))).is_err());
    }
}
