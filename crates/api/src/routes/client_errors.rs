//! `POST /v1/client-errors`: browsers and apps report their own errors here, and
//! `GET /v1/admin/client-errors` lists what they reported (for the monitor and people).
//!
//! A report is a client error in the other sense: it happened on the caller's side, so it
//! is logged under its own `kind=client_report` (target `muster::client_report`), never as a
//! server error, counted in `muster_client_reports_total`, and kept for
//! [`ClientReportPolicy::retention`]. A crashing page can report in a loop, so reports have
//! a small body limit and a rate budget of their own on top of the caller's general one.
//! What a client sends is scrubbed of tokens, emails and phone numbers before it is logged
//! or stored: a stack trace or a URL quotes whatever the page was showing.

use crate::AppState;
use crate::extract::Query;
use crate::principal::Principal;
use crate::problem::{ApiError, ApiResult};
use crate::ratelimit::Quota;
use crate::redact::{redact_url, scrub};
use crate::request_id;
use crate::resource::page_body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use muster_domain::input::{Fields, string, with};
use muster_store::{ClientReport, ClientReportQuery, ReportLevel, Store};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Where clients send reports.
pub const PATH: &str = "/v1/client-errors";

/// Largest report body: a message, a long stack trace and some context.
pub const BODY_LIMIT: usize = 32 * 1024;

/// Longest kept text per field, in characters; longer text is cut, not refused (a report
/// is worth more truncated than lost).
const MESSAGE_MAX: usize = 4096;
const STACK_MAX: usize = 16 * 1024;
const URL_MAX: usize = 2048;
const USER_AGENT_MAX: usize = 512;
const RELEASE_MAX: usize = 128;

/// How often old reports are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How reports are limited and kept.
#[derive(Debug, Clone, Copy)]
pub struct ClientReportPolicy {
    /// Each caller's report budget (`MUSTER_CLIENT_REPORT_RATE`).
    pub rate: Quota,
    /// Reports older than this are purged (`MUSTER_CLIENT_REPORT_RETENTION`).
    pub retention: Duration,
    /// At most this many are kept, the newest, whatever their age.
    pub keep: u32,
}

impl Default for ClientReportPolicy {
    fn default() -> Self {
        ClientReportPolicy {
            rate: Quota::parse("30/min").expect("valid default"),
            retention: Duration::from_secs(30 * 24 * 3600),
            keep: 100_000,
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, post(report)).route("/v1/admin/client-errors", get(list))
}

/// `POST /v1/client-errors` with `{"message": "...", "stack", "url", "user_agent", "release",
/// "level"}` (`message` required; `level` one of fatal, error, warning, info, debug;
/// default error). Answers 202 with the report's id.
async fn report(
    State(st): State<AppState>,
    Extension(caller): Extension<Principal>,
    req: Request,
) -> ApiResult<Response> {
    let decision =
        st.limits.limiter.check(&format!("reports:sub:{}", caller.subject), &st.client_reports.rate, 1).await;
    if let Some(wait) = decision.retry_after.filter(|_| !decision.allowed) {
        st.metrics.rate_limited("client_reports");
        let secs = wait.as_secs_f64().ceil().max(1.0);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("this caller has sent too many error reports; retry in {secs} s"),
        )
        .with_header(header::RETRY_AFTER, &format!("{secs}")));
    }
    let header_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = crate::extract::read_object(req, BODY_LIMIT).await?.0;
    let mut report = parse(&body, &caller.subject)?;
    if report.user_agent.is_none() {
        report.user_agent = header_agent.map(|ua| cut(&scrub(&ua), USER_AGENT_MAX));
    }
    st.store.insert_client_report(&report).await?;
    st.metrics.client_report(report.level);
    log(&report);
    let body = json!({"id": report.id, "received_at": report.received_at});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The report in `body`, scrubbed and cut to size, or every problem with it.
fn parse(body: &Map<String, Value>, subject: &str) -> ApiResult<ClientReport> {
    let mut f = Fields::new(body, &["message", "stack", "url", "user_agent", "release", "level"]);
    let message = f.required("message", |v| {
        let s = string(v)?.trim();
        if s.is_empty() { Err("must not be empty".to_owned()) } else { Ok(cut(&scrub(s), MESSAGE_MAX)) }
    });
    let text = |max: usize| move |v: &Value| string(v).map(|s| cut(&scrub(s.trim()), max));
    let stack = f.optional("stack", text(STACK_MAX));
    let url = f.optional("url", |v| string(v).map(|s| cut(&redact_url(s.trim()), URL_MAX)));
    let user_agent = f.optional("user_agent", text(USER_AGENT_MAX));
    let release = f.optional("release", text(RELEASE_MAX));
    let level = f.optional("level", with(ReportLevel::parse));
    let message = f.finish(|| message)?.unwrap_or_default();
    Ok(ClientReport {
        id: uuid::Uuid::now_v7(),
        received_at: muster_domain::now_micros(),
        level: level.unwrap_or(ReportLevel::Error),
        message,
        stack: stack.filter(|s| !s.is_empty()),
        url: url.filter(|s| !s.is_empty()),
        user_agent: user_agent.filter(|s| !s.is_empty()),
        release: release.filter(|s| !s.is_empty()),
        subject: subject.to_owned(),
        request_id: request_id::current(),
    })
}

/// `s` cut to at most `max` characters, marked when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…[truncated]", &s[..at]),
        None => s.to_owned(),
    }
}

/// The report's log line: warn for what broke the client (fatal, error), info otherwise;
/// never error, which is kept for the server's own failures.
fn log(r: &ClientReport) {
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                target: "muster::client_report",
                kind = "client_report",
                request_id = r.request_id.as_deref(),
                report_id = %r.id,
                report_level = r.level.as_str(),
                sub = %scrub(&r.subject),
                message = r.message.as_str(),
                url = r.url.as_deref(),
                release = r.release.as_deref(),
                user_agent = r.user_agent.as_deref(),
                stack = r.stack.as_deref(),
                "client report"
            )
        };
    }
    match r.level {
        ReportLevel::Fatal | ReportLevel::Error => line!(warn),
        ReportLevel::Warning | ReportLevel::Info | ReportLevel::Debug => line!(info),
    }
}

/// `GET /v1/admin/client-errors?since=&level=&limit=&cursor=`: newest first.
async fn list(State(st): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref(), &["since", "level"])?;
    let since = q.timestamp("since");
    let level = q.get("level", ReportLevel::parse);
    let page = q.page();
    q.finish()?;
    let listed = st.store.list_client_reports(&ClientReportQuery { since, level, page }).await?;
    Ok(page_body(listed))
}

/// Purges old reports now and every [`PURGE_EVERY`], forever; failures are logged and
/// retried on the next round.
pub async fn purge_loop(store: Arc<dyn Store>, policy: ClientReportPolicy) {
    loop {
        let before = chrono::Utc::now() - chrono::Duration::from_std(policy.retention).unwrap_or(chrono::Duration::MAX);
        match store.purge_client_reports(before, policy.keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "old client reports purged"),
            Err(e) => tracing::warn!(error = %e, "could not purge old client reports; retrying later"),
        }
        tokio::time::sleep(PURGE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_a_report_and_scrubs_it() {
        let r = parse(
            &body(json!({"message": "TypeError for ana@example.org", "stack": "at x (app.js:1:2)",
                         "url": "https://app.example.org/cb?token=abc&tab=2", "release": "web-1.4", "level": "fatal"})),
            "browser",
        )
        .unwrap();
        assert_eq!(r.message, "TypeError for a***@example.org");
        assert_eq!(r.url.as_deref(), Some("https://app.example.org/cb?token=***&tab=2"));
        assert_eq!(r.level, ReportLevel::Fatal);
        assert_eq!(r.subject, "browser");
        let d = parse(&body(json!({"message": "x"})), "s").unwrap();
        assert_eq!((d.level, d.stack), (ReportLevel::Error, None));
    }

    #[test]
    fn names_every_bad_field() {
        let e = parse(&body(json!({"message": "", "level": "panic", "stack": 3, "extra": true})), "s").unwrap_err();
        let mut fields: Vec<_> = e.errors.iter().map(|f| f.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["extra", "level", "message", "stack"]);
    }

    #[test]
    fn long_text_is_cut_not_refused() {
        let r = parse(&body(json!({"message": "m".repeat(MESSAGE_MAX + 10)})), "s").unwrap();
        assert!(r.message.ends_with("…[truncated]"));
        assert_eq!(r.message.chars().count(), MESSAGE_MAX + "…[truncated]".chars().count());
        assert_eq!(cut("ok", 5), "ok");
    }
}
