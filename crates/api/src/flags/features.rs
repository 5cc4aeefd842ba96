//! The behaviours this server gates behind flags, and what each does while no flag with
//! its key is stored.
//!
//! A behaviour that already shipped (CSV import) defaults to on, so adding the gate changes
//! nothing until an administrator stores the flag: the flag is then a kill switch and a
//! way to narrow the feature to some callers. A new behaviour (the compact list format)
//! ships dark: off for everyone until a flag turns it on. Either way, once the flag exists
//! it alone decides, by the usual rules (`muster_domain::flag::eval`).

use crate::problem::ApiError;
use axum::http::StatusCode;

/// A behaviour gated by the flag `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub key: &'static str,
    /// Whether the behaviour is on while no flag `key` is stored.
    pub when_absent: bool,
    /// What it gates, for messages and `GET /v1/flags`.
    pub gates: &'static str,
}

/// `POST /v1/volunteers/import`.
pub const CSV_IMPORT: Feature =
    Feature { key: "csv-import", when_absent: true, gates: "CSV import of volunteers (POST /v1/volunteers/import)" };

/// `?format=compact` on every list.
pub const LIST_COMPACT: Feature =
    Feature { key: "list-compact", when_absent: false, gates: "the compact list format (?format=compact)" };

/// Every gated behaviour; each is evaluated (at its default) even before its flag is stored.
pub const FEATURES: &[Feature] = &[CSV_IMPORT, LIST_COMPACT];

/// The declared feature with this key.
pub fn declared(key: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.key == key)
}

/// The answer when a gated behaviour is off for the caller: to them the feature does not
/// exist yet, hence a 404 (with its own type, so a client can tell it from a bad path).
pub fn disabled(feature: &Feature) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "feature-disabled",
        "Feature disabled",
        format!("{} is not enabled for this caller (feature flag `{}`)", feature.gates, feature.key),
    )
}
