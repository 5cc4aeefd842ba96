//! What can go wrong in a store, in terms the API can answer with a status code.

use muster_domain::ValidationErrors;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row of that kind with that id (`entity` is singular: "volunteer").
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// The write clashes with what is stored (a duplicate, a referenced row, a forbidden
    /// status change); the message is safe to show a client.
    #[error("{0}")]
    Conflict(String),
    /// The input is well-formed but wrong against stored data (a reference to a missing
    /// row, an event window broken by a partial update).
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// `If-Match` named a version that is no longer current.
    #[error("the {entity} has changed since version {expected}")]
    PreconditionFailed { entity: &'static str, expected: i64 },
    /// The database cannot be reached or is overloaded; worth a retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the message is for logs only.
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn missing_reference(field: &str, entity: &str, id: uuid::Uuid) -> Self {
        StoreError::Invalid(ValidationErrors::single(field, format!("no {entity} with id {id}")))
    }
}
