//! Which build number and commit a build is stamped with. `build.rs` calls it at build time;
//! `tests/build_numbers.rs` includes the same file to check the order on trees with and
//! without git, which a test cannot get by rebuilding the crate.
//!
//! The number is, in order: `MUSTER_BUILD_NUMBER` in the build's environment (the release
//! pipeline's number, which may be revved by hand), the file `BUILD_NUMBER` at the top of the
//! source tree (what a source tarball made by a release carries), or the count of commits in
//! the history (the seed plan's "build number based on X number of changes"). Without any of
//! them it is 0. A value that is not a whole number stops the build rather than being passed
//! over. Git is only asked about `root` itself: a tarball unpacked inside some other
//! repository (a home directory kept in git) must not take that repository's commit count.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A build number as given: digits only, at most 18 of them (it fits an `i64`).
pub fn number(raw: &str) -> Option<String> {
    let n = raw.trim();
    (!n.is_empty() && n.len() <= 18 && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.to_owned())
}

/// The build number for the source tree at `root`, given `MUSTER_BUILD_NUMBER` from the build's
/// environment (`env`). `Err` names the setting or file whose value is not a whole number.
pub fn resolve(env: Option<&str>, root: &Path) -> Result<String, String> {
    if let Some(raw) = env {
        return number(raw).ok_or_else(|| format!("MUSTER_BUILD_NUMBER {raw:?} is not a whole number"));
    }
    let file = root.join("BUILD_NUMBER");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return number(&text).ok_or_else(|| format!("{} holds {:?}, not a whole number", file.display(), text.trim()));
    }
    Ok(commit_count(root).unwrap_or_else(|| "0".into()))
}

/// Commits in the history of the repository whose top level is `root`; `None` when `root` is
/// not the top of a git work tree or git is missing.
pub fn commit_count(root: &Path) -> Option<String> {
    git_dir(root)?;
    number(&git(root, &["rev-list", "--count", "HEAD"])?)
}

/// The short hash of `HEAD` of the repository whose top level is `root`.
pub fn commit(root: &Path) -> Option<String> {
    git_dir(root)?;
    git(root, &["rev-parse", "--short=12", "HEAD"])
}

/// The git directory of `root` when `root` is the top level of a work tree (a clone or a
/// `git worktree`), else `None`.
pub fn git_dir(root: &Path) -> Option<PathBuf> {
    let top = git(root, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(root).ok()? {
        return None;
    }
    git(root, &["rev-parse", "--absolute-git-dir"]).map(PathBuf::from)
}

/// `git args` run in `dir`; `None` when git is missing or fails. Variables that would point git
/// at another repository than `dir`'s (set inside git hooks) are left out.
pub fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_CEILING_DIRECTORIES")
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
