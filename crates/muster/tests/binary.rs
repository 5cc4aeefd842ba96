//! The `muster` binary as an operator meets it: fresh-machine defaults, configuration
//! errors, seeding, and a graceful drain on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn muster(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MUSTER_")) {
        cmd.env_remove(k);
    }
    cmd.env("MUSTER_LOG_FORMAT", "json");
    // tests run servers side by side: each admin listener takes any free port
    cmd.env("MUSTER_ADMIN_LISTEN", "127.0.0.1:0");
    cmd
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-bin-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A raw HTTP/1.1 exchange: status line and body.
fn http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}

fn get(port: u16, path: &str) -> (u16, String) {
    http(port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
}

fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && get(port, "/ready").0 == 200 {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("muster exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("muster did not become ready");
}

/// `muster serve` in `dir` on `port`, output discarded; `drain_delay` overrides the default.
fn serve(dir: &Path, port: u16, drain_delay: Option<&str>) -> Child {
    let mut cmd = muster(dir);
    cmd.arg("serve").env("MUSTER_LISTEN", format!("127.0.0.1:{port}")).stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(delay) = drain_delay {
        cmd.env("MUSTER_DRAIN_DELAY", delay);
    }
    cmd.spawn().unwrap()
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -TERM");
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "muster did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serves_on_a_fresh_machine_with_no_configuration() {
    let dir = temp_dir();
    let port = free_port();
    let mut child = serve(&dir, port, None);
    wait_ready(port, &mut child);
    assert!(dir.join("muster.db").exists(), "the SQLite default lives in the working directory");
    let (status, body) = get(port, "/version");
    assert_eq!(status, 200, "{body}");
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
}

/// A SIGTERM that arrives the moment the port accepts is a drain and a clean exit, not
/// the signal's default action: the handlers are in place before the listener binds.
#[test]
fn sigterm_as_soon_as_the_port_accepts_is_a_clean_exit() {
    for _ in 0..5 {
        let dir = temp_dir();
        let port = free_port();
        let mut child = serve(&dir, port, Some("0s"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "muster exited early");
            assert!(Instant::now() < deadline, "muster never accepted");
            std::thread::sleep(Duration::from_millis(2));
        }
        sigterm(&child);
        let status = wait_exit(&mut child, Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{status}");
    }
}

#[test]
fn sigterm_reports_not_ready_and_drains_in_flight_requests() {
    let dir = temp_dir();
    let port = free_port();
    let mut child = serve(&dir, port, Some("1s"));
    wait_ready(port, &mut child);
    let token = muster(&dir).args(["token", "--sub", "drain-test", "--scope", "write"]).output().unwrap();
    assert!(token.status.success(), "muster token works with the secret serve generated");
    let token = String::from_utf8(token.stdout).unwrap();
    // a request in flight: headers and half the body sent before the signal
    let body = r#"{"name": "Drained Candidate", "office": "Mayor"}"#;
    let mut in_flight = TcpStream::connect(("127.0.0.1", port)).unwrap();
    in_flight.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /v1/candidates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        token.trim(),
        body.len()
    );
    in_flight.write_all(head.as_bytes()).unwrap();
    in_flight.write_all(&body.as_bytes()[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(200));
    let (ready, text) = get(port, "/ready");
    assert_eq!(ready, 503, "draining means not ready: {text}");
    assert!(text.contains("\"draining\""), "{text}");
    assert_eq!(get(port, "/health").0, 200, "still alive while draining");
    std::thread::sleep(Duration::from_millis(1200));
    in_flight.write_all(&body.as_bytes()[10..]).unwrap();
    let mut out = String::new();
    in_flight.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 201"), "the in-flight request completed: {out}");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "no longer accepting");
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line() {
    let dir = temp_dir();
    let out = muster(&dir).arg("serve").env("MUSTER_REQUEST_TIMEOUT", "soon").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("MUSTER_REQUEST_TIMEOUT") && stderr.contains("a duration like"), "{stderr}");
    assert!(!dir.join("muster.db").exists(), "nothing started");
}

#[test]
fn migrate_and_seed_on_the_default_store() {
    let dir = temp_dir();
    assert!(muster(&dir).arg("migrate").status().unwrap().success());
    let out =
        muster(&dir).args(["seed", "--volunteers", "300", "--events", "12", "--attendances", "600"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("seeded 10 candidates, 300 volunteers, 12 events, 600 attendances"), "{stdout}");
    let bad = muster(&dir).args(["seed", "--volunteers", "-5"]).output().unwrap();
    assert!(!bad.status.success());
}

#[test]
fn version_names_the_build() {
    let out = muster(&temp_dir()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("muster 0.") && text.contains("(build "), "{text}");
}
