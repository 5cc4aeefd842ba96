//! PostgreSQL errors in the store's terms: constraint names become client-safe conflicts
//! and field errors; connection trouble becomes `Unavailable`; the rest stays internal.

use muster_store::StoreError;
use uuid::Uuid;

/// Maps a driver error with no more context than the constraint names give.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match (code.as_ref(), db.constraint()) {
                ("23505", Some("volunteers_email_key")) => {
                    StoreError::Conflict("a volunteer with this email already exists".into())
                }
                ("23505", Some("attendances_event_volunteer_key")) => {
                    StoreError::Conflict("this volunteer is already signed up for this event".into())
                }
                // serialization failure, deadlock, too many connections, cancelled (the
                // statement timeout), shutting down
                ("40001" | "40P01" | "53300" | "57014" | "57P01" | "57P03", _) => {
                    StoreError::Unavailable(db.to_string())
                }
                _ => StoreError::Internal(db.to_string()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// A foreign key this write may break: the constraint, the input field, and the id given.
pub struct Reference<'a> {
    pub constraint: &'a str,
    pub field: &'a str,
    pub entity: &'a str,
    pub id: Option<Uuid>,
}

/// Maps an insert/update error, turning a broken reference into a 422 naming the field.
pub fn map_write(e: sqlx::Error, refs: &[Reference<'_>]) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.code().as_deref() == Some("23503")
        && let Some(r) = refs.iter().find(|r| Some(r.constraint) == db.constraint())
        && let Some(id) = r.id
    {
        return StoreError::missing_reference(r.field, r.entity, id);
    }
    map_err(e)
}

/// Maps a delete error: a row still referenced is a conflict the client can resolve.
pub fn map_delete(e: sqlx::Error, message: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.code().as_deref() == Some("23503")
    {
        return StoreError::Conflict(message.to_owned());
    }
    map_err(e)
}
