//! Without a PostgreSQL server the tests stop with one line saying how to start one, not a
//! page of connection errors per test: a child run of this binary against a closed port.

use std::process::Command;
use std::time::{Duration, Instant};

/// What the child run sets, so that [`connects_as_the_tests_do`] only connects in it.
const CHILD: &str = "MUSTER_TEST_UNREACHABLE_CHILD";

/// In the child run: eight tests' worth of connections at once, as a parallel run makes.
#[tokio::test]
async fn connects_as_the_tests_do() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let tries: Vec<_> = (0..8).map(|_| tokio::spawn(muster_store_postgres::testing::database_url())).collect();
    for t in tries {
        let _ = t.await;
    }
    unreachable!("the child run connected to a closed port");
}

#[test]
fn an_unreachable_server_is_one_line_saying_how_to_start_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "connects_as_the_tests_do"])
        .env(CHILD, "1")
        .env("MUSTER_TEST_POSTGRES_URL", format!("postgres://postgres:hunter2@127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "it stops at once: {:?}", started.elapsed());
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(101), "a failed run: {stdout}{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    let line = lines[0];
    assert!(
        line.starts_with(&format!("PostgreSQL is not reachable at postgres://postgres:***@127.0.0.1:{port} (")),
        "{line}"
    );
    for hint in ["scripts/db-up", "pg_ctlcluster", "MUSTER_TEST_POSTGRES_URL"] {
        assert!(line.contains(hint), "names {hint}: {line}");
    }
    assert!(!line.contains("hunter2"), "the password stays out: {line}");
    assert!(!stdout.contains("panicked") && !stdout.contains("unreachable"), "no test output besides: {stdout}");
}
