//! SQLite errors in the store's terms: unique violations become client-safe conflicts,
//! a busy or unreachable database becomes `Unavailable`, the rest stays internal.
//!
//! SQLite names no constraint in its errors, only columns ("UNIQUE constraint failed:
//! volunteers.email_normalized"), and a foreign-key failure names nothing at all. So the
//! unique index is told apart by the columns in the message, and broken references on
//! insert/update are caught before writing (see `common::require`), never from the error.

use muster_store::StoreError;

/// Extended result codes, as `DatabaseError::code` renders them.
const UNIQUE: &str = "2067";
const PRIMARY_KEY: &str = "1555";
const FOREIGN_KEY: &str = "787";

/// Client-safe messages for the unique indexes a client can run into, keyed by the first
/// column SQLite reports for each.
const UNIQUE_CONFLICTS: &[(&str, &str)] = &[
    ("volunteers.email_normalized", "a volunteer with this email already exists"),
    ("attendances.event_id", "this volunteer is already signed up for this event"),
];

/// Maps a driver error with no more context than the error itself gives.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if matches!(code.as_ref(), UNIQUE | PRIMARY_KEY)
                && let Some((_, message)) = UNIQUE_CONFLICTS.iter().find(|(cols, _)| db.message().contains(cols))
            {
                return StoreError::Conflict((*message).to_owned());
            }
            if unavailable(&code) {
                StoreError::Unavailable(db.to_string())
            } else {
                StoreError::Internal(db.to_string())
            }
        }
        e @ (sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed) => {
            StoreError::Unavailable(e.to_string())
        }
        e => StoreError::Internal(e.to_string()),
    }
}

/// Result codes worth a retry: the database is busy or locked (5, 6 and their extended
/// codes such as 517 BUSY_SNAPSHOT), the disk failed or is full (10, 13), or the file
/// cannot be opened (14). The primary code is the low byte of the extended one.
fn unavailable(code: &str) -> bool {
    code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
}

/// Maps a delete error: a row still referenced is a conflict the client can resolve.
pub fn map_delete(e: sqlx::Error, message: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.code().as_deref() == Some(FOREIGN_KEY)
    {
        return StoreError::Conflict(message.to_owned());
    }
    map_err(e)
}
