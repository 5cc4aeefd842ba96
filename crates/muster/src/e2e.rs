//! `muster e2e`: the command line of the E2E suite (`muster-e2e`). Tokens come from
//! `--token` or are minted with the server's secret by [`crate::token::Signer`], the code
//! behind `muster token`. Exit 0 when every check passed, 1 when any failed, 2 when the
//! target could not be reached or the arguments cannot work.

use crate::config::{Config, parse_duration};
use crate::token::Signer;
use muster_e2e::{Format, Options, RunError, Tokens};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct E2eArgs {
    /// The API's base URL, like http://127.0.0.1:8080.
    #[arg(long)]
    pub target: String,
    /// A bearer token for every check (default: minted per check with MUSTER_JWT_SECRET, or
    /// the development secret in ./.muster/).
    #[arg(long, env = "MUSTER_E2E_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// human (coloured on a terminal), json or junit.
    #[arg(long, default_value = "human")]
    pub format: Format,
    /// Also write the report as JUnit XML to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// At most ten checks (a deploy gate's).
    #[arg(long)]
    pub smoke: bool,
    /// No writes at all; the checks that write are skipped and listed.
    #[arg(long)]
    pub read_only: bool,
    /// Also provoke a 429 (spends a budget of this run's own principal).
    #[arg(long)]
    pub include_rate_limit: bool,
    /// Longest wait for one response, like 10s.
    #[arg(long, default_value = "10s")]
    pub timeout: String,
}

/// Runs the suite and prints its report; the exit code.
pub async fn run(cfg: &Config, args: &E2eArgs) -> ExitCode {
    let tokens = match (&args.token, Signer::from_config(cfg)) {
        (Some(t), _) => Tokens::Given(t.trim().to_owned()),
        (None, Some(signer)) => Tokens::Minted(Arc::new(signer)),
        (None, None) => {
            return usage(
                "no token: pass --token (or MUSTER_E2E_TOKEN), or set MUSTER_JWT_SECRET to the server's secret",
            );
        }
    };
    let Some(timeout) = parse_duration(&args.timeout).filter(|d| !d.is_zero()) else {
        return usage(&format!(
            "--timeout {:?} is not a duration; use a positive number with ms, s or m",
            args.timeout
        ));
    };
    let mut opts = Options::new(args.target.clone(), tokens);
    opts.smoke = args.smoke;
    opts.read_only = args.read_only;
    opts.include_rate_limit = args.include_rate_limit;
    opts.timeout = timeout;
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = match muster_e2e::run(&opts, stop).await {
        Ok(r) => r,
        Err(e @ RunError::BadOptions(_)) => return usage(&e.to_string()),
        Err(e @ RunError::Unreachable(_)) => {
            eprintln!("muster e2e: {e}");
            return ExitCode::from(2);
        }
    };
    let colour = args.format == Format::Human && std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(report.render(args.format, colour).as_bytes());
    let _ = out.flush();
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, report.render(Format::Junit, false))
    {
        eprintln!("muster e2e: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn usage(line: &str) -> ExitCode {
    eprintln!("muster e2e: {line}");
    ExitCode::from(2)
}
