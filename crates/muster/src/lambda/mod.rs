//! `muster lambda` (or the binary named `bootstrap`): the one router served to the AWS
//! Lambda Runtime API through the AWS-maintained `lambda_runtime` and `lambda_http` crates.
//!
//! Start-up happens once per execution environment: configuration (secrets resolved by
//! [`crate::aws_secrets`] before it), the store's pool (small: an environment serves one
//! request at a time), the JWKS, the Redis link. There are no migrations on a cold start:
//! they are a deploy step, run by invoking the new version with `{"muster_migrate": true}`
//! before traffic moves to it. `{"muster_self_test": {...}}` makes the version run the E2E
//! suite against its own router over loopback (the pre-traffic hook's check). Every other
//! payload is an HTTP event (API Gateway REST or HTTP API, ALB), served by [`http`].

pub mod http;
mod self_test;

use crate::config::Config;
use crate::store::Opened;
use lambda_runtime::{Diagnostic, LambdaEvent};
use muster_api::AppState;
use serde_json::{Value, json};
use std::sync::Arc;

/// Why an invocation failed (a function error: the caller sees `errorType` and `errorMessage`).
#[derive(Debug)]
pub struct InvocationError(pub String);

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Diagnostic {
        Diagnostic { error_type: "MusterError".into(), error_message: e.0 }
    }
}

/// One execution environment's state: the router and what the special invocations need.
#[derive(Clone)]
pub struct Handler {
    http: http::HttpHandler,
    state: AppState,
    store: Arc<Opened>,
    cfg: Arc<Config>,
}

impl Handler {
    /// Builds the environment's state from the configuration (no migrations).
    pub async fn start(cfg: Config) -> anyhow::Result<Handler> {
        let opened = Arc::new(Opened::open_with_pool(&cfg, cfg.pool_size(true))?);
        let store = opened.shared();
        let state = crate::app_state(&cfg, store, crate::Mode::Lambda).await?;
        Ok(Handler { http: http::HttpHandler::new(state.clone()), state, store: opened, cfg: Arc::new(cfg) })
    }

    /// Answers one invocation; its audit entries and log lines are written before the
    /// answer leaves, since the environment may be frozen right after it (and never thawed).
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
        let answer = self.dispatch(event).await;
        self.state.audit.flush_if_started().await;
        crate::logging::flush();
        answer
    }

    async fn dispatch(&self, event: LambdaEvent<Value>) -> Result<Value, InvocationError> {
        let LambdaEvent { payload, context } = event;
        if payload.get("muster_migrate").is_some() {
            return self.migrate().await;
        }
        if let Some(options) = payload.get("muster_self_test") {
            return self_test::run(&self.state, &self.cfg, options).await;
        }
        self.http.handle(payload, context).await
    }

    async fn migrate(&self) -> Result<Value, InvocationError> {
        match self.store.migrate().await {
            Ok(()) => {
                tracing::info!("migrations applied");
                Ok(json!({"migrated": true}))
            }
            Err(e) => {
                tracing::error!(error = %e, "migrations failed");
                Err(InvocationError(format!("migrations failed: {e}")))
            }
        }
    }
}

/// Serves invocations until the runtime stops the environment.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let handler = Handler::start(cfg).await?;
    tracing::info!(
        function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
        version = std::env::var("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_default(),
        backend = handler.state.store.backend(),
        build = %handler.state.build.build,
        "muster lambda ready"
    );
    lambda_runtime::run(lambda_runtime::service_fn(move |event| {
        let handler = handler.clone();
        async move { handler.handle(event).await }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))
}

/// Whether this process was started as the custom runtime's `bootstrap`: by that name and
/// with no arguments, as the runtime starts it (`bootstrap --version` still answers).
pub fn started_as_bootstrap() -> bool {
    let mut args = std::env::args_os();
    let named =
        args.next().and_then(|a| std::path::Path::new(&a).file_name().map(|n| n == "bootstrap")).unwrap_or(false);
    named && args.next().is_none()
}
