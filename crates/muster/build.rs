//! Stamps the binary with its build number and commit.
//!
//! The build number is, in order: `MUSTER_BUILD_NUMBER` in the build's environment (the
//! release pipeline's number, which may be revved by hand), the file `BUILD_NUMBER` at the
//! top of the source tree (what a source tarball made by a release carries), or the count of
//! commits in the history (the seed plan's "build number based on X number of changes").
//! Without any of them it is 0. `MUSTER_BUILD_NUMBER` at run time overrides it again.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A build number as given: digits only.
fn number(raw: &str) -> Option<String> {
    let n = raw.trim();
    (!n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.to_owned())
}

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../BUILD_NUMBER");
    println!("cargo:rerun-if-env-changed=MUSTER_BUILD_NUMBER");
    println!("cargo:rerun-if-changed={}", file.display());
    let count = match std::env::var("MUSTER_BUILD_NUMBER") {
        Ok(raw) => number(&raw).unwrap_or_else(|| panic!("MUSTER_BUILD_NUMBER {raw:?} is not a whole number")),
        Err(_) => std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| number(&t))
            .or_else(|| git(&["rev-list", "--count", "HEAD"]))
            .unwrap_or_else(|| "0".into()),
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MUSTER_BUILD_COUNT={count}");
    println!("cargo:rustc-env=MUSTER_COMMIT={commit}");
    // rebuild when HEAD moves
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = Path::new(&dir);
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        println!("cargo:rerun-if-changed={}", dir.join("packed-refs").display());
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", dir.join(head_ref).display());
        }
    }
}
