//! The real `muster serve` process with its logs routed to files: its PostgreSQL database
//! is dropped while it runs, and the lines it writes are parsed back. Server errors land in
//! their file and only there, client errors in theirs, the main log keeps the rest, the
//! database password never appears, and the admin listener's `/metrics` passes promtool.

mod support;

use sqlx::Executor;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{TEST_SECRET, mint};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn read_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {l}", path.display())))
        .collect()
}

async fn wait_ready(base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/ready")).await
            && r.status() == 200
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("muster exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("muster did not become ready");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_database_under_the_running_binary_writes_server_error_lines() {
    let server = muster_store_postgres::testing::server_url();
    let db = format!("muster_obs_{}", uuid::Uuid::now_v7().simple());
    let mut admin_conn = muster_store_postgres::testing::admin_connection().await;
    admin_conn.execute(format!("CREATE DATABASE {db}").as_str()).await.unwrap();
    // trust authentication never asks for it, so the password only has to stay out of the logs
    let password = "not-a-real-password-7c1f";
    let url =
        format!("{}/{db}", server.replacen("postgres://postgres@", &format!("postgres://postgres:{password}@"), 1));
    assert!(url.contains(password), "the URL carries a password: {url}");

    let dir = std::env::temp_dir().join(format!("muster-obs-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let [main_log, server_log, client_log]: [PathBuf; 3] =
        ["main.jsonl", "server-errors.jsonl", "client-errors.jsonl"].map(|f| dir.join(f));
    let (port, admin_port) = (free_port(), free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MUSTER_")) {
        cmd.env_remove(k);
    }
    let child = cmd
        .arg("serve")
        .current_dir(&dir)
        .env("MUSTER_DATABASE_URL", &url)
        .env("MUSTER_LISTEN", format!("127.0.0.1:{port}"))
        .env("MUSTER_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
        .env("MUSTER_JWT_SECRET", TEST_SECRET)
        .env("MUSTER_DB_ACQUIRE_TIMEOUT", "1s")
        .env("MUSTER_LOG_FORMAT", "json")
        .env("MUSTER_LOG_SERVER_ERRORS", &server_log)
        .env("MUSTER_LOG_CLIENT_ERRORS", &client_log)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&main_log).unwrap())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let base = format!("http://127.0.0.1:{port}");
    let admin = format!("http://127.0.0.1:{admin_port}");
    wait_ready(&base, &mut child.0).await;

    let token = mint("operator", "admin", 3600);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, id: &str| {
        http.request(method, format!("{base}{path}")).bearer_auth(&token).header("x-request-id", id)
    };
    let created = call(reqwest::Method::POST, "/v1/candidates", "bin-created")
        .json(&serde_json::json!({"name": "Maria Lopez", "office": "Mayor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let missing = call(reqwest::Method::GET, "/v1/candidates/0192f0c1-7a3e-7cc5-9c3e-5f1f9a1b2c3d", "bin-missing");
    assert_eq!(missing.send().await.unwrap().status(), 404);
    assert_eq!(http.get(format!("{base}/metrics")).send().await.unwrap().status(), 404, "not on the public listener");
    // the row gauges are first counted muster::STARTUP_GRACE after start
    let deadline = Instant::now() + muster::STARTUP_GRACE + Duration::from_secs(10);
    let text = loop {
        let scrape = http.get(format!("{admin}/metrics")).send().await.unwrap();
        assert_eq!(scrape.status(), 200);
        let text = scrape.text().await.unwrap();
        if text.contains("muster_rows{table=\"candidates\"}") {
            break text;
        }
        assert!(Instant::now() < deadline, "the row gauges are counted soon after start: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(text.contains("muster_candidates_created_total 1"), "{text}");
    promtool_check_metrics(&text);

    admin_conn.execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str()).await.unwrap();
    let mut failed = Vec::new();
    for i in 0..3 {
        let id = format!("bin-outage-{i}");
        let r = call(reqwest::Method::GET, "/v1/candidates", &id).send().await.unwrap();
        assert!(r.status().is_server_error(), "with the database gone: {}", r.status());
        let body = r.text().await.unwrap();
        assert!(!body.contains(&db) && !body.contains("does not exist"), "no internals in the body: {body}");
        failed.push(id);
    }
    assert_eq!(reqwest::get(format!("{base}/ready")).await.unwrap().status(), 503);
    let after = http.get(format!("{admin}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(after.lines().any(|l| l.starts_with("http_server_errors_total{method=\"GET\",route=\"/v1/candidates\"")));

    let ok = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap().success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "muster did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a clean exit even with the database gone");

    let server_lines = read_lines(&server_log);
    for id in &failed {
        let l = server_lines.iter().find(|l| l["request_id"] == id.as_str()).expect("a server_error line per failure");
        assert_eq!((l["level"].as_str(), l["target"].as_str()), (Some("ERROR"), Some("muster::server_error")));
        assert!(l["status"].as_u64().is_some_and(|s| s >= 500), "{l}");
        assert!(l["cause"].as_str().is_some_and(|c| !c.is_empty()), "a 5xx line carries its cause: {l}");
    }
    assert!(server_lines.iter().all(|l| l["kind"] == "server_error"), "{server_lines:#?}");
    let client_lines = read_lines(&client_log);
    assert!(client_lines.iter().all(|l| l["kind"] == "client_error"), "{client_lines:#?}");
    assert!(client_lines.iter().any(|l| l["request_id"] == "bin-missing" && l["status"] == 404));
    let main_lines = read_lines(&main_log);
    assert!(main_lines.iter().any(|l| l["request_id"] == "bin-created" && l["kind"] == "access"));
    assert!(
        main_lines.iter().all(|l| l["kind"] != "server_error" && l["kind"] != "client_error"),
        "routed classes leave the main log"
    );
    let serving = main_lines.iter().find(|l| l["message"] == "muster serving").expect("a start-up line");
    assert_eq!(serving["database"], url.replace(password, "***"));
    assert_eq!(serving["admin_listen"], format!("127.0.0.1:{admin_port}"));
    for file in [&main_log, &server_log, &client_log] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains(password), "{} holds the database password", file.display());
        assert!(!text.contains(&token), "{} holds a bearer token", file.display());
    }
    // kept when an assertion fails, for a look at the files
    let _ = std::fs::remove_dir_all(&dir);
}

/// `promtool check metrics`, required when `MUSTER_REQUIRE_PROMTOOL` is set (CI).
fn promtool_check_metrics(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var_os("MUSTER_REQUIRE_PROMTOOL").is_none() => {
            eprintln!("promtool not run ({e}); install the Debian package `prometheus` to check the exposition");
            return;
        }
        Err(e) => panic!("promtool is required (MUSTER_REQUIRE_PROMTOOL) but cannot run: {e}"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}");
}
