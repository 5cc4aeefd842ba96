//! `muster`: one binary for the API and its tools. Parsing only; the work is in the library.

use clap::{Parser, Subcommand};
use muster::config::Config;
use muster::store::Opened;
use muster_api::redact::redact_url;
use std::process::ExitCode;

/// mimalloc: the request path allocates many small, short-lived objects across threads;
/// it serves them faster than glibc's allocator and returns freed memory to the system
/// (glibc kept a burst of batch calls' memory resident after the load was gone); how soon
/// it does is set in [`muster::alloc`].
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "muster", version = muster::LONG_VERSION, about = "Muster: the campaign organizing API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API (applies migrations first unless MUSTER_MIGRATE=false).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Load realistic demo data.
    Seed(muster::seed::SeedArgs),
    /// Print a signed bearer token (HS256, the server's secret).
    Token(muster::token::TokenArgs),
    /// Run the E2E suite once against a live server (exit 0 passed, 1 failed, 2 unreachable).
    E2e(muster::e2e::E2eArgs),
    /// Serve the API to the AWS Lambda Runtime API (what the binary named `bootstrap` does).
    Lambda,
    /// Judge a canary against its baseline: prints promote, rollback: … or inconclusive: …
    /// (exit 0, 1, 2).
    CanaryCheck(muster::canary::CanaryArgs),
    /// Watch live APIs: probes, incidents, alerts, a dashboard and reports (see docs/monitor.md).
    Monitor(Box<muster::monitor::MonitorArgs>),
    /// A report from the monitor's store for a time range (md, html, json, csv).
    Report(muster::monitor::ReportArgs),
}

fn main() -> ExitCode {
    // before anything else: mimalloc's options may only change while there is one thread
    muster::alloc::tune();
    // the provided.al2023 runtime starts `bootstrap` with no arguments
    let command = if muster::lambda::started_as_bootstrap() { Command::Lambda } else { Cli::parse().command };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    // values like aws-sm:<secret id> are read before the configuration is checked
    let env = match runtime.block_on(muster::aws_secrets::resolve(Config::environment())) {
        Ok(env) => env,
        Err(e) => {
            eprintln!("muster: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = match Config::load_with(env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("muster: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = if matches!(command, Command::Lambda) { muster::Mode::Lambda } else { muster::Mode::Serve };
    if let Err(e) = muster::logging::init(&cfg, mode) {
        eprintln!("muster: configuration error: {e}");
        return ExitCode::from(2);
    }
    let code = match runtime.block_on(run(command, cfg)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "muster stopped");
            eprintln!("muster: {e:#}");
            ExitCode::FAILURE
        }
    };
    muster::logging::flush();
    code
}

async fn run(command: Command, cfg: Config) -> anyhow::Result<ExitCode> {
    let open = || Opened::open(&cfg);
    match command {
        Command::E2e(args) => Ok(muster::e2e::run(&cfg, &args).await),
        Command::CanaryCheck(args) => {
            let Some(window) = muster::config::parse_duration(&args.window).filter(|w| !w.is_zero()) else {
                println!("inconclusive: --window {:?} is not a duration like 60s or 5m", args.window);
                return Ok(ExitCode::from(2));
            };
            let verdict = muster::canary::check(&args, window).await;
            println!("{}", verdict.line());
            Ok(ExitCode::from(verdict.exit_code()))
        }
        Command::Lambda => {
            muster::lambda::run(cfg).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Monitor(args) => muster::monitor::run(&cfg, &args).await.map(|()| ExitCode::SUCCESS),
        Command::Report(args) => muster::monitor::report(&args).await.map(|()| ExitCode::SUCCESS),
        Command::Token(args) => {
            println!("{}", muster::token::mint(&cfg, &args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let opened = open()?;
            opened.migrate_patiently(Duration::from_secs(30)).await?;
            tracing::info!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Seed(args) => {
            let opened = open()?;
            opened.migrate_patiently(Duration::from_secs(30)).await?;
            muster::seed::run(&opened, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            let opened = open()?;
            if cfg.migrate {
                opened.migrate_patiently(Duration::from_secs(30)).await?;
            }
            let store = opened.into_dyn();
            let state = muster::app_state(&cfg, store.clone(), muster::Mode::Serve).await?;
            // before the listeners: once a port accepts, SIGTERM means a drain
            let signal =
                muster::server::shutdown_signal().map_err(|e| anyhow::anyhow!("cannot listen for SIGTERM: {e}"))?;
            let listener = muster::server::bind(cfg.listen)
                .map_err(|e| anyhow::anyhow!("MUSTER_LISTEN: cannot listen on {}: {e}", cfg.listen))?;
            let admin = muster::server::bind(cfg.admin_listen)
                .map_err(|e| anyhow::anyhow!("MUSTER_ADMIN_LISTEN: cannot listen on {}: {e}", cfg.admin_listen))?;
            tracing::info!(
                listen = %listener.local_addr()?, admin_listen = %admin.local_addr()?, backend = store.backend(),
                database = %redact_url(&cfg.database_url), redis = cfg.redis_url.as_deref().map(redact_url),
                build = %state.build.build, "muster serving"
            );
            let admin = muster::server::AdminServer::spawn(admin, state.clone());
            let served =
                muster::server::run(listener, state, cfg.connections, signal, cfg.drain_delay, cfg.shutdown_timeout)
                    .await;
            admin.stop().await;
            served?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
