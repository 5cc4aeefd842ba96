//! One log line per request, with client and server errors kept apart, and the HTTP
//! metrics counted from the same observation.
//!
//! The class of a line is its status: below 400 is `kind=access` (target `muster::access`,
//! info), 4xx is `kind=client_error` (target `muster::client_error`, info, or warn for
//! refusals worth watching: 401, 403, 408, 413, 429, 431), 5xx is `kind=server_error` (target
//! `muster::server_error`, error, with the cause). Separate targets let the subscriber route
//! each class to its own file or stream; the `kind` field lets whatever reads one mixed
//! stream tell them apart without parsing messages.
//!
//! A server error's cause comes from the problem response itself ([`ProblemLog`], a
//! response extension set by `ApiError`), so the cause and the access line are one line,
//! not two. A handler panic becomes a 500 problem whose line names the panic's message and
//! location, which the panic hook ([`install_panic_hook`]) leaves in this request's context
//! instead of printing to stderr.
//!
//! Everything written here is masked first ([`crate::redact`]): query strings can carry
//! emails and tokens, a `sub` can be an email, a cause can quote a row.

use crate::AppState;
use crate::json::Sink;
use crate::limits::client_ip;
use crate::metrics::method_label;
use crate::redact::scrub;
use crate::request_id;
use axum::body::HttpBody;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// The `route` label and field of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Routes probed every few seconds by load balancers and Prometheus; their successes are
/// logged at debug so they do not drown the traffic.
const PROBES: &[&str] = &["/health", "/ready"];

/// What a problem response tells the access log: set by `ApiError::into_response`,
/// removed here before the response leaves.
#[derive(Debug, Clone)]
pub struct ProblemLog {
    pub slug: &'static str,
    pub detail: String,
    /// The internal cause chain of a 5xx (never sent to the client).
    pub cause: Option<String>,
}

/// The invocation a request arrived in, when a runtime other than the HTTP listener serves
/// it (the AWS Lambda request id under `muster lambda`); the access line names it as
/// `aws_request_id` so a line can be found from the runtime's own logs and back.
#[derive(Debug, Clone)]
pub struct InvocationId(pub String);

/// Marks a response that replaced a panic.
#[derive(Debug, Clone, Copy)]
struct Panicked;

/// What handling a request leaves for its access line.
#[derive(Debug, Default)]
struct Notes {
    /// Where the handler panicked, left by the panic hook.
    panic_at: Option<String>,
    /// The authenticated caller's subject, left by the gate.
    caller: Option<String>,
}

tokio::task_local! {
    /// The current request's notes.
    static NOTES: RefCell<Notes>;
}

/// Whether the caller runs inside a request the access log is watching.
pub fn in_request() -> bool {
    NOTES.try_with(|_| ()).is_ok()
}

/// Names the authenticated caller on the current request's access line (the gate calls
/// it). A task-local rather than a response extension: the first extension allocates the
/// response's extension map, on every request.
pub fn note_caller(subject: &str) {
    let _ = NOTES.try_with(|cell| {
        if let Ok(mut notes) = cell.try_borrow_mut() {
            notes.caller = Some(subject.to_owned());
        }
    });
}

/// Installs a panic hook that, inside a request, keeps the panic's location for that
/// request's `server_error` line instead of printing it. Outside a request it logs the
/// panic as an error (target `muster::panic`) and, if `chain`, also runs the previous hook
/// (tests keep the default output for their own assertion failures).
pub fn install_panic_hook(chain: bool) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let at = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        let kept = NOTES
            .try_with(|cell| {
                if let Ok(mut notes) = cell.try_borrow_mut() {
                    notes.panic_at.clone_from(&at);
                }
            })
            .is_ok();
        if kept {
            return;
        }
        let message = panic_message(info.payload());
        tracing::error!(target: PANIC, kind = "panic", location = at.as_deref(),
                        message = %scrub(&message), "panic outside a request");
        if chain {
            previous(info);
        }
    }));
}

/// The 500 problem that replaces a panicking handler's response.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic_message(&*payload);
    let mut resp = crate::problem::ApiError::internal(format!("handler panicked: {message}")).into_response();
    resp.extensions_mut().insert(Panicked);
    resp
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// Serves `req` with `inner` and writes its access line and metrics; runs inside the
/// request id's scope ([`crate::edge`]).
pub async fn serve<F, Fut>(st: &AppState, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let started = Instant::now();
    let method = method_label(req.method());
    // a clone of the route's shared text, not a copy
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    let path = bounded(req.uri().path(), 512);
    let query = req.uri().query().map(|q| bounded(q, 1024));
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| bounded(s, 256));
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = client_ip(peer, forwarded, &st.limits.trusted_proxies).map(ip_text);
    let invocation = req.extensions().get::<InvocationId>().map(|i| bounded(&i.0, 128));
    let in_flight = st.metrics.in_flight();

    let (mut resp, notes) = NOTES
        .scope(RefCell::default(), async move {
            let resp = inner(req).await;
            (resp, NOTES.with(RefCell::take))
        })
        .await;
    drop(in_flight);

    let elapsed = started.elapsed();
    let status = resp.status();
    st.metrics.request(method, route, status.as_u16(), elapsed);
    if resp.extensions_mut().remove::<Panicked>().is_some() {
        st.metrics.panicked();
    }
    let problem = resp.extensions_mut().remove::<ProblemLog>();
    let line = Line {
        request_id: None,
        aws_request_id: invocation.as_deref(),
        method,
        route,
        path: &path,
        query: query.as_deref(),
        status: status.as_u16(),
        // whole microseconds, so the field reads 5.124 rather than 5.124499999999999
        latency_ms: elapsed.as_micros() as f64 / 1000.0,
        sub: notes.caller.as_deref().map(|c| bounded(c, 256)),
        client_ip: ip.as_deref(),
        user_agent: user_agent.as_deref(),
        bytes: body_bytes(&resp),
        problem: problem.as_ref().map(|p| p.slug),
        detail: problem.as_ref().map(|p| scrub(&p.detail).into_owned()),
        cause: problem.as_ref().and_then(|p| p.cause.as_deref()).map(|c| scrub(c).into_owned()),
        panic_at: notes.panic_at.as_deref(),
    };
    request_id::with_current(|id| Line { request_id: id, ..line }.emit());
    resp
}

/// An address as the access line shows it. IPv4 (nearly every client) is written digit
/// by digit: `Display` for an address goes through the formatting machinery with padding
/// support, which cost more than the rest of the line's fields together.
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                s.push_str(itoa::Buffer::new().format(octet));
            }
            s
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

/// Client-chosen text for a field, cut so a 16 KiB URL cannot bloat every line.
///
/// Every client-chosen field is scrubbed ([`crate::redact`]) before it is written: by
/// `Fields::json` when a JSON writer asks for the line, by the text writer in each finished
/// line. The field is scrubbed here as well only where that could miss something: when the
/// text is cut (half a token no longer looks like one) or holds anything but printable ASCII
/// (the text writer escapes control characters, and an escape can split a pattern).
/// Printable ASCII is written as it stands here, so scrubbing it twice would only double
/// the work on every request.
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max && text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return text.to_owned();
    }
    let clean = scrub(text);
    match clean.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean.into_owned(),
    }
}

/// Response body size when known up front (every JSON response here); `None` for streams.
fn body_bytes(resp: &Response) -> Option<u64> {
    resp.body().size_hint().exact().or_else(|| {
        resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|s| s.parse().ok())
    })
}

/// The fields of one access line. Public so the log writers' tests can check the line
/// they write against the one tracing's own fields would give.
pub struct Line<'a> {
    pub request_id: Option<&'a str>,
    /// The runtime's own id of the invocation ([`InvocationId`]).
    pub aws_request_id: Option<&'a str>,
    pub method: &'static str,
    pub route: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub status: u16,
    pub latency_ms: f64,
    pub sub: Option<String>,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub bytes: Option<u64>,
    pub problem: Option<&'static str>,
    pub detail: Option<String>,
    pub cause: Option<String>,
    pub panic_at: Option<&'a str>,
}

/// The target of each class of line (see the module documentation).
pub const ACCESS: &str = "muster::access";
pub const CLIENT_ERROR: &str = "muster::client_error";
pub const SERVER_ERROR: &str = "muster::server_error";
/// A panic outside a request (inside one, it is its server error line).
pub const PANIC: &str = "muster::panic";

/// The targets of access lines, one per class.
pub const TARGETS: [&str; 3] = [ACCESS, CLIENT_ERROR, SERVER_ERROR];

/// The one field (besides the message) of an access line's event: all of the line's fields
/// in one value (`Fields`). Seventeen fields, each recorded, keyed, scrubbed and escaped
/// by the writer one by one, cost more than serving the cached response the line describes;
/// as one value a JSON writer asks for them as a JSON fragment (`{:#?}`) that needs nothing
/// more, and a text writer gets `name=value` pairs (`{:?}`).
pub const LINE_FIELD: &str = "muster_line";

/// Emits an access line's event; a macro because a tracing event's target and level must
/// be constants at its call site.
macro_rules! emit {
    ($level:ident, $target:expr, $kind:literal, $l:expr, $msg:literal) => {
        {
            let fields = Fields { kind: $kind, line: $l };
            tracing::$level!(target: $target, muster_line = ?fields, $msg)
        }
    };
}

impl Line<'_> {
    /// Logs the line, classed by its status.
    pub fn emit(&self) {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            emit!(error, SERVER_ERROR, "server_error", self, "server error");
        } else if status.is_client_error() {
            if watched(status) {
                emit!(warn, CLIENT_ERROR, "client_error", self, "client error");
            } else {
                emit!(info, CLIENT_ERROR, "client_error", self, "client error");
            }
        } else if PROBES.contains(&self.route) {
            emit!(debug, ACCESS, "access", self, "request");
        } else {
            emit!(info, ACCESS, "access", self, "request");
        }
    }
}

/// A line's fields with its `kind`, as the value of [`LINE_FIELD`].
struct Fields<'a> {
    kind: &'static str,
    line: &'a Line<'a>,
}

impl Fields<'_> {
    /// Each field as `,"name":value`, in the order the line has always had; absent ones are
    /// left out. Text a client chose (or that quotes what one sent) is scrubbed here, since
    /// the writer takes the fragment as it is; the method, route, address and problem slug
    /// come from fixed vocabularies.
    fn json<S: Sink + ?Sized>(&self, out: &mut S) {
        let l = self.line;
        text(out, key!("kind"), self.kind);
        if let Some(id) = l.request_id {
            // only ids that scrubbing leaves as they are get this far (request_id::assign)
            text(out, key!("request_id"), id);
        }
        if let Some(id) = l.aws_request_id {
            text(out, key!("aws_request_id"), &scrub(id));
        }
        text(out, key!("method"), l.method);
        text(out, key!("route"), l.route);
        text(out, key!("path"), &scrub(l.path));
        if let Some(q) = l.query {
            text(out, key!("query"), &scrub(q));
        }
        out.append(",\"status\":");
        out.append(itoa::Buffer::new().format(l.status));
        out.append(",\"latency_ms\":");
        crate::json::push_f64(out, l.latency_ms);
        if let Some(sub) = &l.sub {
            text(out, key!("sub"), &scrub(sub));
        }
        if let Some(ip) = l.client_ip {
            text(out, key!("client_ip"), ip);
        }
        if let Some(ua) = l.user_agent {
            text(out, key!("user_agent"), &scrub(ua));
        }
        if let Some(bytes) = l.bytes {
            out.append(",\"bytes\":");
            out.append(itoa::Buffer::new().format(bytes));
        }
        if let Some(slug) = l.problem {
            text(out, key!("problem"), slug);
        }
        // scrubbed when the line was made
        if let Some(detail) = &l.detail {
            text(out, key!("detail"), detail);
        }
        if let Some(cause) = &l.cause {
            text(out, key!("cause"), cause);
        }
        if let Some(at) = l.panic_at {
            text(out, key!("panic_at"), &scrub(at));
        }
    }
}

/// `,"name":"` for a text field, as one literal: fewer, longer appends.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":\"")
    };
}
use key;

/// A text field: its `key` (from [`key!`]), the value escaped, the closing quote.
fn text<S: Sink + ?Sized>(out: &mut S, key: &str, value: &str) {
    out.append(key);
    crate::json::escape(out, value);
    out.append("\"");
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            // built in a String and handed over whole: each write to a formatter is a call
            // through its writer, and the fragment is some forty pieces
            thread_local! {
                static FRAGMENT: RefCell<String> = RefCell::new(String::with_capacity(512));
            }
            return FRAGMENT.with(|cell| match cell.try_borrow_mut() {
                Ok(mut buf) => {
                    buf.clear();
                    self.json(&mut *buf);
                    f.write_str(&buf)
                }
                Err(_) => {
                    let mut buf = String::new();
                    self.json(&mut buf);
                    f.write_str(&buf)
                }
            });
        }
        let l = self.line;
        write!(f, "kind={} method={} route={} path={}", self.kind, l.method, l.route, l.path)?;
        let texts = [
            ("request_id", l.request_id),
            ("aws_request_id", l.aws_request_id),
            ("query", l.query),
            ("sub", l.sub.as_deref()),
            ("client_ip", l.client_ip),
            ("user_agent", l.user_agent),
            ("problem", l.problem),
            ("detail", l.detail.as_deref()),
            ("cause", l.cause.as_deref()),
            ("panic_at", l.panic_at),
        ];
        write!(f, " status={} latency_ms={}", l.status, l.latency_ms)?;
        if let Some(bytes) = l.bytes {
            write!(f, " bytes={bytes}")?;
        }
        for (name, value) in texts {
            if let Some(v) = value {
                write!(f, " {name}={v:?}")?;
            }
        }
        Ok(())
    }
}

/// Client errors that say something about the caller rather than a typo: bad or missing
/// credentials, a missing scope, abuse of size or rate limits.
fn watched(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED
            | StatusCode::FORBIDDEN
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    )
}

/// Runs the rest of the request (`run`) in a task of its own, so that a client hanging up (or the
/// request timeout) no longer cancels it half way: a write that started finishes, and its
/// database transaction is committed or rolled back, never abandoned mid-`BEGIN` (a
/// connection cut off there could go back to the pool still inside a transaction, and a
/// later 2xx write on it would be lost). The request id and the panic location travel with it.
///
/// Reads (GET, HEAD, OPTIONS) write nothing, so cancelling one loses nothing: they run in
/// place, which spares the busiest requests a task spawn and a cross-thread wake-up.
/// A panic anywhere below becomes a 500 problem ([`panic_response`]) whose access line names it.
pub async fn detached<F, Fut>(req: Request, run: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response> + Send + 'static,
{
    use futures_util::FutureExt;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        // in place, inside the access log's own panic scope, which the hook fills
        return std::panic::AssertUnwindSafe(run(req)).catch_unwind().await.unwrap_or_else(panic_response);
    }
    // spawned by a plain function, so this future holds only the task's handle: were the
    // request's future built here, its kilobytes would size every read's future as well
    match spawn_write(req, run).await {
        Ok((outcome, notes)) => {
            let _ = NOTES.try_with(|cell| cell.replace(notes));
            outcome.unwrap_or_else(panic_response)
        }
        Err(e) => crate::problem::ApiError::internal(format!("request task failed: {e}")).into_response(),
    }
}

/// What a write's task gives back: the response or its panic, and the request's notes.
type Finished = (std::thread::Result<Response>, Notes);

/// Starts a write in a task of its own. A task has no task-locals of its own: it gets
/// notes of its own and the request id, and its notes are carried back to the access
/// log's scope.
fn spawn_write<F, Fut>(req: Request, run: F) -> tokio::task::JoinHandle<Finished>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response> + Send + 'static,
{
    use futures_util::FutureExt;
    let caught = std::panic::AssertUnwindSafe(run(req)).catch_unwind();
    let request_id = crate::request_id::current();
    let run = NOTES.scope(RefCell::default(), async move {
        let outcome = caught.await;
        (outcome, NOTES.with(RefCell::take))
    });
    tokio::spawn(async move {
        match request_id {
            Some(id) => crate::request_id::scope(id, run).await,
            None => run.await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::ip_text;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    proptest::proptest! {
        #[test]
        fn ip_text_writes_what_display_writes(bits: u32, v6: u128) {
            let v4 = IpAddr::V4(Ipv4Addr::from(bits));
            proptest::prop_assert_eq!(ip_text(v4), v4.to_string());
            let v6 = IpAddr::V6(Ipv6Addr::from(v6));
            proptest::prop_assert_eq!(ip_text(v6), v6.to_string());
        }
    }

    #[test]
    fn ip_text_edges() {
        assert_eq!(ip_text(IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0))), "0.0.0.0");
        assert_eq!(ip_text(IpAddr::V4(Ipv4Addr::new(255, 10, 1, 100))), "255.10.1.100");
    }
}
