//! Migrations for both SQL backends: skip the migrator when nothing is pending, and let an
//! older release run against a schema a newer one has already migrated.

use sqlx::migrate::{Migration, Migrator};

/// The query that lists what `_sqlx_migrations` says was applied.
pub const APPLIED: &str = "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version";

/// `migrator` with `ignore_missing` set: migrations in the database that this binary does
/// not know (applied by a newer release) do not stop it. Migrations only add what an older
/// release can ignore (tables, nullable or defaulted columns, indexes), so during a rolling
/// deploy, or after a rollback, the older release keeps serving.
pub fn tolerant(mut migrator: Migrator) -> Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// True when every migration of `migrator` is applied, successfully and unchanged, per
/// `applied` (rows of [`APPLIED`]). Then start-up needs no lock and no DDL: one query.
/// Anything else (a pending or failed migration, an edited one) is left to the migrator,
/// which applies or reports it.
pub fn up_to_date<'a>(migrations: impl IntoIterator<Item = &'a Migration>, applied: &[(i64, Vec<u8>, bool)]) -> bool {
    migrations.into_iter().all(|m| {
        applied.binary_search_by_key(&m.version, |a| a.0).is_ok_and(|i| applied[i].2 && applied[i].1 == *m.checksum)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::migrate::MigrationType;
    use std::borrow::Cow;

    fn migration(version: i64, sql: &'static str) -> Migration {
        Migration::new(version, Cow::Borrowed("m"), MigrationType::Simple, Cow::Borrowed(sql), false)
    }

    #[test]
    fn current_only_when_each_migration_is_applied_unchanged_and_successfully() {
        let m = [migration(1, "CREATE TABLE a (x int)"), migration(2, "CREATE TABLE b (x int)")];
        let row = |i: usize, ok: bool| (m[i].version, m[i].checksum.to_vec(), ok);
        assert!(up_to_date(&m, &[row(0, true), row(1, true)]));
        assert!(!up_to_date(&m, &[row(0, true)]), "2 is pending");
        assert!(!up_to_date(&m, &[]), "a new database");
        assert!(!up_to_date(&m, &[row(0, true), row(1, false)]), "2 failed half way");
        let edited = (2, migration(2, "CREATE TABLE b (y int)").checksum.to_vec(), true);
        assert!(!up_to_date(&m, &[row(0, true), edited]), "2 was edited after it ran");
        let newer = (3, vec![0u8; 48], true);
        assert!(up_to_date(&m, &[row(0, true), row(1, true), newer]), "a newer release's migration is no concern");
    }
}
