//! Migrations on a real PostgreSQL: an older release starts on a schema a newer one has
//! migrated further; a migration that failed half way still stops start-up.

use muster_store_postgres::testing::fresh_store;

#[tokio::test]
async fn an_older_release_starts_on_a_newer_schema_but_not_on_a_half_applied_one() {
    let store = fresh_store().await;
    let mut conn = store.connection().await.expect("a connection");
    let ours: i64 =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations").fetch_one(&mut *conn).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99991231000000, 'from a newer release', true, '\\x00'::bytea, 0)",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    store.migrate().await.expect("a newer release's migration does not stop this one");

    sqlx::query("UPDATE _sqlx_migrations SET success = false WHERE version = $1")
        .bind(ours)
        .execute(&mut *conn)
        .await
        .unwrap();
    let err = store.migrate().await.expect_err("a half-applied migration is not skipped");
    assert!(err.to_string().contains("partially applied"), "{err}");
}
