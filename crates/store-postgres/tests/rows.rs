//! Row decoding on a real PostgreSQL: a result's column types are checked once, and a
//! column whose type does not fit its field is still refused (as sqlx's per-value check
//! refuses it), as is a NULL in a field that cannot hold one.

use muster_store::row_type::{decode_row, decode_rows};
use muster_store::rows::VolunteerRow;
use muster_store_postgres::testing::database_url;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection};

/// A volunteer-shaped result of three rows; `version` and `first_name` are SQL
/// expressions so each test can bend one column.
fn volunteers(first_name: &str, version: &str) -> String {
    format!(
        "SELECT gen_random_uuid() AS id, {first_name} AS first_name, 'Lopez' AS last_name, \
         'ana' || n || '@example.org' AS email, NULL::text AS phone, '02139'::text AS zip_code, \
         NULL::uuid AS candidate_id, '[\"driver\"]'::jsonb AS tags, {version} AS version, \
         now() AS created_at, now() AS updated_at FROM generate_series(1, 3) AS n"
    )
}

async fn rows(sql: &str) -> Vec<PgRow> {
    let mut conn = PgConnection::connect(&database_url().await).await.expect("connect");
    sqlx::query(sql).fetch_all(&mut conn).await.expect("query")
}

#[tokio::test]
async fn a_whole_result_decodes_with_one_column_check() {
    let rows = rows(&volunteers("'Ana'", "7::int8")).await;
    let decoded: Vec<VolunteerRow> = decode_rows(&rows).expect("decodes");
    assert_eq!(decoded.len(), 3);
    assert_eq!(decoded[2].email, "ana3@example.org");
    assert_eq!((decoded[0].version, decoded[0].phone.as_deref()), (7, None));
    assert_eq!(decoded[1].tags.0.iter().map(|t| t.as_str()).collect::<Vec<_>>(), ["driver"]);
    let one: VolunteerRow = decode_row(&rows[0]).expect("one row decodes");
    assert_eq!(one.id, decoded[0].id);
}

#[tokio::test]
async fn a_column_of_the_wrong_type_is_refused_with_sqlx_s_message() {
    let rows = rows(&volunteers("'Ana'", "7::int4")).await;
    let err = decode_rows::<_, VolunteerRow>(&rows).expect_err("int4 is not an i64");
    let text = err.to_string();
    assert_eq!(
        text,
        "error occurred while decoding column 8: mismatched types; Rust type `i64` (as SQL type `INT8`) \
         is not compatible with SQL type `INT4`"
    );
    assert!(decode_row::<_, VolunteerRow>(&rows[0]).is_err(), "one row alone is checked too");
}

#[tokio::test]
async fn a_null_where_the_field_cannot_hold_one_is_refused() {
    let rows = rows(&volunteers("CASE WHEN n = 2 THEN NULL ELSE 'Ana' END", "7::int8")).await;
    let err = decode_rows::<_, VolunteerRow>(&rows).expect_err("row 2 has no first name");
    assert!(err.to_string().contains("unexpected null"), "{err}");
}

/// `Stamp` reads binary `timestamptz` itself; `DateTime<Utc>` is sqlx's reading.
#[tokio::test]
async fn timestamps_read_as_sqlx_reads_them() {
    use chrono::{DateTime, Utc};
    use muster_store::decode::Stamp;
    let sql = "SELECT t, t FROM unnest(ARRAY['2026-11-28T17:31:23.933052Z', '2000-01-01T00:00:00Z', \
               '1999-12-31T23:59:59.999999Z', '1970-01-01T00:00:00Z', '1900-02-28T12:00:00.5Z', \
               '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999999Z', '2024-02-29T01:02:03.000001+05:30']\
               ::timestamptz[]) AS t";
    let mut conn = PgConnection::connect(&database_url().await).await.expect("connect");
    let rows: Vec<(Stamp, DateTime<Utc>)> = sqlx::query_as(sql).fetch_all(&mut conn).await.expect("query");
    assert_eq!(rows.len(), 8);
    for (ours, sqlx) in rows {
        assert_eq!(ours.0, sqlx);
    }
    // the text format (a simple query) is sqlx's own reading
    let row = sqlx::raw_sql("SELECT '2026-11-28T17:31:23.933052Z'::timestamptz AS t")
        .fetch_one(&mut conn)
        .await
        .expect("simple query");
    let t: Stamp = sqlx::Row::try_get(&row, 0).expect("text timestamptz");
    assert_eq!(t.0.to_rfc3339(), "2026-11-28T17:31:23.933052+00:00");
}

/// `StoredTags` splits plain `jsonb` arrays itself and leaves the rest to serde_json.
#[tokio::test]
async fn tags_read_as_serde_json_reads_them() {
    use muster_domain::volunteer::Tag;
    use muster_store::decode::StoredTags;
    use sqlx::types::Json;
    let sql = r#"SELECT j, j FROM unnest(ARRAY['[]', '["driver"]', '["spanish","driver"]', '["señal", "a-b_c"]',
                 '["quote\"inside", "back\\slash"]', '["tab\tescaped"]']::jsonb[]) AS j"#;
    let mut conn = PgConnection::connect(&database_url().await).await.expect("connect");
    let rows: Vec<(StoredTags, Json<Vec<Tag>>)> = sqlx::query_as(sql).fetch_all(&mut conn).await.expect("query");
    assert_eq!(rows.len(), 6);
    for (ours, serde) in &rows {
        assert_eq!(ours.0, serde.0);
    }
    assert_eq!(rows[4].0.0.iter().map(Tag::as_str).collect::<Vec<_>>(), ["quote\"inside", "back\\slash"]);
    let err = sqlx::query_as::<_, (StoredTags,)>("SELECT '{\"not\": \"an array\"}'::jsonb")
        .fetch_one(&mut conn)
        .await
        .expect_err("an object is not a tag list");
    assert!(err.to_string().contains("invalid type: map, expected a sequence"), "{err}");
}
