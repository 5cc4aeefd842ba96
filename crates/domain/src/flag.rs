//! Feature flags: what an administrator stores about a flag, and (in [`eval`]) the pure rule
//! that decides what one subject gets from it.
//!
//! A flag is a boolean (on/off) unless it has variants, in which case it serves one of its
//! variant names to subjects it is on for and its `off_variant` to everyone else. Who it is
//! on for is decided by, in order: `enabled`, the deny list, the allow list, and the rollout
//! percentage over a stable hash of the flag key and the subject (see [`eval`]).
//!
//! The allow and deny lists are kept sorted and free of duplicates, so evaluation can
//! binary-search them: a flag with ten thousand beta testers costs a few comparisons.

pub mod eval;

pub use eval::{BUCKETS, Evaluation, Reason, bucket, evaluate, variant_point};

use crate::input::{Fields, int_in, kind, string};
use crate::{Patch, ValidationErrors};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest flag key.
pub const MAX_KEY_LEN: usize = 100;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 500;
/// Most subjects in each of the allow and deny lists.
pub const MAX_SUBJECTS: usize = 10_000;
/// Longest subject (a JWT `sub`, or an OpenFeature `targetingKey`).
pub const MAX_SUBJECT_LEN: usize = 256;
/// Most variants on one flag.
pub const MAX_VARIANTS: usize = 20;
/// Longest variant name.
pub const MAX_VARIANT_LEN: usize = 64;
/// Largest weight of one variant (weights are relative to their sum).
pub const MAX_WEIGHT: i64 = 1_000_000;
/// What a flag with variants serves when it is off, unless `off_variant` says otherwise.
pub const DEFAULT_OFF_VARIANT: &str = "off";

/// The fields a client may send (PUT and PATCH), in the order errors are reported.
pub const FIELDS: &[&str] = &["description", "enabled", "rollout_percent", "allow", "deny", "variants", "off_variant"];

/// Whether `s` is 1..=`max` characters of ASCII letters, digits, `-`, `_` and `.`, starting
/// with a letter or digit: safe in a URL path, a Prometheus label and a log line as it is.
fn is_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A flag's key (`csv-import`, `checkout.v2`). Case matters: OpenFeature keys are exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FlagKey(String);

impl FlagKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if is_name(raw, MAX_KEY_LEN) {
            Ok(FlagKey(raw.to_owned()))
        } else {
            Err(format!("must be 1 to {MAX_KEY_LEN} letters, digits, '-', '_' or '.', starting with a letter or digit"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FlagKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How much of the population a flag is on for, in hundredths of a percent (0..=10 000),
/// so `33.33` is exact and the integer compares directly with a subject's bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rollout(u16);

impl Rollout {
    pub const NONE: Rollout = Rollout(0);
    pub const ALL: Rollout = Rollout(10_000);

    /// From hundredths of a percent, as stored.
    pub fn from_hundredths(n: i64) -> Result<Self, String> {
        u16::try_from(n).ok().filter(|n| *n <= 10_000).map(Rollout).ok_or_else(|| "must be between 0 and 100".into())
    }

    /// From a JSON number of percent with at most two decimals (`25`, `2.5`, `33.33`).
    pub fn parse(v: &Value) -> Result<Self, String> {
        let pct = v.as_f64().ok_or_else(|| format!("must be a number of percent, not {}", kind(v)))?;
        if !(0.0..=100.0).contains(&pct) {
            return Err("must be between 0 and 100".into());
        }
        let hundredths = (pct * 100.0).round();
        // 33.33 * 100 is 3332.9999…; anything further from a whole number has a third decimal
        if (pct * 100.0 - hundredths).abs() > 1e-6 {
            return Err("may have at most two decimals (a rollout moves in steps of 0.01 %)".into());
        }
        // a whole number in 0..=10000 after the checks above, so the cast is exact
        Ok(Rollout(hundredths as u16))
    }

    pub fn hundredths(self) -> u16 {
        self.0
    }

    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl Serialize for Rollout {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.percent())
    }
}

/// One value a flag with variants can serve, and its share of the subjects the flag is on for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
}

/// What an administrator sets on a flag: everything but its key and bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagSpec {
    pub description: Option<String>,
    /// Off means off for everyone, the allow list included: the kill switch.
    pub enabled: bool,
    pub rollout_percent: Rollout,
    /// Subjects the flag is on for whatever the rollout (unless also denied); sorted.
    pub allow: Vec<String>,
    /// Subjects the flag is off for whatever else applies; sorted.
    pub deny: Vec<String>,
    /// Empty for a boolean flag.
    pub variants: Vec<Variant>,
    /// What a flag with variants serves when off; `None` exactly when it has no variants.
    pub off_variant: Option<String>,
}

impl FlagSpec {
    /// Reads a whole flag (PUT). `enabled` and `rollout_percent` are required, so shipping a
    /// flag is always a decision about both; the rest defaults to empty.
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let description = f.optional("description", description);
        let enabled = f.required("enabled", boolean);
        let rollout = f.required("rollout_percent", Rollout::parse);
        let allow = f.optional("allow", subjects);
        let deny = f.optional("deny", subjects);
        let variants = f.optional("variants", variants);
        let off_variant = f.optional("off_variant", variant_name);
        if off_variant.is_some() && variants.as_ref().is_none_or(Vec::is_empty) {
            f.error("off_variant", "only applies to a flag with variants");
        }
        f.finish(|| {
            FlagSpec {
                description,
                enabled: enabled.unwrap_or_default(),
                rollout_percent: rollout.unwrap_or_default(),
                allow: allow.unwrap_or_default(),
                deny: deny.unwrap_or_default(),
                variants: variants.unwrap_or_default(),
                off_variant,
            }
            .normalized()
        })
    }

    /// Restores the invariants: sorted, deduplicated lists; an `off_variant` exactly when
    /// there are variants. Rows read back from a store go through it too, in case a person
    /// edited one by hand.
    pub fn normalized(mut self) -> Self {
        for list in [&mut self.allow, &mut self.deny] {
            list.sort_unstable();
            list.dedup();
        }
        if self.variants.is_empty() {
            self.off_variant = None;
        } else if self.off_variant.is_none() {
            self.off_variant = Some(DEFAULT_OFF_VARIANT.to_owned());
        }
        self
    }

    /// Sum of the variant weights (0 for a boolean flag).
    pub fn total_weight(&self) -> u64 {
        self.variants.iter().map(|v| u64::from(v.weight)).sum()
    }
}

/// A change to some of a flag's settings (PATCH). Lists are replaced whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagPatch {
    pub description: Patch<Option<String>>,
    pub enabled: Patch<bool>,
    pub rollout_percent: Patch<Rollout>,
    pub allow: Patch<Vec<String>>,
    pub deny: Patch<Vec<String>>,
    pub variants: Patch<Vec<Variant>>,
    pub off_variant: Patch<Option<String>>,
}

impl FlagPatch {
    pub fn from_json(obj: &Map<String, Value>) -> Result<Self, ValidationErrors> {
        let mut f = Fields::new(obj, FIELDS);
        let p = FlagPatch {
            description: f.patch_nullable("description", description),
            enabled: f.patch("enabled", boolean),
            rollout_percent: f.patch("rollout_percent", Rollout::parse),
            allow: f.patch("allow", subjects),
            deny: f.patch("deny", subjects),
            variants: f.patch("variants", variants),
            off_variant: f.patch_nullable("off_variant", variant_name),
        };
        f.finish(|| p)
    }

    /// The spec with this patch applied. Removing every variant also drops the
    /// `off_variant`; setting an `off_variant` on a flag left without variants is refused.
    pub fn apply_to(self, mut spec: FlagSpec) -> Result<FlagSpec, ValidationErrors> {
        let explicit_off = matches!(self.off_variant, Patch::Set(Some(_)));
        self.description.apply(&mut spec.description);
        self.enabled.apply(&mut spec.enabled);
        self.rollout_percent.apply(&mut spec.rollout_percent);
        self.allow.apply(&mut spec.allow);
        self.deny.apply(&mut spec.deny);
        self.variants.apply(&mut spec.variants);
        self.off_variant.apply(&mut spec.off_variant);
        if explicit_off && spec.variants.is_empty() {
            return Err(ValidationErrors::single("off_variant", "only applies to a flag with variants"));
        }
        Ok(spec.normalized())
    }
}

/// A stored flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    pub key: FlagKey,
    #[serde(flatten)]
    pub spec: FlagSpec,
    /// Bumped by every change; the ETag is derived from it.
    pub version: i64,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::time::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The `sub` of the administrator who made the last change.
    pub updated_by: String,
}

impl Flag {
    pub fn create(key: FlagKey, spec: FlagSpec, actor: &str, now: DateTime<Utc>) -> Flag {
        Flag { key, spec, version: 1, created_at: now, updated_at: now, updated_by: actor.to_owned() }
    }

    /// Replaces the settings (PUT on an existing flag, or an applied patch).
    pub fn replace(&mut self, spec: FlagSpec, actor: &str, now: DateTime<Utc>) {
        self.spec = spec;
        self.version += 1;
        self.updated_at = now.max(self.updated_at);
        actor.clone_into(&mut self.updated_by);
    }

    /// What `subject` gets from this flag.
    pub fn evaluate(&self, subject: &str) -> Evaluation {
        evaluate(self.key.as_str(), &self.spec, subject)
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool().ok_or_else(|| format!("must be true or false, not {}", kind(v)))
}

fn description(v: &Value) -> Result<String, String> {
    crate::text::Text::parse(string(v)?, MAX_DESCRIPTION).map(crate::text::Text::into_string)
}

/// A subject as tokens and SDKs send it: compared exactly, so not trimmed or case-folded.
pub fn parse_subject(s: &str) -> Result<&str, String> {
    if s.is_empty() || s.len() > MAX_SUBJECT_LEN {
        return Err(format!("must be 1 to {MAX_SUBJECT_LEN} bytes"));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(s)
}

fn subjects(v: &Value) -> Result<Vec<String>, String> {
    let items = v.as_array().ok_or_else(|| format!("must be an array of subjects, not {}", kind(v)))?;
    if items.len() > MAX_SUBJECTS {
        return Err(format!("may list at most {MAX_SUBJECTS} subjects"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let s = item.as_str().ok_or_else(|| format!("entry {i} must be a string, not {}", kind(item)))?;
            parse_subject(s).map(str::to_owned).map_err(|m| format!("entry {i} {m}"))
        })
        .collect()
}

fn variant_name(v: &Value) -> Result<String, String> {
    let s = string(v)?;
    if is_name(s, MAX_VARIANT_LEN) {
        Ok(s.to_owned())
    } else {
        Err(format!("must be 1 to {MAX_VARIANT_LEN} letters, digits, '-', '_' or '.', starting with a letter or digit"))
    }
}

fn variants(v: &Value) -> Result<Vec<Variant>, String> {
    let items = v.as_array().ok_or_else(|| format!("must be an array of {{name, weight}}, not {}", kind(v)))?;
    if items.len() > MAX_VARIANTS {
        return Err(format!("may list at most {MAX_VARIANTS} variants"));
    }
    let mut out: Vec<Variant> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let obj = item.as_object().ok_or_else(|| format!("entry {i} must be an object {{name, weight}}"))?;
        if let Some(extra) = obj.keys().find(|k| *k != "name" && *k != "weight") {
            return Err(format!("entry {i} has an unknown field {extra:?}; a variant is {{name, weight}}"));
        }
        let name = obj.get("name").ok_or_else(|| format!("entry {i} needs a name"))?;
        let name = variant_name(name).map_err(|m| format!("entry {i} name {m}"))?;
        let weight = obj.get("weight").ok_or_else(|| format!("entry {i} needs a weight"))?;
        let weight = int_in(weight, 0, MAX_WEIGHT).map_err(|m| format!("entry {i} weight {m}"))?;
        if out.iter().any(|v| v.name == name) {
            return Err(format!("entry {i} repeats the name {name:?}"));
        }
        out.push(Variant { name, weight: u32::try_from(weight).expect("bounded by MAX_WEIGHT") });
    }
    if !out.is_empty() && out.iter().all(|v| v.weight == 0) {
        return Err("needs at least one variant with a weight above 0".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> Result<FlagSpec, ValidationErrors> {
        FlagSpec::from_json(v.as_object().unwrap())
    }

    fn fields(e: &ValidationErrors) -> Vec<&str> {
        e.0.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn keys() {
        for good in ["csv-import", "a", "checkout.v2", "List_Compact9"] {
            assert_eq!(FlagKey::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "-x", ".x", "has space", "ümlaut", "a/b", &"k".repeat(101)] {
            assert!(FlagKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rollout_has_two_decimals() {
        for (raw, hundredths) in
            [(json!(0), 0), (json!(25), 2500), (json!(2.5), 250), (json!(33.33), 3333), (json!(100), 10_000)]
        {
            assert_eq!(Rollout::parse(&raw).unwrap().hundredths(), hundredths, "{raw}");
        }
        for bad in [json!(-1), json!(100.01), json!(12.345), json!("25"), json!(null)] {
            assert!(Rollout::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_value(Rollout::parse(&json!(33.33)).unwrap()).unwrap(), json!(33.33));
    }

    #[test]
    fn whole_flag_defaults_and_normalises() {
        let s = spec(json!({"enabled": true, "rollout_percent": 10, "allow": ["b", "a", "b"]})).unwrap();
        assert_eq!(s.allow, ["a", "b"], "sorted, deduplicated");
        assert!(s.deny.is_empty() && s.variants.is_empty() && s.off_variant.is_none());
        let s =
            spec(json!({"enabled": true, "rollout_percent": 50, "variants": [{"name": "blue", "weight": 1}]})).unwrap();
        assert_eq!(s.off_variant.as_deref(), Some(DEFAULT_OFF_VARIANT));
    }

    #[test]
    fn every_problem_at_once() {
        let e = spec(json!({"rollout_percent": 101, "allow": ["ok", 3], "deny": "x", "off_variant": "control",
                            "variants": [{"name": "a", "weight": 0}], "colour": "red"}))
        .unwrap_err();
        let f = fields(&e);
        for name in ["enabled", "rollout_percent", "allow", "deny", "variants", "off_variant", "colour"] {
            assert!(f.contains(&name), "{name} missing from {f:?}");
        }
        let e = spec(json!({"enabled": true, "rollout_percent": 1,
                            "variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 2}]}))
        .unwrap_err();
        assert_eq!(fields(&e), ["variants"]);
    }

    #[test]
    fn patches_keep_invariants() {
        let base = spec(json!({"enabled": true, "rollout_percent": 5, "variants": [{"name": "a", "weight": 1}],
                               "off_variant": "control"}))
        .unwrap();
        let patch = |v: Value| FlagPatch::from_json(v.as_object().unwrap()).unwrap();
        let s = patch(json!({"rollout_percent": 50, "description": "wider"})).apply_to(base.clone()).unwrap();
        assert_eq!((s.rollout_percent.hundredths(), s.description.as_deref()), (5000, Some("wider")));
        assert_eq!(s.off_variant.as_deref(), Some("control"));
        let s = patch(json!({"variants": []})).apply_to(base.clone()).unwrap();
        assert_eq!(s.off_variant, None, "no variants, no off_variant");
        assert!(patch(json!({"variants": [], "off_variant": "x"})).apply_to(base).is_err());
        assert!(FlagPatch::from_json(json!({"enabled": null}).as_object().unwrap()).is_err());
    }
}
