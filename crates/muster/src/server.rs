//! Serving the router: the listener and the shutdown signal are parameters, so tests boot
//! the real server on port 0 and stop it without signals.
//!
//! Shutdown follows what a load balancer needs: on the signal `/ready` turns 503, the
//! server keeps serving for the drain delay (so traffic moves away), then stops accepting
//! and gives in-flight requests up to the shutdown timeout to finish.
//!
//! A connection hyper is done with is closed the way nginx's lingering close does it
//! ([`linger`]): the response is sent and the write side shut, then whatever the client still
//! sends is read and thrown away, within bounds, before the socket closes. A request refused
//! before its body was read (a 413, a 401 to an upload) otherwise closes the socket with the
//! body's bytes unread, the kernel answers them with a reset, and a client that writes its
//! whole body before reading (Python's http.client, many scripts) gets "broken pipe" or
//! "connection reset" instead of the problem.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use muster_api::AppState;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
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

/// The most a closing connection reads and discards ([`linger`]): four times the largest body
/// accepted (a batch), so a client that overshoots a limit by far still hears why.
pub const LINGER_BYTES: usize = 4 * muster_api::BATCH_BODY_LIMIT;
/// How long a closing connection may keep reading in all (nginx's `lingering_time`).
pub const LINGER_TIME: Duration = Duration::from_secs(30);
/// How long a closing connection waits for the client's next bytes; a client that has stopped
/// sending without closing is not waited for (nginx's `lingering_timeout`).
pub const LINGER_IDLE: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` (HTTP/1.1, each request carrying its peer's
/// [`ConnectInfo`]) until `stop` completes; then stops accepting, lets every connection
/// finish the request it is on, and returns when all have closed.
pub async fn serve(listener: TcpListener, app: Router, stop: impl Future<Output = ()>) -> std::io::Result<()> {
    // true once the server stops: connections finish their request and close
    let (closing, closed) = tokio::sync::watch::channel(false);
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
            let mut conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .max_buf_size(READ_BUFFER_MAX)
                .serve_connection(TokioIo::new(stream), service);
            // "without shutdown": hyper hands the socket back instead of closing it
            let result = tokio::select! {
                r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => r,
                () = stopped(&mut closed) => {
                    std::pin::Pin::new(&mut conn).graceful_shutdown();
                    std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)).await
                }
            };
            match result {
                Ok(()) => linger(conn.into_parts().io.into_inner(), closed).await,
                Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Closes a connection hyper is done with, as nginx's lingering close does: shut the write
/// side (the response is out; the client sees the end of it), then read and discard what the
/// client still sends, up to [`LINGER_BYTES`] within [`LINGER_TIME`], each read waiting at most
/// [`LINGER_IDLE`], until it closes its side; then close. Cut short by shutdown. A client
/// that had finished its request closes at once, so this costs it one read.
async fn linger(mut stream: TcpStream, mut stopping: tokio::sync::watch::Receiver<bool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    // on the heap, and only here: in the task's future it would size every connection
    let mut buf = vec![0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    while left > 0 {
        let idle = (tokio::time::Instant::now() + LINGER_IDLE).min(deadline);
        let n = tokio::select! {
            read = tokio::time::timeout_at(idle, stream.read(&mut buf)) => match read {
                Ok(Ok(n)) if n > 0 => n,
                _ => return,
            },
            () = stopped(&mut stopping) => return,
        };
        left = left.saturating_sub(n);
    }
    tracing::debug!(bytes = LINGER_BYTES, "closing a connection whose client kept sending after its answer");
}

/// Completes once the server is stopping (at once if it already is).
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
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
