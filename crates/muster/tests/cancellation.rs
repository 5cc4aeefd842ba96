//! Clients that hang up mid-request must not corrupt the server: every write the server
//! answers 2xx afterwards is stored. (sqlx 0.8 can hand back a pooled PostgreSQL
//! connection still inside a transaction when a `BEGIN` is cancelled; requests therefore
//! run to completion in their own task whatever the client does.)

mod support;

use serde_json::json;
use std::time::Duration;
use support::{Backend, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hung_up_requests_do_not_lose_later_writes() {
    let app = std::sync::Arc::new(spawn_app(Backend::Postgres).await);
    // a storm of batch calls abandoned after a few milliseconds, mid-transaction
    let storm = (0..120).map(|i| {
        let app = app.clone();
        tokio::spawn(async move {
            let ops: Vec<_> = (0..50)
                .map(|k| {
                    json!({"op": "create", "data": {"first_name": "Gone", "last_name": "Client",
                    "email": format!("storm{i}-{k}@example.org")}})
                })
                .collect();
            let body = json!({"operations": ops});
            let call = app.post("/v1/volunteers/batch", &body);
            let _ = tokio::time::timeout(Duration::from_millis(1 + (i % 15) as u64), call).await;
        })
    });
    futures::future::join_all(storm).await;
    // then every acknowledged write must be readable
    let mut acknowledged = Vec::new();
    for i in 0..150 {
        let r = app
            .post(
                "/v1/volunteers",
                &json!({"first_name": "After", "last_name": "Storm", "email": format!("after{i}@example.org")}),
            )
            .await;
        assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
        acknowledged.push(r.body["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // read through a connection of its own, outside the server's pool
    let url = muster_store_postgres::testing::database_url().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'muster' \
         AND state = 'idle in transaction' AND state_change < now() - interval '400 milliseconds'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(stuck, 0, "pooled connections left inside a transaction");
    for chunk in acknowledged.chunks(100) {
        let r = app.get(&format!("/v1/volunteers?ids={}", chunk.join(","))).await;
        assert_eq!(r.body["missing"], json!([]), "acknowledged writes missing");
    }
}
