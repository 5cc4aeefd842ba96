//! One build number everywhere: `muster --version`, `/version`, `X-Muster-Build`,
//! `muster_build_info` and the OpenAPI document's version show the count of commits (or
//! the number baked in at build time), and `MUSTER_BUILD_NUMBER` at run time overrides all
//! of them at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The number the build should carry: the build-time override, the BUILD_NUMBER file, or the
/// commit count, as build.rs decides.
fn expected() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    if let Ok(n) = std::fs::read_to_string(format!("{root}/BUILD_NUMBER")) {
        return n.trim().to_owned();
    }
    let out = Command::new("git").args(["rev-list", "--count", "HEAD"]).current_dir(root).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

struct Server(Child, u16, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(build: Option<&str>) -> Server {
    let dir = std::env::temp_dir().join(format!("muster-build-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (port, admin) = (free_port(), free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MUSTER_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(&dir)
        .env("MUSTER_LISTEN", format!("127.0.0.1:{port}"))
        .env("MUSTER_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .env("MUSTER_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .arg("serve");
    if let Some(b) = build {
        cmd.env("MUSTER_BUILD_NUMBER", b);
    }
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() || TcpStream::connect(("127.0.0.1", admin)).is_err() {
        assert!(Instant::now() < deadline, "muster did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child, port, admin)
}

/// The build number each surface shows.
fn shown(s: &Server) -> Vec<(&'static str, String)> {
    let version = get(s.1, "/version");
    let header = version
        .lines()
        .find_map(|l| l.strip_prefix("x-muster-build: "))
        .and_then(|v| v.split('+').nth(1))
        .and_then(|v| v.split('.').next())
        .unwrap_or("")
        .to_owned();
    let body: serde_json::Value = serde_json::from_str(version.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let openapi = get(s.1, "/openapi.json");
    let doc: serde_json::Value = serde_json::from_str(openapi.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let metrics = get(s.2, "/metrics");
    let info = metrics.lines().find(|l| l.starts_with("muster_build_info{")).unwrap_or("");
    let label = info.split("build=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_owned();
    vec![
        ("/version", body["build"].as_str().unwrap_or("").to_owned()),
        ("X-Muster-Build", header),
        ("muster_build_info", label),
        (
            "openapi info.version",
            doc["info"]["version"].as_str().unwrap_or("").split('+').nth(1).unwrap_or("").to_owned(),
        ),
    ]
}

#[test]
fn every_surface_shows_the_commit_count() {
    let n = expected();
    assert!(n.parse::<u64>().is_ok_and(|n| n > 0), "{n}");
    let version = Command::new(env!("CARGO_BIN_EXE_muster")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(&format!("(build {n},")), "{version:?}");
    let s = serve(None);
    for (surface, value) in shown(&s) {
        assert_eq!(value, n, "{surface}");
    }
}

#[test]
fn a_run_time_override_changes_every_surface() {
    let s = serve(Some("424242"));
    for (surface, value) in shown(&s) {
        assert_eq!(value, "424242", "{surface}");
    }
}
