//! The audit trail in SQLite: the statements are `muster_store::audit_statements!`.

muster_store::audit_statements!(sqlx::Sqlite, sqlx::SqliteConnection, crate::errors::map_err);
