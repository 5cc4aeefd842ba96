//! Serving the router: the listener and the shutdown signal are parameters, so tests boot
//! the real server on port 0 and stop it without signals.
//!
//! Shutdown follows what a load balancer needs: on the signal `/ready` turns 503, the
//! server keeps serving for the drain delay (so traffic moves away), then stops accepting
//! and gives in-flight requests up to the shutdown timeout to finish.

use muster_api::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves `state` on `listener` until `signal` completes, then drains.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    signal: impl Future<Output = ()> + Send + 'static,
    drain_delay: Duration,
    shutdown_timeout: Duration,
) -> std::io::Result<()> {
    let draining = state.draining.clone();
    let app = muster_api::build_router(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    signal.await;
    draining.store(true, Ordering::Relaxed);
    tracing::info!(drain_delay_ms = drain_delay.as_millis() as u64, "shutdown requested: not ready, draining");
    tokio::time::sleep(drain_delay).await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(shutdown_timeout, server).await {
        Ok(Ok(result)) => {
            tracing::info!("drained; bye");
            result
        }
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => {
            tracing::warn!(timeout_s = shutdown_timeout.as_secs(), "in-flight requests outlived the shutdown timeout");
            Ok(())
        }
    }
}

/// The admin listener (`/metrics`), running beside the public one.
pub struct AdminServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl AdminServer {
    /// Serves the admin router for `state` on `listener` until [`AdminServer::stop`].
    /// It keeps answering while the public listener drains, so Prometheus sees the drain.
    pub fn spawn(listener: TcpListener, state: AppState) -> AdminServer {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = muster_api::metrics::admin_router(state);
        let task = tokio::spawn(
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .into_future(),
        );
        AdminServer { stop, task }
    }

    /// Stops accepting and waits for scrapes in flight (they take milliseconds).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the admin listener failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the admin listener task failed"),
            Err(_) => tracing::warn!("the admin listener did not stop within 5 s"),
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
