//! The audit trail in PostgreSQL: the statements are `muster_store::audit_statements!`.

muster_store::audit_statements!(sqlx::Postgres, sqlx::PgConnection, crate::errors::map_err, names_volunteer);

/// `volunteer_ids @> '["…"]'`, which the GIN index answers.
fn names_volunteer(qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>, v: uuid::Uuid) {
    qb.push("volunteer_ids @> ").push_bind(sqlx::types::Json([v]));
}
