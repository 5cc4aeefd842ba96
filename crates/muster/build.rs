//! Stamps the binary with its build number and commit; `build_number.rs` says how each is
//! chosen. `MUSTER_BUILD_NUMBER` at run time overrides the number again.

use std::path::Path;

mod build_number;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    println!("cargo:rerun-if-env-changed=MUSTER_BUILD_NUMBER");
    // only when it exists: cargo reruns a build script whose watched file is missing on every
    // build, and everything linking this crate with it (a file added later needs a clean build
    // of this crate, or a touch of build.rs; a release tarball has it from the start)
    let file = root.join("BUILD_NUMBER");
    if file.exists() {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed=build_number.rs");
    let env = std::env::var("MUSTER_BUILD_NUMBER").ok();
    let count = build_number::resolve(env.as_deref(), &root).unwrap_or_else(|e| panic!("{e}"));
    let commit = build_number::commit(&root).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MUSTER_BUILD_COUNT={count}");
    println!("cargo:rustc-env=MUSTER_COMMIT={commit}");
    // rebuild when HEAD moves. A `git worktree` keeps its HEAD in its own git directory and
    // the branches in the common one; a path that does not exist would rerun this every build.
    if let Some(dir) = build_number::git_dir(&root) {
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        let common = build_number::git(&root, &["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .map_or(dir, std::path::PathBuf::from);
        for file in
            ["packed-refs".to_owned()].into_iter().chain(build_number::git(&root, &["symbolic-ref", "-q", "HEAD"]))
        {
            let path = common.join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
