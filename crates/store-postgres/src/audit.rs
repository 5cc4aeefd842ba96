//! The audit trail in PostgreSQL: the statements are `muster_store::audit_statements!`.

muster_store::audit_statements!(sqlx::Postgres, sqlx::PgConnection, crate::errors::map_err);
