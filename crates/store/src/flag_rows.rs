//! Feature-flag rows as both SQL backends read them, and their conversion into domain
//! values (the flag counterpart of [`crate::rows`]).
//!
//! Lists and variants are JSON columns (jsonb on PostgreSQL, text on SQLite); a flag read
//! back is normalised again, so a row edited by hand still evaluates by the rules.

use crate::{FlagAction, FlagChange, StoreError};
use chrono::{DateTime, Utc};
use muster_domain::flag::{Flag, FlagKey, FlagSpec, Rollout, Variant};
use sqlx::types::Json;
use uuid::Uuid;

/// Column lists in the order the row types expect.
pub const FLAG_COLUMNS: &str = "key, description, enabled, rollout_hundredths, allow_list, deny_list, variants, \
     off_variant, version, created_at, updated_at, updated_by";
pub const FLAG_CHANGE_COLUMNS: &str = "id, flag_key, action, actor, at, before, after";

fn corrupt(what: &str, e: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} does not parse: {e}"))
}

#[derive(Debug, sqlx::FromRow)]
pub struct FlagRow {
    pub key: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub rollout_hundredths: i32,
    pub allow_list: Json<Vec<String>>,
    pub deny_list: Json<Vec<String>>,
    pub variants: Json<Vec<Variant>>,
    pub off_variant: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl TryFrom<FlagRow> for Flag {
    type Error = StoreError;
    fn try_from(r: FlagRow) -> Result<Self, StoreError> {
        let spec = FlagSpec {
            description: r.description,
            enabled: r.enabled,
            rollout_percent: Rollout::from_hundredths(i64::from(r.rollout_hundredths))
                .map_err(|e| corrupt("flag rollout", &e))?,
            allow: r.allow_list.0,
            deny: r.deny_list.0,
            variants: r.variants.0,
            off_variant: r.off_variant,
        };
        Ok(Flag {
            key: FlagKey::parse(&r.key).map_err(|e| corrupt("flag key", &e))?,
            spec: spec.normalized(),
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        })
    }
}

/// Converts rows, failing on the first that does not parse.
pub fn flags(rows: Vec<FlagRow>) -> Result<Vec<Flag>, StoreError> {
    rows.into_iter().map(Flag::try_from).collect()
}

#[derive(Debug, sqlx::FromRow)]
pub struct FlagChangeRow {
    pub id: Uuid,
    pub flag_key: String,
    pub action: String,
    pub actor: String,
    pub at: DateTime<Utc>,
    pub before: Option<Json<serde_json::Value>>,
    pub after: Option<Json<serde_json::Value>>,
}

impl TryFrom<FlagChangeRow> for FlagChange {
    type Error = StoreError;
    fn try_from(r: FlagChangeRow) -> Result<Self, StoreError> {
        Ok(FlagChange {
            id: r.id,
            key: r.flag_key,
            action: FlagAction::parse(&r.action).map_err(|e| corrupt("flag change action", &e))?,
            actor: r.actor,
            at: r.at,
            before: r.before.map(|j| j.0),
            after: r.after.map(|j| j.0),
        })
    }
}

/// The change record for a write: `before` and `after` as the admin API shows them,
/// stamped with the flag's own `updated_at` (or now, for a delete).
pub fn change(key: &str, action: FlagAction, actor: &str, before: Option<&Flag>, after: Option<&Flag>) -> FlagChange {
    let snapshot = |f: &Flag| serde_json::to_value(f).unwrap_or(serde_json::Value::Null);
    FlagChange {
        id: Uuid::now_v7(),
        key: key.to_owned(),
        action,
        actor: actor.to_owned(),
        at: after.map_or_else(muster_domain::now_micros, |f| f.updated_at),
        before: before.map(snapshot),
        after: after.map(snapshot),
    }
}
