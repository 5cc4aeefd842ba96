//! Feature-flag rows as both SQL backends read them, and their conversion into domain
//! values (the flag counterpart of [`crate::rows`]).
//!
//! Lists and variants are JSON columns (jsonb on PostgreSQL, text on SQLite); a flag read
//! back is normalised again, so a row edited by hand still evaluates by the rules.

use crate::row_type::row_type;
use crate::{FlagAction, FlagChange, StoreError};
use chrono::{DateTime, Utc};
use muster_domain::flag::{Flag, FlagKey, FlagSpec, Rollout, Variant};
use sqlx::types::Json;
use uuid::Uuid;

fn corrupt(what: &str, e: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} does not parse: {e}"))
}

row_type! {
    pub struct FlagRow, FLAG_COLUMNS {
        key: String,
        description: Option<String>,
        enabled: bool,
        rollout_hundredths: i32,
        allow_list: Json<Vec<String>>,
        deny_list: Json<Vec<String>>,
        variants: Json<Vec<Variant>>,
        off_variant: Option<String>,
        version: i64,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
        updated_by: String,
    }
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

row_type! {
    pub struct FlagChangeRow, FLAG_CHANGE_COLUMNS {
        id: Uuid,
        flag_key: String,
        action: String,
        actor: String,
        at: DateTime<Utc>,
        before: Option<Json<serde_json::Value>>,
        after: Option<Json<serde_json::Value>>,
    }
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
