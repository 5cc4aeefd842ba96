//! The connection pool on a real PostgreSQL: connections are reused without a check, a
//! connection that failed or was cancelled is not handed out unchecked, and the size bound
//! holds.

use muster_store::StoreError;
use muster_store_postgres::pool::{Conn, Pool};
use muster_store_postgres::testing::database_url;
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;
use std::time::Duration;

async fn pool(max: u32, acquire_timeout: Duration) -> Pool {
    let options = PgConnectOptions::from_str(&database_url().await).expect("test URL");
    Pool::new(options, max, acquire_timeout)
}

async fn backend_pid(conn: &mut Conn) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **conn).await.expect("pg_backend_pid")
}

/// Ends backend `pid` from a connection of its own, outside the pool under test.
async fn terminate(pid: i32) {
    let options = PgConnectOptions::from_str(&database_url().await).expect("test URL");
    let mut killer = sqlx::ConnectOptions::connect(&options).await.expect("a connection to kill with");
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut killer)
        .await
        .expect("pg_terminate_backend");
    assert!(killed, "backend {pid} was terminated");
}

#[tokio::test]
async fn a_settled_connection_is_reused_and_counted() {
    let pool = pool(4, Duration::from_secs(10)).await;
    let mut conn = pool.acquire().await.unwrap();
    let first = backend_pid(&mut conn).await;
    let stats = pool.stats();
    assert_eq!((stats.open, stats.idle, stats.max), (1, 0, 4));
    drop(conn.settle(Ok::<(), StoreError>(())));
    assert_eq!((pool.stats().open, pool.stats().idle), (1, 1));

    let mut again = pool.acquire().await.unwrap();
    assert_eq!(backend_pid(&mut again).await, first, "the idle connection is handed out again");
}

#[tokio::test]
async fn a_connection_that_lost_its_server_is_closed_not_reused() {
    let pool = pool(4, Duration::from_secs(10)).await;
    let mut conn = pool.acquire().await.unwrap();
    let pid = backend_pid(&mut conn).await;
    terminate(pid).await;

    let lost = sqlx::query("SELECT 1").execute(&mut *conn).await.map_err(muster_store_postgres::map_err);
    assert!(matches!(lost, Err(StoreError::Unavailable(_))), "a terminated backend is a lost connection: {lost:?}");
    let open_before = pool.stats().open;
    drop(conn.settle(lost));
    assert_eq!(pool.stats().open, open_before - 1, "the broken connection is closed");

    for _ in 0..2 {
        let mut next = pool.acquire().await.unwrap();
        assert_ne!(backend_pid(&mut next).await, pid);
        drop(next.settle(Ok::<(), StoreError>(())));
    }
}

#[tokio::test]
async fn a_cancelled_operation_leaves_a_connection_that_is_checked_before_reuse() {
    let pool = pool(1, Duration::from_secs(10)).await;
    let mut conn = pool.acquire().await.unwrap();
    let pid = backend_pid(&mut conn).await;
    // the request's future is dropped while PostgreSQL is still working on its statement
    let cancelled =
        tokio::time::timeout(Duration::from_millis(50), sqlx::query("SELECT pg_sleep(0.3)").execute(&mut *conn)).await;
    assert!(cancelled.is_err(), "the statement was cut off");
    drop(conn);

    // the same connection comes back (the pool holds one); its next answer is its own
    let mut next = pool.acquire().await.unwrap();
    assert_eq!(backend_pid(&mut next).await, pid);
    let n: i64 = sqlx::query_scalar("SELECT 42::int8").fetch_one(&mut *next).await.unwrap();
    assert_eq!(n, 42);
    drop(next.settle(Ok::<(), StoreError>(())));

    // a cancelled connection whose server went away is replaced, not handed out broken
    let mut conn = pool.acquire().await.unwrap();
    let cancelled =
        tokio::time::timeout(Duration::from_millis(50), sqlx::query("SELECT pg_sleep(0.3)").execute(&mut *conn)).await;
    assert!(cancelled.is_err());
    drop(conn);
    terminate(pid).await;
    let mut replaced = pool.acquire().await.expect("a fresh connection replaces the dead one");
    assert_ne!(backend_pid(&mut replaced).await, pid);
    assert_eq!(pool.stats().open, 1);
}

#[tokio::test]
async fn the_size_bound_holds_and_a_waiter_gets_the_next_free_connection() {
    let pool = pool(2, Duration::from_millis(300)).await;
    let a = pool.acquire().await.unwrap();
    let b = pool.acquire().await.unwrap();
    let refused = pool.acquire().await.err().expect("a third connection is refused while two are in use");
    assert!(matches!(&refused, StoreError::Unavailable(m) if m.contains("all 2 in use")), "{refused}");
    assert_eq!(pool.stats().open, 2);

    let waiter = tokio::spawn({
        let pool = pool.clone();
        async move { pool.acquire().await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(a.settle(Ok::<(), StoreError>(())));
    waiter.await.unwrap().expect("the waiter gets the connection given back");
    drop(b);
    assert_eq!(pool.stats().open, 2, "no connection beyond the bound was opened");
}

#[tokio::test]
async fn an_acquire_cancelled_during_the_check_closes_the_connection_it_was_checking() {
    let pool = pool(1, Duration::from_secs(10)).await;
    let mut conn = pool.acquire().await.unwrap();
    let busy =
        tokio::time::timeout(Duration::from_millis(50), sqlx::query("SELECT pg_sleep(0.5)").execute(&mut *conn)).await;
    assert!(busy.is_err(), "the statement was cut off");
    drop(conn);
    assert_eq!((pool.stats().open, pool.stats().idle), (1, 1));

    // the check (a ping behind the sleep's answer) outlasts the caller's patience
    let gave_up = tokio::time::timeout(Duration::from_millis(50), pool.acquire()).await;
    assert!(gave_up.is_err(), "the acquire was cancelled while checking");
    assert_eq!((pool.stats().open, pool.stats().idle), (0, 0), "the half-checked connection is closed, not counted");

    let mut fresh = pool.acquire().await.expect("a new connection");
    let n: i64 = sqlx::query_scalar("SELECT 7::int8").fetch_one(&mut *fresh).await.unwrap();
    assert_eq!((n, pool.stats().open), (7, 1));
}
