//! One build number everywhere: `muster --version`, `/version`, `X-Muster-Build`,
//! `muster_build_info` and the OpenAPI document's version show the number baked in at build
//! time, and `MUSTER_BUILD_NUMBER` at run time overrides all of them at once. Which number is
//! baked in (the build's `MUSTER_BUILD_NUMBER`, a `BUILD_NUMBER` file, the commit count, 0) is
//! checked on trees of its own, with and without git, through the code build.rs runs.

#[path = "../build_number.rs"]
mod build_number;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The top of this source tree, where build.rs looks.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The number this build carries, decided as build.rs decides it (this test is compiled with
/// the same environment as the build script ran in).
fn expected() -> String {
    build_number::resolve(option_env!("MUSTER_BUILD_NUMBER"), &root()).unwrap()
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
    assert!(n.parse::<u64>().is_ok(), "{n}");
    if option_env!("MUSTER_BUILD_NUMBER").is_none() && !root().join("BUILD_NUMBER").exists() {
        // a clone: the commit count, which git must be able to give here
        assert_eq!(Some(n.clone()), build_number::commit_count(&root()), "a clone is numbered by its commits");
        assert!(n != "0", "{n}");
    }
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

/// A directory of its own under the system's temporary one.
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-{tag}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn git_in(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn a_tree_without_git_takes_the_build_number_file_else_zero() {
    let tree = scratch("no-git");
    assert_eq!(build_number::git_dir(&tree), None, "{} is no work tree's top level", tree.display());
    assert_eq!(build_number::commit_count(&tree), None);
    assert_eq!(build_number::commit(&tree), None);
    assert_eq!(build_number::resolve(None, &tree).unwrap(), "0", "no variable, no file, no git");
    std::fs::write(tree.join("BUILD_NUMBER"), "1234\n").unwrap();
    assert_eq!(build_number::resolve(None, &tree).unwrap(), "1234", "the file a release tarball carries");
    assert_eq!(build_number::resolve(Some(" 77 "), &tree).unwrap(), "77", "the build's variable beats the file");
    let e = build_number::resolve(Some("v1.2"), &tree).unwrap_err();
    assert!(e.contains("MUSTER_BUILD_NUMBER \"v1.2\""), "{e}");
    std::fs::write(tree.join("BUILD_NUMBER"), "next\n").unwrap();
    let e = build_number::resolve(None, &tree).unwrap_err();
    assert!(e.contains("BUILD_NUMBER holds \"next\""), "a bad file stops the build: {e}");
    std::fs::remove_dir_all(&tree).unwrap();
}

#[test]
fn a_tree_inside_another_repository_does_not_take_its_commit_count() {
    let outer = scratch("outer-repo");
    git_in(&outer, &["init", "-q"]);
    for i in 0..3 {
        git_in(&outer, &["commit", "-q", "--allow-empty", "-m", &format!("c{i}")]);
    }
    assert_eq!(build_number::commit_count(&outer).as_deref(), Some("3"), "the repository's own top level");
    assert!(build_number::commit(&outer).is_some_and(|c| c.len() == 12), "{:?}", build_number::commit(&outer));
    // a source tarball unpacked somewhere inside it (a home directory kept in git)
    let tarball = outer.join("downloads/muster-src");
    std::fs::create_dir_all(&tarball).unwrap();
    assert_eq!(build_number::commit_count(&tarball), None);
    assert_eq!(build_number::commit(&tarball), None);
    assert_eq!(build_number::resolve(None, &tarball).unwrap(), "0");
    std::fs::write(tarball.join("BUILD_NUMBER"), "4321").unwrap();
    assert_eq!(build_number::resolve(None, &tarball).unwrap(), "4321");
    std::fs::remove_dir_all(&outer).unwrap();
}
