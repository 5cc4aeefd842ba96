//! Batches: many creates, updates and deletes of one resource in one call.
//!
//! Items run in order and see each other (two creates with one email: the second is a
//! conflict). Not atomic: each item succeeds or fails alone, in a savepoint of one
//! transaction. Atomic: the first failing item undoes everything. Either way a store
//! outage fails the whole call and writes nothing.

use crate::{Expected, StoreError};
use uuid::Uuid;

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOp<N, P> {
    Create(N),
    Update { id: Uuid, patch: P, expected: Expected },
    Delete { id: Uuid, expected: Expected },
}

/// What one item did: the row it created or changed, or `None` for a delete.
pub type ItemResult<T> = Result<Option<T>, StoreError>;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOptions {
    /// All or nothing.
    pub atomic: bool,
    /// Run everything, report the results, then roll back (CSV import's validation pass).
    pub dry_run: bool,
}

/// Why a whole batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Atomic mode: item `index` failed, so nothing was written.
    #[error("item {index} failed: {error}")]
    Aborted { index: usize, error: StoreError },
    /// The store failed (unavailable, internal); nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StoreError {
    /// Whether this error belongs to one item (its input or its row), rather than to the
    /// store as a whole.
    pub fn is_item_error(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound { .. }
                | StoreError::Conflict(_)
                | StoreError::Invalid(_)
                | StoreError::PreconditionFailed { .. }
        )
    }
}
