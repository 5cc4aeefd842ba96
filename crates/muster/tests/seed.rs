//! `muster seed` on PostgreSQL: into empty tables it loads with `COPY` and builds the keys
//! and indexes afterwards; the schema it leaves is exactly the one the migrations made, and
//! a load that fails leaves the tables as they were.

use chrono::Utc;
use muster::seed::{SeedArgs, generate};
use muster::store::Opened;
use muster_store::Store;
use muster_store_postgres::PgStore;
use muster_store_postgres::testing::fresh_store;

/// Every index, key and foreign key of the four tables, with its definition and whether it
/// was validated; sorted, so two schemas compare as lists.
async fn catalog(store: &PgStore) -> Vec<String> {
    let mut conn = store.connection().await.expect("a connection");
    let tables = "ARRAY['candidates', 'volunteers', 'events', 'attendances']::regclass[]";
    let mut rows: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT 'index ' || i.relname || ': ' || pg_get_indexdef(i.oid) || ' valid=' || x.indisvalid \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = ANY({tables}) \
         UNION ALL \
         SELECT 'constraint ' || k.conname || ' on ' || k.conrelid::regclass || ': ' || pg_get_constraintdef(k.oid) \
                || ' validated=' || k.convalidated \
         FROM pg_constraint k WHERE k.conrelid = ANY({tables}) OR k.confrelid = ANY({tables})"
    ))
    .fetch_all(&mut *conn)
    .await
    .expect("read the catalog");
    rows.sort();
    rows
}

fn args(volunteers: u32) -> SeedArgs {
    SeedArgs { candidates: 5, volunteers, events: 40, attendances: volunteers * 3, seed: 11 }
}

#[tokio::test]
async fn a_seed_into_empty_tables_leaves_the_migrated_schema_and_every_row() {
    let store = fresh_store().await;
    let migrated = catalog(&store).await;
    assert!(migrated.len() >= 20, "the tables have their keys and indexes: {migrated:#?}");

    let opened = Opened::Postgres(store.clone());
    muster::seed::run(&opened, &args(2000)).await.expect("seed");
    assert_eq!(catalog(&store).await, migrated, "the same indexes, keys and foreign keys, all valid");
    let counts = store.counts().await.expect("counts");
    let attendances: i64 = counts.attendances.values().sum();
    assert_eq!((counts.candidates, counts.volunteers, counts.events, attendances), (5, 2000, 40, 6000), "every row");
    // the rows read back as the API reads them, keys and all
    let data = generate(&args(2000), Utc::now());
    let listed = store.list_volunteers(&Default::default(), Default::default()).await.expect("list");
    assert_eq!(listed.items.len(), 50);
    assert_eq!(listed.items[0].email.as_str(), data.volunteers[0].email.as_str());
    let v = store.get_volunteer(listed.items[7].id).await.expect("by id");
    assert_eq!(v.tags, data.volunteers[7].tags);

    // into tables that hold rows, the import inserts as before, under the same keys
    let again = store.import(&generate(&args(10), Utc::now())).await;
    assert!(again.is_err(), "the same e-mails again are refused by the unique key");
    assert_eq!(store.counts().await.expect("counts").volunteers, 2000, "and nothing of that import stays");
}

#[tokio::test]
async fn a_bulk_load_that_fails_leaves_the_tables_and_their_keys_as_they_were() {
    let store = fresh_store().await;
    let migrated = catalog(&store).await;
    let mut data = generate(&args(500), Utc::now());
    // an attendance of an event that does not exist: the foreign key, put back after the
    // rows are in, refuses the whole load
    data.attendances[100].event_id = uuid::Uuid::now_v7();
    let err = store.import(&data).await.expect_err("a broken reference is refused");
    assert!(!err.to_string().is_empty());
    assert_eq!(catalog(&store).await, migrated, "keys and indexes are back");
    let counts = store.counts().await.expect("counts");
    let attendances: i64 = counts.attendances.values().sum();
    assert_eq!((counts.candidates, counts.volunteers, counts.events, attendances), (0, 0, 0, 0), "no row stays");
    // and the same tables take a good load afterwards
    store.import(&generate(&args(500), Utc::now())).await.expect("a good load");
    assert_eq!(store.counts().await.expect("counts").volunteers, 500);
}
