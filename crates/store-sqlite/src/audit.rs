//! The audit trail in SQLite: the statements are `muster_store::audit_statements!`.

muster_store::audit_statements!(sqlx::Sqlite, sqlx::SqliteConnection, crate::errors::map_err, names_volunteer);

/// A scan of each entry's `volunteer_ids` (SQLite has no index for it; the embedded store is
/// for small deployments).
fn names_volunteer(qb: &mut sqlx::QueryBuilder<'_, sqlx::Sqlite>, v: uuid::Uuid) {
    qb.push("EXISTS (SELECT 1 FROM json_each(audit_log.volunteer_ids) WHERE json_each.value = ")
        .push_bind(v.to_string())
        .push(")");
}
