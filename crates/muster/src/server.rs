//! Serving the router: the listener and the shutdown signal are parameters, so tests boot
//! the real server on port 0 and stop it without signals.
//!
//! Shutdown follows what a load balancer needs: on the signal `/ready` turns 503, the
//! server keeps serving for the drain delay (so traffic moves away), then stops accepting
//! and gives in-flight requests up to the shutdown timeout to finish.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use muster_api::AppState;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The largest read buffer a connection keeps. hyper's default (about 400 KiB) let every
/// keep-alive connection that once sent a 1000-item batch hold its grown buffer: 64 such
/// connections took RSS from 48 to 90 MiB. Bodies larger than this are read in pieces.
/// While a request waits (a batch for its slot), hyper keeps reading its body into this
/// buffer to notice a hang-up, so each waiting connection fills it: at 64 KiB, 64 waiting
/// batch calls held 4 MiB of body bytes (DHAT). Twice the header limit: headers that do not
/// fit the buffer get hyper's bare 431, so up to twice the limit they reach the edge and
/// get its problem body (`headers-too-large`).
pub const READ_BUFFER_MAX: usize = 2 * muster_api::HEADER_LIMIT;

/// Serves `app` on `listener` (HTTP/1.1, each request carrying its peer's
/// [`ConnectInfo`]) until `stop` completes; then stops accepting, lets every connection
/// finish the request it is on, and returns when all have closed.
pub async fn serve(listener: TcpListener, app: Router, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    let (closing, closed) = tokio::sync::watch::channel(());
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // a connection that died in the backlog, or out of file descriptors: go on
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut closed = closed.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .max_buf_size(READ_BUFFER_MAX)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = closed.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(());
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Serves `state` on `listener` until `signal` completes, then drains.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    signal: impl Future<Output = ()> + Send + 'static,
    drain_delay: Duration,
    shutdown_timeout: Duration,
) -> std::io::Result<()> {
    let draining = state.draining.clone();
    let audit = state.audit.clone();
    let app = muster_api::build_router(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, async {
        let _ = stop_rx.await;
    }));
    signal.await;
    draining.store(true, Ordering::Relaxed);
    tracing::info!(drain_delay_ms = drain_delay.as_millis() as u64, "shutdown requested: not ready, draining");
    tokio::time::sleep(drain_delay).await;
    let _ = stop_tx.send(());
    let served = tokio::time::timeout(shutdown_timeout, server).await;
    // what the last requests put on the audit trail is written before the process ends
    if tokio::time::timeout(Duration::from_secs(5), audit.flush_if_started()).await.is_err() {
        tracing::error!(kind = "server_error", "the audit trail could not be written within 5 s of shutdown");
    }
    match served {
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
        let task = tokio::spawn(serve(listener, app, async {
            let _ = stopped.await;
        }));
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

/// Listens for SIGTERM and Ctrl-C (SIGINT) from the moment it is called, and returns a
/// future that completes on the first of them.
///
/// The handlers are installed here, before the listener serves anything, not when the
/// future is first polled: `run` spawns the server before it awaits the signal, so a
/// SIGTERM that followed the first 200 from `/ready` closely could otherwise meet the
/// default action and end the process without a drain.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
