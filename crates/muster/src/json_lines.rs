//! JSON log lines, written straight into one reused buffer.
//!
//! The line is the one tracing-subscriber's JSON format writes with `flatten_event(true)`
//! and no spans: `timestamp` (RFC 3339, microseconds, UTC), `level`, the event's fields in
//! order, then `target`; values typed as that format types them (numbers, booleans, and
//! strings for `Debug`/`Display` values). A test checks the two byte for byte.
//!
//! Why not that format itself: it builds each line through serde's map serializer and the
//! timer's `Display`, and the scrubbing writer behind it had to check the bytes were UTF-8
//! again. Under load the access line cost more instructions than serving the cached
//! response it describes (callgrind, cached GET by id). Here a line costs one pass to
//! format, and the buffer is reused.
//!
//! Every text value is scrubbed ([`scrub`]) before it is escaped into the line, rather
//! than the finished line after: only values can carry what scrubbing looks for (keys,
//! numbers, the level, the timestamp and the target are the program's own), a pattern in a
//! value can no longer be split by the escaping, and the fixed half of each line is not
//! searched on every request.

use muster_api::access_log;
use muster_api::redact::scrub;
use muster_domain::rfc3339;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// A layer writing each event as one scrubbed JSON line to `writer`.
pub struct JsonLines {
    writer: BoxMakeWriter,
}

impl JsonLines {
    pub fn new(writer: BoxMakeWriter) -> Self {
        JsonLines { writer }
    }

    fn write(&self, bufs: &mut Buffers, event: &Event<'_>) {
        bufs.line.clear();
        format_line(bufs, event, chrono::Utc::now());
        // a log that cannot be written has nowhere to report it
        let _ = self.writer.make_writer_for(event.metadata()).write_all(bufs.line.as_bytes());
    }
}

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        thread_local! {
            static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::with_capacity(1024));
        }
        let reused = BUFFERS.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut bufs) => {
                self.write(&mut bufs, event);
                true
            }
            Err(_) => false,
        });
        // an event raised while this thread formats another, or during thread teardown
        if !matches!(reused, Ok(true)) {
            self.write(&mut Buffers::with_capacity(0), event);
        }
    }
}

/// The line being written, and room to format a `Debug` value before it is scrubbed.
struct Buffers {
    line: String,
    scratch: String,
}

impl Buffers {
    fn with_capacity(line: usize) -> Buffers {
        Buffers { line: String::with_capacity(line), scratch: String::new() }
    }
}

/// Appends `event` as one line (with its newline) to `bufs.line`.
fn format_line(bufs: &mut Buffers, event: &Event<'_>, now: chrono::DateTime<chrono::Utc>) {
    let meta = event.metadata();
    let line = &mut bufs.line;
    line.push_str("{\"timestamp\":\"");
    timestamp(line, now);
    line.push_str("\",\"level\":\"");
    line.push_str(level(*meta.level()));
    line.push('"');
    event.record(&mut Fields { line, scratch: &mut bufs.scratch, target: meta.target() });
    line.push_str(",\"target\":");
    string(line, meta.target());
    line.push_str("}\n");
}

fn level(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// `2026-11-28T06:09:18.187637Z`, as tracing-subscriber's timer writes it (the layout
/// is the domain's [`rfc3339::write_micros`]; a year outside 0..=9999 gets its sign).
fn timestamp(line: &mut String, now: chrono::DateTime<chrono::Utc>) {
    let mut buf = [0u8; 30];
    match rfc3339::write_micros(&now, &mut buf) {
        Some(text) => line.push_str(text),
        None => {
            use chrono::Datelike;
            let _ = write!(line, "{:+}{}", now.year(), now.format("-%m-%dT%H:%M:%S%.6fZ"));
        }
    }
}

/// A JSON string, escaped as serde_json escapes: `"`, `\` and control characters.
fn string(line: &mut String, s: &str) {
    line.push('"');
    muster_api::json::escape(line, s);
    line.push('"');
}

/// Appends each field as `,"name":value`, typed as tracing-serde types it, text values
/// scrubbed.
struct Fields<'a> {
    line: &'a mut String,
    scratch: &'a mut String,
    target: &'static str,
}

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        self.line.push(',');
        string(self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for Fields<'_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.line.push_str(itoa::Buffer::new().format(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        // serde_json's own form (`1e+21` style exponents; null when not finite)
        muster_api::json::push_f64(self.line, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        string(self.line, &scrub(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == access_log::LINE_FIELD && access_log::TARGETS.contains(&self.target) {
            // an access line's fields, which it writes itself as a JSON fragment with the
            // text a client chose already scrubbed
            let _ = write!(self.line, "{value:#?}");
            return;
        }
        self.key(field);
        self.scratch.clear();
        let _ = write!(self.scratch, "{value:?}");
        string(self.line, &scrub(self.scratch));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn writer(&self) -> BoxMakeWriter {
            let b = self.clone();
            BoxMakeWriter::new(move || b.clone())
        }

        /// The lines, with the timestamps' value (the clock moved between the two writers)
        /// replaced; each timestamp must still have the shape `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
        fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.split_inclusive('\n')
                .map(|l| {
                    let ts = &l[14..41];
                    let shape: String = ts.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
                    assert_eq!(shape, "9999-99-99T99:99:99.999999Z", "{l}");
                    format!("{}<ts>{}", &l[..14], &l[41..])
                })
                .collect()
        }
    }

    #[derive(Debug)]
    #[expect(dead_code, reason = "read only through Debug, which is what the test formats")]
    struct Thing {
        name: &'static str,
        tags: Vec<&'static str>,
    }

    #[test]
    fn lines_match_tracing_subscribers_json_format_byte_for_byte() {
        let (ours, theirs) = (Buf::default(), Buf::default());
        let reference = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(theirs.writer());
        let sub = tracing_subscriber::registry().with(JsonLines::new(ours.writer())).with(reference);
        let err = std::io::Error::other("disk \"full\"");
        tracing::subscriber::with_default(sub, || {
            tracing::info!(target: "muster::access", kind = "access", request_id = Some("01a2"), method = "GET",
                           route = "/v1/volunteers/{id}", status = 200u16, latency_ms = 1.284, bytes = Some(346u64),
                           sub = None::<&str>, "request");
            tracing::warn!(
                quote = "say \"hi\"\\ now\n\ttab\r\u{1}\u{8}\u{c}\u{1f}\u{7f} é ✓",
                n = -42i64,
                ok = true,
                big = u64::MAX,
                small = 1e-7,
                huge = 1e21,
                whole = 3.0,
                nan = f64::NAN,
                inf = f64::INFINITY
            );
            tracing::error!(thing = ?Thing { name: "x\"y", tags: vec!["a", "b"] }, shown = %"display \"me\"",
                            error = &err as &(dyn std::error::Error + 'static), wide = 7i128,
                            "failed: {} of {}", 3, "ten\n");
            tracing::debug!(target: "sqlx::query", summary = "select 1", elapsed_secs = 0.002_f64);
            tracing::trace!("no fields but the message");
        });
        let (ours, theirs) = (ours.lines(), theirs.lines());
        assert_eq!(ours.len(), 5);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn every_kind_of_text_value_is_scrubbed_before_it_is_escaped() {
        let out = Buf::default();
        let sub = tracing_subscriber::registry().with(JsonLines::new(out.writer()));
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                text = "from \"ana@example.org\"\n",
                shown = %format_args!("call (415) 555-0132"),
                debugged = ?"token=hunter2",
                count = 4155550132u64,
                "signed in with {jwt}"
            );
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(line["text"], "from \"a***@example.org\"\n");
        assert_eq!(line["shown"], "call (***) ***-0132");
        // Debug quotes a string, and the quote ends the credential
        assert_eq!(line["debugged"], "\"token=***\"");
        // numbers are the program's own and stay as they are
        assert_eq!(line["count"], 4155550132u64);
        assert_eq!(line["message"], "signed in with [redacted jwt]");
    }

    /// An access line written from its one value is the line its fields, recorded one by
    /// one as separate tracing fields, would give (client text scrubbed either way).
    #[test]
    fn access_lines_are_what_their_fields_one_by_one_would_be() {
        let (ours, reference) = (Buf::default(), Buf::default());
        let full = access_log::Line {
            request_id: Some("01a223af-503d-75b3-8c7b-5e7498dfa433"),
            aws_request_id: Some("c6af9ac6-7b61-11e6-9a41-93e812345678"),
            method: "PATCH",
            route: "/v1/volunteers/{id}",
            path: "/v1/volunteers/ana@example.org",
            query: Some("token=abc&q=\"quoted\"\\"),
            status: 500,
            latency_ms: 12.345,
            sub: Some("ana@example.org".to_owned()),
            client_ip: Some("10.1.2.3"),
            user_agent: Some("curl/8 \u{1}é ✓"),
            bytes: Some(123),
            problem: Some("internal"),
            detail: Some("it broke".to_owned()),
            cause: Some("pool timed out\nretry".to_owned()),
            panic_at: Some("src/x.rs:1:2"),
        };
        let bare = access_log::Line {
            request_id: None,
            aws_request_id: None,
            method: "GET",
            route: "/health",
            path: "/health",
            query: None,
            status: 200,
            latency_ms: 0.001,
            sub: None,
            client_ip: None,
            user_agent: None,
            bytes: None,
            problem: None,
            detail: None,
            cause: None,
            panic_at: None,
        };
        let one_by_one = |l: &access_log::Line<'_>, kind: &str, msg: &str| {
            macro_rules! each {
                ($level:ident, $target:literal) => {
                    tracing::$level!(target: $target, kind, request_id = l.request_id,
                                     aws_request_id = l.aws_request_id, method = l.method,
                                     route = l.route, path = l.path, query = l.query, status = l.status,
                                     latency_ms = l.latency_ms, sub = l.sub.as_deref(), client_ip = l.client_ip,
                                     user_agent = l.user_agent, bytes = l.bytes, problem = l.problem,
                                     detail = l.detail.as_deref(), cause = l.cause.as_deref(),
                                     panic_at = l.panic_at, "{msg}")
                };
            }
            if kind == "server_error" {
                each!(error, "muster::server_error");
            } else {
                each!(debug, "muster::access");
            }
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(JsonLines::new(ours.writer())), || {
            full.emit();
            bare.emit();
        });
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(JsonLines::new(reference.writer())),
            || {
                one_by_one(&full, "server_error", "server error");
                one_by_one(&bare, "access", "request");
            },
        );
        let (ours, reference) = (ours.lines(), reference.lines());
        assert_eq!(ours.len(), 2);
        assert_eq!(ours, reference);
        assert!(ours[0].contains(r#""sub":"a***@example.org""#), "{}", ours[0]);
        assert!(ours[0].contains(r#""query":"token=***&q=\"quoted\"\\""#), "{}", ours[0]);
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        use chrono::TimeZone;
        let mut line = String::new();
        let t = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::microseconds(6);
        timestamp(&mut line, t);
        assert_eq!(line, "2026-01-02T03:04:05.000006Z");
        line.clear();
        let far = chrono::Utc.with_ymd_and_hms(10000, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::microseconds(6);
        timestamp(&mut line, far);
        assert_eq!(line, "+10000-01-02T03:04:05.000006Z");
    }
}
