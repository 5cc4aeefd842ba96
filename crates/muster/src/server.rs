//! Serving the router: the listener and the shutdown signal are parameters, so tests boot
//! the real server on port 0 and stop it without signals.
//!
//! Shutdown follows what a load balancer needs: on the signal `/ready` turns 503, the
//! server keeps serving for the drain delay (so traffic moves away), then stops accepting
//! and gives in-flight requests up to the shutdown timeout to finish.
//!
//! Slow and idle clients are bounded per connection ([`ConnectionLimits`]): the request's
//! headers must arrive within the header read timeout (hyper's, which also closes a keep-alive
//! connection left idle that long), a body may not stall for longer than the body read
//! timeout between two reads (tower-http's `TimeoutBody`: the handler's read fails and the
//! request gets a 408), and at most `max_connections` are served at once. Over the cap the
//! listener stops accepting, so further connections wait in the kernel's listen backlog
//! ([`LISTEN_BACKLOG`]; past it their handshakes are retried by the client's kernel) rather
//! than being accepted and shut at once: a burst is served late instead of refused, and while
//! slow clients hold every slot the header timeout is what frees them, so a waiting client is
//! served within about that long.
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
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// The largest read buffer a connection keeps. hyper's default (about 400 KiB) let every
/// keep-alive connection that once sent a 1000-item batch hold its grown buffer, so memory
/// grew with the connections that had ever sent a large body. Bodies larger than this are
/// read in pieces. While a request waits (a batch for its slot), hyper keeps reading its
/// body into this buffer to notice a hang-up, so each waiting connection fills it: the
/// buffer's size bounds that too. Twice the header limit: headers that do not
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

/// How the listener treats slow, idle and numerous clients (see the module documentation):
/// `MUSTER_HEADER_READ_TIMEOUT`, `MUSTER_BODY_READ_TIMEOUT`, `MUSTER_MAX_CONNECTIONS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a request's headers may take to arrive, counted from the connection's accept,
    /// or from the end of the previous response on a keep-alive connection.
    pub header_read_timeout: Duration,
    /// The longest wait for the next piece of a request body.
    pub body_read_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// How many connections the kernel holds for the listener before it accepts them: where
/// connections over [`ConnectionLimits::max_connections`] wait. The kernel caps it at
/// `net.core.somaxconn` (4096 on current Linux). std and tokio listen with 128, past which a
/// burst's handshakes are dropped and retried a second or more later.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listener as `muster serve` does, with a backlog of [`LISTEN_BACKLOG`].
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // as std and tokio do: a restart may bind while the old process's connections linger
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How often, at most, a full listener says so in the log.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (HTTP/1.1, each request carrying its peer's
/// [`ConnectInfo`]) within `limits` until `stop` completes; then stops accepting, lets every
/// connection finish the request it is on, and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // true once the server stops: connections finish their request and close
    let (closing, closed) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut warned: Option<tokio::time::Instant> = None;
    loop {
        // a slot first: without one nothing is accepted, and new connections wait in the backlog
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
                    warned = Some(tokio::time::Instant::now());
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "every connection slot is taken (MUSTER_MAX_CONNECTIONS): new connections wait in the listen \
                         backlog until one closes"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut stop => break,
                }
            }
        };
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
            // held until the connection is closed, lingering included
            let _slot = slot;
            let body_timeout = limits.body_read_timeout;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(|body| Body::new(TimeoutBody::new(body_timeout, body))))
            });
            let mut conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
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

/// Serves `state` on `listener` within `limits` until `signal` completes, then drains.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    signal: impl Future<Output = ()> + Send + 'static,
    drain_delay: Duration,
    shutdown_timeout: Duration,
) -> std::io::Result<()> {
    let draining = state.draining.clone();
    let audit = state.audit.clone();
    let app = muster_api::build_router(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, app, limits, async {
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
        // the defaults: scrapers are few and quick
        let task = tokio::spawn(serve(listener, app, ConnectionLimits::default(), async {
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
