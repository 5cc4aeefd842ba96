//! `{"muster_self_test": {"smoke": true, "read_only": false}}`: the version that receives it
//! runs the E2E suite against its own router over loopback, with its own configuration,
//! store, Redis and secrets, and answers the suite's JSON report. CodeDeploy's pre-traffic
//! hook sends it to a new version before any traffic moves there, since a version has no
//! HTTP address of its own until an alias points at it.

use super::InvocationError;
use crate::config::Config;
use crate::token::Signer;
use muster_api::AppState;
use muster_e2e::{Options, Tokens};
use serde_json::Value;
use std::sync::Arc;

pub(super) async fn run(state: &AppState, cfg: &Config, options: &Value) -> Result<Value, InvocationError> {
    let signer = Signer::from_config(cfg).ok_or_else(|| {
        InvocationError("the self-test mints its tokens with MUSTER_JWT_SECRET, which is not set".into())
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| InvocationError(format!("the self-test cannot listen on loopback: {e}")))?;
    let addr = listener.local_addr().map_err(|e| InvocationError(e.to_string()))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::serve(
        listener,
        muster_api::build_router(state.clone()),
        Default::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let mut opts = Options::new(format!("http://{addr}"), Tokens::Minted(Arc::new(signer)));
    opts.smoke = options["smoke"].as_bool().unwrap_or(true);
    opts.read_only = options["read_only"].as_bool().unwrap_or(false);
    let report = muster_e2e::run(&opts, std::future::pending()).await;
    let _ = stop.send(());
    let _ = server.await;
    let report = report.map_err(|e| InvocationError(format!("the self-test could not run: {e}")))?;
    tracing::info!(passed = report.passed, failed = report.failed, skipped = report.skipped, run_id = %report.run_id, "self-test");
    serde_json::to_value(&report).map_err(|e| InvocationError(e.to_string()))
}
