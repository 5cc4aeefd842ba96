//! The log subscriber: JSON lines (or pretty text on a terminal), each class of line routed
//! where the configuration says, every line scrubbed of secrets and personal data.
//!
//! The API tags its lines by target: `muster::access`, `muster::client_error`,
//! `muster::server_error` (and `muster::panic`), `muster::client_report`. By default they
//! all go to stderr with everything else (to stdout under `muster lambda`, where CloudWatch
//! Logs takes both and tools expect stdout); `MUSTER_LOG_SERVER_ERRORS`,
//! `MUSTER_LOG_CLIENT_ERRORS` and `MUSTER_LOG_CLIENT_REPORTS` move a class to its own
//! stream or file (always JSON in a file), so server errors can page someone while client
//! errors only feed a dashboard. Routing is by target, decided per call site once, so it
//! costs nothing per line.
//!
//! One more layer turns the database driver's statement events (`sqlx::query`, which carry
//! `elapsed_secs`) into the store query-latency histogram; those events are otherwise off,
//! so `MUSTER_LOG` does not have to enable them for the metric to work.

use crate::config::{Config, LogFormat, LogSink};
use muster_api::access_log;
use muster_api::redact::scrub;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

/// A class of lines that can be sent somewhere of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    ServerErrors,
    ClientErrors,
    ClientReports,
}

impl Class {
    /// The targets whose lines belong to the class.
    pub fn targets(self) -> &'static [&'static str] {
        match self {
            // a panic outside a request is a server-side failure too
            Class::ServerErrors => &[access_log::SERVER_ERROR, access_log::PANIC],
            Class::ClientErrors => &[access_log::CLIENT_ERROR],
            Class::ClientReports => &["muster::client_report"],
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Class::ServerErrors => "MUSTER_LOG_SERVER_ERRORS",
            Class::ClientErrors => "MUSTER_LOG_CLIENT_ERRORS",
            Class::ClientReports => "MUSTER_LOG_CLIENT_REPORTS",
        }
    }
}

/// Where lines go: the main writer, and the classes routed elsewhere with their format.
pub struct Outputs {
    pub main: BoxMakeWriter,
    pub routed: Vec<(Class, BoxMakeWriter, LogFormat)>,
}

impl Outputs {
    /// Everything to `main`.
    pub fn to(main: BoxMakeWriter) -> Outputs {
        Outputs { main, routed: Vec::new() }
    }

    /// stderr (stdout on Lambda), plus the sinks the configuration names (files opened now,
    /// so a path that cannot be written stops start-up with the setting's name). Each is a
    /// [`LineBuffer`].
    pub fn from_config(cfg: &Config, mode: crate::Mode) -> Result<Outputs, String> {
        let mut out = Outputs::to(match mode {
            crate::Mode::Serve => LineBuffer::writer(io::stderr()),
            crate::Mode::Lambda => LineBuffer::writer(io::stdout()),
        });
        for (class, sink) in [
            (Class::ServerErrors, &cfg.log_server_errors),
            (Class::ClientErrors, &cfg.log_client_errors),
            (Class::ClientReports, &cfg.log_client_reports),
        ] {
            let Some(sink) = sink else { continue };
            let (writer, format) = match sink {
                LogSink::Stdout => (LineBuffer::writer(io::stdout()), cfg.log_format),
                LogSink::Stderr => (LineBuffer::writer(io::stderr()), cfg.log_format),
                LogSink::File(path) => {
                    let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                        format!("{}: cannot open {} for appending: {e}", class.setting(), path.display())
                    })?;
                    (LineBuffer::writer(file), LogFormat::Json)
                }
            };
            out.routed.push((class, writer, format));
        }
        Ok(out)
    }
}

type Boxed = Box<dyn Layer<Registry> + Send + Sync>;

/// The subscriber: `filter` (a `MUSTER_LOG` value) decides which lines exist; `outputs`
/// where each goes.
pub fn subscriber(format: LogFormat, filter: &str, outputs: Outputs) -> impl Subscriber + Send + Sync {
    let mut main_only = Targets::new().with_default(LevelFilter::TRACE);
    let mut layers: Vec<Boxed> = Vec::new();
    for (class, writer, class_format) in outputs.routed {
        let mut only = Targets::new();
        for target in class.targets() {
            only = only.with_target(*target, LevelFilter::TRACE);
            main_only = main_only.with_target(*target, LevelFilter::OFF);
        }
        layers.push(Box::new(fmt_layer(class_format, writer).with_filter(EnvFilter::new(filter).and(only))));
    }
    layers.push(Box::new(fmt_layer(format, outputs.main).with_filter(EnvFilter::new(filter).and(main_only))));
    layers.push(Box::new(QueryTiming.with_filter(Targets::new().with_target("sqlx::query", Level::TRACE))));
    Registry::default().with(layers)
}

/// Installs the subscriber for this process and the panic hook that logs panics as lines.
pub fn init(cfg: &Config, mode: crate::Mode) -> Result<(), String> {
    let outputs = Outputs::from_config(cfg, mode)?;
    tracing::subscriber::set_global_default(subscriber(cfg.log_format, &cfg.log_filter, outputs))
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    muster_api::access_log::install_panic_hook(false);
    Ok(())
}

/// How long a line may wait in a [`LineBuffer`] before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Buffered lines past this size are written by the thread that adds the next one.
const BUFFER_LIMIT: usize = 256 * 1024;

/// Every sink's buffer: the flusher thread and [`flush`] write them.
static BUFFERS: Mutex<Vec<Weak<Sink>>> = Mutex::new(Vec::new());

/// A sink whose lines are gathered in memory and written together, by one flusher thread
/// every [`FLUSH_EVERY`], or at once when the buffer is full or the line is an error.
///
/// A write system call per access line was a visible share of the server's CPU under load;
/// this way a busy second writes a few dozen times. Nothing is dropped: a writer that finds the
/// buffer full writes it itself. Order is kept: buffers are taken and written under one
/// lock. Errors (server errors, panics) are written before their call returns, and
/// [`flush`] writes what is left when the process ends; what a `SIGKILL` leaves unwritten
/// is at most the last [`FLUSH_EVERY`] of non-error lines.
pub struct LineBuffer;

struct Sink {
    lines: Mutex<Vec<u8>>,
    /// The output, and the buffer last written to it, emptied: swapped in for the lines it
    /// takes, so neither buffer grows from nothing (and is copied on the way) after a write.
    out: Mutex<(Box<dyn Write + Send>, Vec<u8>)>,
}

impl Sink {
    /// Writes everything buffered so far.
    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let (out, spare) = &mut *out;
        std::mem::swap(spare, &mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()));
        if !spare.is_empty() {
            // a log that cannot be written has nowhere to report it
            let _ = out.write_all(spare);
            let _ = out.flush();
            spare.clear();
            // one huge line must not keep its memory for good
            spare.shrink_to(2 * BUFFER_LIMIT);
        }
    }
}

impl LineBuffer {
    /// A buffered sink writing to `out`; the first one starts the flusher thread.
    pub fn writer(out: impl Write + Send + 'static) -> BoxMakeWriter {
        static FLUSHER: std::sync::Once = std::sync::Once::new();
        let sink = Arc::new(Sink { lines: Mutex::new(Vec::new()), out: Mutex::new((Box::new(out), Vec::new())) });
        BUFFERS.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(&sink));
        FLUSHER.call_once(|| {
            std::thread::Builder::new()
                .name("muster-log".into())
                .spawn(|| {
                    loop {
                        flush();
                        std::thread::sleep(FLUSH_EVERY);
                    }
                })
                .expect("spawn the log flusher thread");
        });
        BoxMakeWriter::new(SinkWriters(sink))
    }
}

/// Writes what every [`LineBuffer`] holds; the flusher thread calls it, and `main` before
/// the process ends.
pub fn flush() {
    let sinks: Vec<_> = BUFFERS.lock().unwrap_or_else(|e| e.into_inner()).iter().filter_map(Weak::upgrade).collect();
    for sink in sinks {
        sink.flush();
    }
}

struct SinkWriters(Arc<Sink>);

impl<'a> MakeWriter<'a> for SinkWriters {
    type Writer = SinkWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter { sink: &self.0, urgent: false }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        SinkWriter { sink: &self.0, urgent: *meta.level() == Level::ERROR }
    }
}

struct SinkWriter<'a> {
    sink: &'a Sink,
    urgent: bool,
}

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let full = {
            let mut lines = self.sink.lines.lock().unwrap_or_else(|e| e.into_inner());
            lines.extend_from_slice(buf);
            lines.len() >= BUFFER_LIMIT
        };
        if full || self.urgent {
            self.sink.flush();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn fmt_layer(format: LogFormat, writer: BoxMakeWriter) -> Boxed {
    match format {
        // scrubs each text value itself, before escaping it
        LogFormat::Json => Box::new(crate::json_lines::JsonLines::new(writer)),
        LogFormat::Pretty => Box::new(tracing_subscriber::fmt::layer().with_writer(Scrubbed(writer))),
    }
}

/// A writer that scrubs each line before writing it. The formatter hands over one whole
/// line per write, so a pattern is never split across two writes.
struct Scrubbed<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbed<M> {
    type Writer = ScrubWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        ScrubWriter(self.0.make_writer_for(meta))
    }
}

struct ScrubWriter<W>(W);

impl<W: Write> Write for ScrubWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(scrub(text).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Feeds `muster_store_query_duration_seconds` from the driver's statement events, which only
/// the SQLite store turns on (the PostgreSQL store times its operations itself).
struct QueryTiming;

impl<S: Subscriber> Layer<S> for QueryTiming {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        struct Elapsed(Option<f64>);
        impl Visit for Elapsed {
            fn record_f64(&mut self, field: &Field, value: f64) {
                if field.name() == "elapsed_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
        }
        let mut elapsed = Elapsed(None);
        event.record(&mut elapsed);
        if let Some(secs) = elapsed.0 {
            muster_api::metrics::observe_query(secs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn lines(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        }
    }

    fn writer(b: &Buf) -> BoxMakeWriter {
        let b = b.clone();
        BoxMakeWriter::new(move || b.clone())
    }

    #[test]
    fn classes_go_where_they_are_routed_and_lines_are_scrubbed() {
        let (main, server) = (Buf::default(), Buf::default());
        let outputs =
            Outputs { main: writer(&main), routed: vec![(Class::ServerErrors, writer(&server), LogFormat::Json)] };
        let sub = subscriber(LogFormat::Json, "info", outputs);
        tracing::subscriber::with_default(sub, || {
            tracing::info!(target: "muster::access", kind = "access", status = 200, "request");
            tracing::warn!(target: "muster::client_error", kind = "client_error", sub = "ana@example.org", "client error");
            tracing::error!(target: "muster::server_error", kind = "server_error", cause = "db at postgres://u:pw@db/x", "server error");
            tracing::debug!(target: "muster::access", "below the filter");
        });
        let main = main.lines();
        assert_eq!(main.iter().map(|l| l["kind"].as_str().unwrap()).collect::<Vec<_>>(), ["access", "client_error"]);
        assert_eq!(main[1]["sub"], "a***@example.org");
        assert_eq!(main[1]["level"], "WARN");
        assert_eq!(main[1]["target"], "muster::client_error");
        let server = server.lines();
        assert_eq!(server.len(), 1);
        assert_eq!(server[0]["kind"], "server_error");
        assert_eq!(server[0]["cause"], "db at postgres://u:***@db/x");
    }

    #[test]
    fn statement_events_feed_the_query_histogram() {
        let sub = subscriber(LogFormat::Json, "off", Outputs::to(BoxMakeWriter::new(io::sink)));
        let count = || {
            let text = muster_api::metrics::Metrics::new(&crate::build_info(None)).render();
            text.lines()
                .find_map(|l| l.strip_prefix("muster_store_query_duration_seconds_count "))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap()
        };
        let before = count();
        tracing::subscriber::with_default(sub, || {
            tracing::trace!(target: "sqlx::query", summary = "select 1", elapsed_secs = 0.002_f64);
        });
        assert!(count() > before, "the histogram is process-wide, so other tests may add more");
    }
}
