//! `muster e2e`: the E2E suite that a person after a release, the monitor, and the canary
//! gates of both deployment targets run against a live Muster.
//!
//! The suite reads the target's own `/openapi.json` first and, in a full run, fails by name
//! every operation that no check exercises ([`coverage`]), so a route added without a check
//! breaks CI. Each check names the operation it exercises, the status it expects and, when
//! it did not pass, why. Everything the suite writes carries the run's mark (`e2e-<run id>`
//! in names, tags, emails, flag keys, subjects) and is deleted at the end, also after
//! failures or an interruption; a full run also sweeps what older interrupted runs left
//! ([`cleanup`]).
//!
//! The suite is a library so the monitor runs it in-process; `muster e2e` is its command
//! line. Tokens are given ([`Tokens::Given`]) or minted per check by the caller's [`Minter`]
//! (the binary's is `muster token`'s code), so the suite itself holds no secret.

mod checks;
pub mod cleanup;
pub mod coverage;
pub mod report;
mod suite;

pub use report::{CheckResult, Format, Outcome, Report};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Signs tokens for the suite: `scope` is space-separated, `lifetime_secs` counts from
/// now and is negative for a token that has already expired.
pub trait Minter: Send + Sync {
    fn mint(&self, sub: &str, scope: &str, lifetime_secs: i64) -> Result<String, String>;
}

/// Where the suite's bearer tokens come from.
#[derive(Clone)]
pub enum Tokens {
    /// One token for every check. Checks that need a scope it lacks, or a token it cannot
    /// make (expired, narrower), are skipped with the reason.
    Given(String),
    /// Minted per check with the least scope the check needs, under subjects of this run
    /// (`e2e-<run id>-<area>`), so each area spends its own rate budget.
    Minted(Arc<dyn Minter>),
}

/// What to run against which target.
#[derive(Clone)]
pub struct Options {
    /// The API's base URL, like `http://127.0.0.1:8080`.
    pub target: String,
    pub tokens: Tokens,
    /// At most ten checks, for canary hooks and deploy gates.
    pub smoke: bool,
    /// No writes at all: checks that write are skipped and say so.
    pub read_only: bool,
    /// Also provoke a 429 (spends the budget of a principal of this run only).
    pub include_rate_limit: bool,
    /// Longest wait for one response.
    pub timeout: Duration,
    /// A full run deletes marked rows older than this that earlier runs left.
    pub sweep_after: Duration,
}

impl Options {
    pub fn new(target: impl Into<String>, tokens: Tokens) -> Options {
        Options {
            target: target.into(),
            tokens,
            smoke: false,
            read_only: false,
            include_rate_limit: false,
            timeout: Duration::from_secs(10),
            sweep_after: Duration::from_secs(3600),
        }
    }
}

/// Why no report could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// Nothing answered at the target (connection refused, DNS, TLS, timeout).
    Unreachable(String),
    /// The options cannot work (a target that is not an http(s) URL).
    BadOptions(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Unreachable(why) => write!(f, "target unreachable: {why}"),
            RunError::BadOptions(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs the suite once. When `stop` completes first (Ctrl-C), the check in flight is
/// abandoned, the run's data is still cleaned up, and the report says `interrupted`.
pub async fn run(opts: &Options, stop: impl Future<Output = ()>) -> Result<Report, RunError> {
    let mut suite = suite::Suite::connect(opts).await?;
    let interrupted = {
        let checks = checks::all(&mut suite, opts);
        tokio::select! {
            () = checks => false,
            () = stop => true,
        }
    };
    if !opts.read_only {
        cleanup::after_run(&mut suite, !opts.smoke, opts.sweep_after).await;
    }
    if !opts.smoke && !interrupted {
        suite.coverage_check();
    }
    Ok(suite.finish(interrupted))
}
