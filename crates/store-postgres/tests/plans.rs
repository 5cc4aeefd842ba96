//! Query plans on a real PostgreSQL: no list query the store runs reads a whole large table.
//!
//! A schema of its own gets enough rows (tens of thousands, spread as real data is) that
//! the planner prefers an index wherever one serves, and `ANALYZE`. Then every list shape
//! the API can ask for (each filter, the first page and a deep cursor, at the default and
//! the largest page size) is explained as the store builds it (`testing::list_queries`, the
//! functions `list` itself calls, so the test cannot drift from the store), twice: with its
//! parameter values (the custom plan of the first executions) and as the generic plan
//! PostgreSQL switches a prepared statement to after five of them. A `Seq Scan` on
//! volunteers, events or attendances fails the test: at a million rows it costs a read of
//! the whole table per request.

use chrono::{DateTime, Duration, Utc};
use muster_domain::attendance::AttendanceStatus;
use muster_domain::event::{EventStatus, EventType, Visibility};
use muster_store::{AttendanceFilter, CandidateFilter, DEFAULT_LIMIT, EventFilter, MAX_LIMIT, Page, VolunteerFilter};
use muster_store_postgres::testing::{fresh_store, list_queries};
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::{Execute, Executor, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

const VOLUNTEERS: i64 = 30_000;
const EVENTS: i64 = 10_000;
const ATTENDANCES: i64 = 100_000;
/// Tables a whole read of which is what this test is for.
const LARGE: &[&str] = &["volunteers", "events", "attendances"];

/// Rows shaped like `muster seed`'s and like a campaign's: ids in creation order (UUIDv7:
/// a 48-bit millisecond time, version 7, then a counter), rows created over 120 days and
/// a few of them updated since, six ZIP codes, eight tags, events over six months of which
/// a few are cancelled, ten attendances per event.
const DATA: &str = r#"
CREATE FUNCTION pg_temp.v7(at timestamptz, n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS
  $$ SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7000' || '8'
             || lpad(to_hex(n), 15, '0'))::uuid $$;

INSERT INTO candidates (id, name, office, district, party, election_date, status, website, version, created_at, updated_at)
SELECT pg_temp.v7(now() - interval '121 days', i), 'Candidate ' || i, 'Mayor', 'District ' || i, 'Green',
       '2026-11-03', 'active', NULL, 1, now() - interval '121 days', now() - interval '121 days'
FROM generate_series(1, 10) AS i;

INSERT INTO volunteers (id, first_name, last_name, email, email_normalized, phone, zip_code, candidate_id, tags,
                        version, created_at, updated_at)
SELECT pg_temp.v7(at, i), 'Ana', 'Lopez', 'v' || i || '@example.org', 'v' || i || '@example.org', NULL,
       (ARRAY['02139', '60614', '80205', '94612', '30310', '78702'])[1 + i % 6],
       (SELECT id FROM candidates ORDER BY id OFFSET i % 10 LIMIT 1),
       CASE i % 3 WHEN 0 THEN '[]'::jsonb
                  WHEN 1 THEN jsonb_build_array(tag)
                  ELSE jsonb_build_array(tag, 'driver') END,
       1, at, CASE WHEN i % 100 = 0 THEN now() - interval '1 hour' ELSE at END
FROM (SELECT i, now() - interval '120 days' + (interval '120 days' * i / $VOLUNTEERS) AS at,
             (ARRAY['spanish', 'canvasser', 'phone', 'data-entry', 'host', 'student', 'veteran', 'host'])[1 + i % 8] AS tag
      FROM generate_series(1, $VOLUNTEERS) AS i) s;

INSERT INTO events (id, candidate_id, title, description, event_type, starts_at, ends_at, timezone, location,
                    virtual_url, capacity, visibility, status, version, created_at, updated_at)
SELECT pg_temp.v7(at, i), (SELECT id FROM candidates ORDER BY id OFFSET i % 10 LIMIT 1), 'Event ' || i, NULL,
       (ARRAY['canvass', 'phone_bank', 'text_bank', 'rally', 'fundraiser', 'meeting', 'training', 'other'])[1 + i % 8],
       starts, starts + interval '2 hours', 'UTC', NULL, NULL, CASE WHEN i % 10 = 0 THEN NULL ELSE 50 END,
       CASE WHEN i % 10 = 3 THEN 'private' ELSE 'public' END,
       CASE WHEN i % 50 = 7 THEN 'cancelled' WHEN starts < now() THEN 'completed' ELSE 'scheduled' END,
       1, at, CASE WHEN i % 100 = 0 THEN now() - interval '1 hour' ELSE at END
FROM (SELECT i, now() - interval '120 days' + (interval '120 days' * i / $EVENTS) AS at,
             now() - interval '60 days' + interval '1 hour' * ((i * 7919) % (180 * 24)) AS starts
      FROM generate_series(1, $EVENTS) AS i) s;

CREATE TEMP TABLE ev AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM events;
CREATE TEMP TABLE vo AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM volunteers;
CREATE INDEX ON ev (n);
CREATE INDEX ON vo (n);
ANALYZE ev;
ANALYZE vo;

INSERT INTO attendances (id, event_id, volunteer_id, status, checked_in_at, version, created_at, updated_at)
SELECT pg_temp.v7(at, k), ev.id, vo.id,
       (ARRAY['registered', 'registered', 'registered', 'registered', 'registered', 'registered',
              'waitlisted', 'cancelled', 'attended', 'no_show'])[1 + k % 10],
       NULL, 1, at, CASE WHEN k % 100 = 0 THEN now() - interval '1 hour' ELSE at END
FROM (SELECT k, now() - interval '120 days' + (interval '120 days' * k / $ATTENDANCES) AS at
      FROM generate_series(0, $ATTENDANCES - 1) AS k) s
JOIN ev ON ev.n = (k * 7919 + k / $VOLUNTEERS) % $EVENTS
JOIN vo ON vo.n = k % $VOLUNTEERS;

ANALYZE candidates;
ANALYZE volunteers;
ANALYZE events;
ANALYZE attendances;
"#;

/// Values the shapes filter on, read back from the rows.
struct Known {
    candidate: Uuid,
    volunteer: Uuid,
    event: Uuid,
    /// 90 % of the way through each table: a cursor deep in the list.
    deep_volunteer: Uuid,
    deep_event: Uuid,
    deep_attendance: Uuid,
    some_volunteers: Vec<Uuid>,
    some_events: Vec<Uuid>,
    some_attendances: Vec<Uuid>,
}

async fn scalar_uuid(conn: &mut PgConnection, sql: &str) -> Uuid {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn uuids(conn: &mut PgConnection, sql: &str) -> Vec<Uuid> {
    sqlx::query_scalar(sql).fetch_all(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn known(conn: &mut PgConnection) -> Known {
    Known {
        candidate: scalar_uuid(conn, "SELECT id FROM candidates ORDER BY id OFFSET 3 LIMIT 1").await,
        volunteer: scalar_uuid(conn, "SELECT volunteer_id FROM attendances ORDER BY id OFFSET 5000 LIMIT 1").await,
        event: scalar_uuid(conn, "SELECT event_id FROM attendances ORDER BY id OFFSET 5000 LIMIT 1").await,
        deep_volunteer: scalar_uuid(
            conn,
            &format!("SELECT id FROM volunteers ORDER BY id OFFSET {} LIMIT 1", VOLUNTEERS * 9 / 10),
        )
        .await,
        deep_event: scalar_uuid(conn, &format!("SELECT id FROM events ORDER BY id OFFSET {} LIMIT 1", EVENTS * 9 / 10))
            .await,
        deep_attendance: scalar_uuid(
            conn,
            &format!("SELECT id FROM attendances ORDER BY id OFFSET {} LIMIT 1", ATTENDANCES * 9 / 10),
        )
        .await,
        some_volunteers: uuids(conn, "SELECT id FROM volunteers WHERE zip_code = '80205' LIMIT 100").await,
        some_events: uuids(conn, "SELECT id FROM events WHERE event_type = 'rally' LIMIT 100").await,
        some_attendances: uuids(conn, "SELECT id FROM attendances WHERE status = 'attended' LIMIT 100").await,
    }
}

/// Which list a shape reads, with its filter.
enum Filter {
    Volunteers(VolunteerFilter),
    Events(EventFilter),
    Attendances(AttendanceFilter),
    Candidates(CandidateFilter),
}

impl Filter {
    /// The statement the store runs for this filter and page.
    fn query(&self, page: Page) -> QueryBuilder<'_, Postgres> {
        match self {
            Filter::Volunteers(f) => list_queries::volunteers(f, page),
            Filter::Events(f) => list_queries::events(f, page),
            Filter::Attendances(f) => list_queries::attendances(f, page),
            Filter::Candidates(f) => list_queries::candidates(f, page),
        }
    }
}

/// A list shape: its name, its filter and its cursor.
type Shape = (&'static str, Filter, Option<Uuid>);

/// Each shape the API can ask for: every filter alone, the ones used together, first and
/// deep pages, values common and rare.
fn shapes(k: &Known, now: DateTime<Utc>) -> Vec<Shape> {
    let mut out: Vec<Shape> = Vec::new();
    let recent = now - Duration::hours(2);
    let long_ago = now - Duration::days(400);

    macro_rules! shape {
        ($name:expr, $kind:ident, $filter:expr, $after:expr) => {
            out.push(($name, Filter::$kind($filter), $after))
        };
    }

    let v = VolunteerFilter::default;
    shape!("volunteers: first page", Volunteers, v(), None);
    shape!("volunteers: deep page", Volunteers, v(), Some(k.deep_volunteer));
    shape!("volunteers?candidate_id", Volunteers, VolunteerFilter { candidate_id: Some(k.candidate), ..v() }, None);
    shape!(
        "volunteers?candidate_id, deep page",
        Volunteers,
        VolunteerFilter { candidate_id: Some(k.candidate), ..v() },
        Some(k.deep_volunteer)
    );
    shape!("volunteers?email", Volunteers, VolunteerFilter { email: Some("v777@example.org".into()), ..v() }, None);
    shape!("volunteers?zip_code", Volunteers, VolunteerFilter { zip_code: Some("80205".into()), ..v() }, None);
    shape!(
        "volunteers?zip_code, deep page",
        Volunteers,
        VolunteerFilter { zip_code: Some("80205".into()), ..v() },
        Some(k.deep_volunteer)
    );
    shape!(
        "volunteers?zip_code (none has it)",
        Volunteers,
        VolunteerFilter { zip_code: Some("10001".into()), ..v() },
        None
    );
    shape!("volunteers?tag", Volunteers, VolunteerFilter { tag: Some("spanish".into()), ..v() }, None);
    shape!(
        "volunteers?tag, deep page",
        Volunteers,
        VolunteerFilter { tag: Some("spanish".into()), ..v() },
        Some(k.deep_volunteer)
    );
    shape!("volunteers?tag (none has it)", Volunteers, VolunteerFilter { tag: Some("pilot".into()), ..v() }, None);
    shape!(
        "volunteers?updated_since (recent)",
        Volunteers,
        VolunteerFilter { updated_since: Some(recent), ..v() },
        None
    );
    shape!(
        "volunteers?updated_since (long ago)",
        Volunteers,
        VolunteerFilter { updated_since: Some(long_ago), ..v() },
        None
    );
    shape!(
        "volunteers?zip_code&tag",
        Volunteers,
        VolunteerFilter { zip_code: Some("80205".into()), tag: Some("driver".into()), ..v() },
        None
    );
    shape!(
        "volunteers batch GET (ids)",
        Volunteers,
        VolunteerFilter { ids: Some(k.some_volunteers.clone()), ..v() },
        None
    );

    let e = EventFilter::default;
    shape!("events: first page", Events, e(), None);
    shape!("events: deep page", Events, e(), Some(k.deep_event));
    shape!("candidates/{id}/events", Events, EventFilter { candidate_id: Some(k.candidate), ..e() }, None);
    shape!(
        "candidates/{id}/events, deep page",
        Events,
        EventFilter { candidate_id: Some(k.candidate), ..e() },
        Some(k.deep_event)
    );
    shape!("events?event_type", Events, EventFilter { event_type: Some(EventType::Rally), ..e() }, None);
    shape!(
        "events?event_type, deep page",
        Events,
        EventFilter { event_type: Some(EventType::Rally), ..e() },
        Some(k.deep_event)
    );
    shape!("events?status=cancelled (rare)", Events, EventFilter { status: Some(EventStatus::Cancelled), ..e() }, None);
    shape!("events?status=scheduled", Events, EventFilter { status: Some(EventStatus::Scheduled), ..e() }, None);
    shape!("events?visibility=private", Events, EventFilter { visibility: Some(Visibility::Private), ..e() }, None);
    shape!(
        "events?starts_after&starts_before (a week)",
        Events,
        EventFilter { starts_after: Some(now), starts_before: Some(now + Duration::days(7)), ..e() },
        None
    );
    shape!("events?starts_after (upcoming)", Events, EventFilter { starts_after: Some(now), ..e() }, None);
    shape!("events?starts_before (past)", Events, EventFilter { starts_before: Some(now), ..e() }, None);
    shape!(
        "events?event_type&starts_after&starts_before",
        Events,
        EventFilter {
            event_type: Some(EventType::Canvass),
            starts_after: Some(now),
            starts_before: Some(now + Duration::days(7)),
            ..e()
        },
        None
    );
    shape!("events?updated_since (recent)", Events, EventFilter { updated_since: Some(recent), ..e() }, None);
    shape!("events batch GET (ids)", Events, EventFilter { ids: Some(k.some_events.clone()), ..e() }, None);

    let a = AttendanceFilter::default;
    shape!("attendances: first page", Attendances, a(), None);
    shape!("attendances: deep page", Attendances, a(), Some(k.deep_attendance));
    shape!("events/{id}/attendances", Attendances, AttendanceFilter { event_id: Some(k.event), ..a() }, None);
    shape!(
        "events/{id}/attendances?status",
        Attendances,
        AttendanceFilter { event_id: Some(k.event), status: Some(AttendanceStatus::Registered), ..a() },
        None
    );
    shape!(
        "events/{id}/attendances?status=waitlisted",
        Attendances,
        AttendanceFilter { event_id: Some(k.event), status: Some(AttendanceStatus::Waitlisted), ..a() },
        None
    );
    shape!(
        "volunteers/{id}/attendances",
        Attendances,
        AttendanceFilter { volunteer_id: Some(k.volunteer), ..a() },
        None
    );
    shape!(
        "volunteers/{id}/attendances?status",
        Attendances,
        AttendanceFilter { volunteer_id: Some(k.volunteer), status: Some(AttendanceStatus::Attended), ..a() },
        None
    );
    shape!(
        "attendances?status=waitlisted",
        Attendances,
        AttendanceFilter { status: Some(AttendanceStatus::Waitlisted), ..a() },
        None
    );
    shape!(
        "attendances?status, deep page",
        Attendances,
        AttendanceFilter { status: Some(AttendanceStatus::Registered), ..a() },
        Some(k.deep_attendance)
    );
    shape!(
        "attendances?updated_since (recent)",
        Attendances,
        AttendanceFilter { updated_since: Some(recent), ..a() },
        None
    );
    shape!(
        "attendances batch GET (ids)",
        Attendances,
        AttendanceFilter { ids: Some(k.some_attendances.clone()), ..a() },
        None
    );

    // a token confined to one candidate (muster_store::owners): the same shapes, narrowed
    let mine = || Some(vec![k.candidate]);
    shape!("volunteers, confined", Volunteers, VolunteerFilter { candidates: mine(), ..v() }, None);
    shape!(
        "volunteers, confined, deep page",
        Volunteers,
        VolunteerFilter { candidates: mine(), ..v() },
        Some(k.deep_volunteer)
    );
    shape!("events, confined", Events, EventFilter { candidates: mine(), ..e() }, None);
    shape!("attendances, confined", Attendances, AttendanceFilter { candidates: mine(), ..a() }, None);
    shape!(
        "attendances?status, confined, deep page",
        Attendances,
        AttendanceFilter { status: Some(AttendanceStatus::Registered), candidates: mine(), ..a() },
        Some(k.deep_attendance)
    );

    let c = CandidateFilter::default;
    shape!("candidates: first page", Candidates, c(), None);
    shape!("candidates, confined", Candidates, CandidateFilter { candidates: mine(), ..c() }, None);
    shape!(
        "candidates?status",
        Candidates,
        CandidateFilter { status: Some(muster_domain::candidate::CandidateStatus::Active), ..c() },
        None
    );
    shape!("candidates?updated_since", Candidates, CandidateFilter { updated_since: Some(recent), ..c() }, None);
    out
}

/// The `Seq Scan`s on [`LARGE`] tables anywhere in a plan, as "Seq Scan on t".
fn large_seq_scans(plan: &Value, found: &mut Vec<String>) {
    if plan["Node Type"] == "Seq Scan"
        && let Some(t) = plan["Relation Name"].as_str()
        && LARGE.contains(&t)
    {
        found.push(format!("Seq Scan on {t}"));
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        large_seq_scans(child, found);
    }
}

/// The statement's SQL and its bound values.
fn parts(mut qb: QueryBuilder<'_, Postgres>) -> (String, PgArguments) {
    let mut q = qb.build();
    let sql = q.sql().to_owned();
    let args = q.take_arguments().expect("arguments encode").unwrap_or_default();
    (sql, args)
}

fn params(sql: &str) -> usize {
    (1..).take_while(|n| sql.contains(&format!("${n}"))).count()
}

async fn explain(conn: &mut PgConnection, sql: &str, args: PgArguments) -> Value {
    let rows: Vec<(Value,)> =
        sqlx::query_as_with(sql, args).fetch_all(&mut *conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows[0].0[0]["Plan"].clone()
}

/// The plan PostgreSQL uses for the statement with these values (a custom plan).
async fn custom_plan(conn: &mut PgConnection, qb: QueryBuilder<'_, Postgres>) -> Value {
    let (sql, args) = parts(qb);
    explain(conn, &format!("EXPLAIN (FORMAT JSON) {sql}"), args).await
}

/// The generic plan a prepared statement switches to after five executions when it
/// costs no more than the custom ones did: `PREPARE`, then `EXPLAIN EXECUTE` under
/// `plan_cache_mode = force_generic_plan`. A generic plan is made without the values, so
/// NULLs stand in for them (`EXECUTE`'s arguments cannot be bound parameters).
async fn generic_plan(conn: &mut PgConnection, qb: QueryBuilder<'_, Postgres>) -> Value {
    let (sql, _) = parts(qb);
    conn.execute(format!("PREPARE muster_shape AS {sql}").as_str()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.execute("SET plan_cache_mode = force_generic_plan").await.unwrap();
    let n = params(&sql);
    let execute = if n == 0 {
        "EXECUTE muster_shape".to_owned()
    } else {
        format!("EXECUTE muster_shape({})", vec!["NULL"; n].join(", "))
    };
    let plan = explain(conn, &format!("EXPLAIN (FORMAT JSON) {execute}"), PgArguments::default()).await;
    conn.execute("RESET plan_cache_mode; DEALLOCATE muster_shape").await.unwrap();
    plan
}

#[tokio::test]
async fn no_list_query_reads_a_whole_large_table() {
    let store = fresh_store().await;
    let mut conn = store.connection().await.expect("a connection");
    let data = DATA
        .replace("$VOLUNTEERS", &VOLUNTEERS.to_string())
        .replace("$EVENTS", &EVENTS.to_string())
        .replace("$ATTENDANCES", &ATTENDANCES.to_string());
    conn.execute(data.as_str()).await.expect("test rows");
    let k = known(&mut conn).await;

    // the check itself: a filter on a column without an index must be caught
    let unindexed = explain(
        &mut conn,
        "EXPLAIN (FORMAT JSON) SELECT id FROM volunteers WHERE last_name = $1 ORDER BY id LIMIT 51",
        {
            let mut a = PgArguments::default();
            sqlx::Arguments::add(&mut a, "Nobody").unwrap();
            a
        },
    )
    .await;
    let mut caught = Vec::new();
    large_seq_scans(&unindexed, &mut caught);
    assert_eq!(caught, ["Seq Scan on volunteers"], "the check finds a sequential scan: {unindexed:#}");

    let mut failures = Vec::new();
    let mut explained = 0;
    for (name, filter, after) in shapes(&k, Utc::now()) {
        for limit in [DEFAULT_LIMIT, MAX_LIMIT] {
            let page = Page { limit, after };
            let custom = custom_plan(&mut conn, filter.query(page)).await;
            let generic = generic_plan(&mut conn, filter.query(page)).await;
            for (kind, plan) in [("custom", custom), ("generic", generic)] {
                explained += 1;
                let mut found = Vec::new();
                large_seq_scans(&plan, &mut found);
                if !found.is_empty() {
                    failures.push(format!("{name} (limit {limit}, {kind} plan): {}\n{plan:#}", found.join(", ")));
                }
            }
        }
    }
    assert!(explained >= 150, "every shape explained ({explained} plans)");
    assert!(failures.is_empty(), "{} plans read a whole large table:\n{}", failures.len(), failures.join("\n\n"));
}
