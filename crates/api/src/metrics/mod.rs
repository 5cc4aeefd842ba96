//! Prometheus metrics: what the service counts, and the calls that count it.
//!
//! Each [`AppState`](crate::AppState) owns one [`Metrics`] with its own registry, so several
//! apps in one process (the test suites) never see each other's counts; the admin listener
//! ([`admin_router`]) serves it as Prometheus text. HTTP metrics are labelled by route
//! template (`/v1/events/{id}`), never by raw path, so their cardinality is the size of the
//! route table. Business counters move only when a create has succeeded, by exactly the
//! rows created; batch and cache code call the same public functions.
//!
//! The store query histogram is the one process-wide metric (see [`observe_query`]): the
//! PostgreSQL store reports each operation's time to it directly, and SQLite's statements
//! reach it through the driver's statement events, read by the log subscriber, which exists
//! once per process. Every registry exposes it.

mod admin;

pub use admin::{COUNTS_EVERY, admin_router, refresh_counts_loop};

use crate::BuildInfo;
use muster_domain::attendance::{Attendance, AttendanceStatus};
use muster_domain::candidate::Candidate;
use muster_domain::event::Event;
use muster_domain::volunteer::Volunteer;
use muster_store::{Counts, PoolStats, ReportLevel};
use prometheus::core::Collector;
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::any::Any;
use std::sync::LazyLock;
use std::time::Duration;

/// Request latency buckets (seconds): from a cached read to the request timeout.
const HTTP_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Statement latency buckets (seconds): an index lookup to a lock wait.
const QUERY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The resources the response cache will serve; their hit and miss series exist from the start.
pub const CACHED_RESOURCES: &[&str] = &["candidates", "volunteers", "events", "attendances"];

/// Why a caller was turned away at the gate (the `reason` label of `muster_auth_failures_total`).
pub const AUTH_FAILURE_REASONS: &[&str] = &[
    "missing",
    "malformed",
    "algorithm",
    "unknown_key",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "claims",
    "invalid",
    "insufficient_scope",
];

/// The `flag` label of evaluations of keys that name no flag.
pub const UNKNOWN_FLAG: &str = "(unknown)";

/// Rate-limit policies (the `policy` label of `muster_rate_limited_total`).
pub const RATE_LIMIT_POLICIES: &[&str] = &["default", "client_reports"];

static QUERY_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    Histogram::with_opts(
        HistogramOpts::new(
            "muster_store_query_duration_seconds",
            "Time a store operation held its database connection (SQLite: a statement), rows fetched included.",
        )
        .buckets(QUERY_BUCKETS.to_vec()),
    )
    .expect("valid histogram")
});

/// Records one store operation's duration (SQLite: one statement's; process-wide, see the
/// module docs).
pub fn observe_query(seconds: f64) {
    QUERY_SECONDS.observe(seconds);
}

/// Everything one app counts. Cheap to share (`Arc`); every method takes `&self`.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
    client_errors: IntCounterVec,
    server_errors: IntCounterVec,
    panics: IntCounter,
    rate_limited: IntCounterVec,
    auth_failures: IntCounterVec,
    candidates_created: IntCounter,
    volunteers_created: IntCounter,
    events_created: IntCounter,
    attendances_created: IntCounterVec,
    checkins: IntCounter,
    client_reports: IntCounterVec,
    rows: IntGaugeVec,
    attendances: IntGaugeVec,
    counts_refreshed: Gauge,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
    redis_up: IntGaugeVec,
    redis_fallbacks: IntCounter,
    cache_hits: IntCounterVec,
    cache_misses: IntCounterVec,
    cache_errors: IntCounterVec,
    cache_evictions: IntCounter,
    cache_memory_bytes: IntGauge,
    flag_evaluations: IntCounterVec,
    flags_loaded: IntGauge,
    flags_reloaded: Gauge,
    audit_written: IntCounter,
    audit_failures: IntCounter,
}

/// Registers `c` and hands it back; names are fixed in this file, so a clash is a bug.
fn reg<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    reg(r, IntCounter::new(name, help).expect("valid counter"))
}

fn int_gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    reg(r, IntGauge::new(name, help).expect("valid gauge"))
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(r, IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter"))
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    reg(r, IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge"))
}

impl Metrics {
    /// A fresh registry with every series that should exist before anything happens
    /// (counters at 0 rather than absent, so `rate()` and alerts see them from the start).
    pub fn new(build: &BuildInfo) -> Metrics {
        let r = Registry::new();
        let http = &["method", "route", "status"];
        let m = Metrics {
            requests: counter_vec(&r, "http_requests_total", "HTTP requests answered, by route template.", http),
            duration: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new("http_request_duration_seconds", "Time to answer an HTTP request.")
                        .buckets(HTTP_BUCKETS.to_vec()),
                    &["method", "route"],
                )
                .expect("valid histogram"),
            ),
            in_flight: int_gauge(&r, "http_requests_in_flight", "HTTP requests being answered now."),
            client_errors: counter_vec(&r, "http_client_errors_total", "Requests answered with a 4xx.", http),
            server_errors: counter_vec(&r, "http_server_errors_total", "Requests answered with a 5xx.", http),
            panics: counter(&r, "muster_panics_total", "Handler panics turned into 500 responses."),
            rate_limited: counter_vec(
                &r,
                "muster_rate_limited_total",
                "Requests refused with 429, by rate-limit policy.",
                &["policy"],
            ),
            auth_failures: counter_vec(
                &r,
                "muster_auth_failures_total",
                "Requests refused with 401 or 403, by reason.",
                &["reason"],
            ),
            candidates_created: counter(&r, "muster_candidates_created_total", "Candidates created."),
            volunteers_created: counter(&r, "muster_volunteers_created_total", "Volunteers signed up."),
            events_created: counter(&r, "muster_events_created_total", "Events created."),
            attendances_created: counter_vec(
                &r,
                "muster_attendances_created_total",
                "Attendances created, by the status the server decided.",
                &["status"],
            ),
            checkins: counter(&r, "muster_checkins_total", "Volunteers checked in at an event."),
            client_reports: counter_vec(
                &r,
                "muster_client_reports_total",
                "Client-side error reports received, by level.",
                &["level"],
            ),
            rows: gauge_vec(&r, "muster_rows", "Rows stored, by table (refreshed about once a minute).", &["table"]),
            attendances: gauge_vec(
                &r,
                "muster_attendances",
                "Attendances stored, by status (refreshed about once a minute).",
                &["status"],
            ),
            counts_refreshed: reg(
                &r,
                Gauge::new(
                    "muster_rows_refreshed_timestamp_seconds",
                    "When the row gauges were last refreshed (Unix time); 0 before the first refresh.",
                )
                .expect("valid gauge"),
            ),
            pool_connections: gauge_vec(
                &r,
                "muster_store_pool_connections",
                "Database connections open, by pool and state.",
                &["pool", "state"],
            ),
            pool_max: gauge_vec(
                &r,
                "muster_store_pool_max_connections",
                "Most database connections a pool may open.",
                &["pool"],
            ),
            redis_up: gauge_vec(
                &r,
                "muster_redis_up",
                "1 while Redis answers, 0 while the service works around it; absent without Redis.",
                &["used_for"],
            ),
            redis_fallbacks: counter(
                &r,
                "muster_rate_limit_fallbacks_total",
                "Rate-limit checks answered in-process because Redis did not answer.",
            ),
            cache_hits: counter_vec(
                &r,
                "muster_cache_hits_total",
                "Reads answered from the response cache.",
                &["resource"],
            ),
            cache_misses: counter_vec(
                &r,
                "muster_cache_misses_total",
                "Reads the response cache could not answer.",
                &["resource"],
            ),
            cache_errors: counter_vec(
                &r,
                "muster_cache_errors_total",
                "Cache lookups that failed (the read went to the store instead) and invalidations Redis missed (entries then live out their TTL).",
                &["resource"],
            ),
            cache_evictions: counter(
                &r,
                "muster_cache_evictions_total",
                "Entries the memory cache dropped to stay within its budget or because they expired.",
            ),
            cache_memory_bytes: int_gauge(
                &r,
                "muster_cache_memory_bytes",
                "Bytes the memory cache holds against MUSTER_CACHE_MEMORY_MB (keys, bodies, ETags); \
                 0 without a memory cache.",
            ),
            audit_written: counter(
                &r,
                "muster_audit_entries_written_total",
                "Audit entries (volunteer changes, contact reads) stored.",
            ),
            audit_failures: counter(
                &r,
                "muster_audit_failures_total",
                "Audit entries that could not be queued or stored (each also logged as a server error).",
            ),
            flag_evaluations: counter_vec(
                &r,
                "muster_flag_evaluations_total",
                "Feature-flag evaluations, by flag and the variant served (on/off for boolean flags).",
                &["flag", "result"],
            ),
            flags_loaded: int_gauge(&r, "muster_flags", "Feature flags in this instance's in-memory copy."),
            flags_reloaded: reg(
                &r,
                Gauge::new(
                    "muster_flags_reloaded_timestamp_seconds",
                    "When this instance last reloaded its flags from the store (Unix time); 0 before the first load.",
                )
                .expect("valid gauge"),
            ),
            registry: r,
        };
        m.registry.register(Box::new(QUERY_SECONDS.clone())).expect("query histogram registered once per registry");
        let info = gauge_vec(
            &m.registry,
            "muster_build_info",
            "The running build; always 1.",
            &["version", "build", "commit"],
        );
        info.with_label_values(&[build.version, build.build.as_str(), build.commit.as_str()]).set(1);
        let started = reg(
            &m.registry,
            Gauge::new("muster_start_time_seconds", "When this instance started (Unix time).").expect("valid gauge"),
        );
        started.set(unix_now());
        for reason in AUTH_FAILURE_REASONS {
            m.auth_failures.with_label_values(&[reason]);
        }
        for policy in RATE_LIMIT_POLICIES {
            m.rate_limited.with_label_values(&[policy]);
        }
        for status in [AttendanceStatus::Registered, AttendanceStatus::Waitlisted] {
            m.attendances_created.with_label_values(&[status.as_str()]);
        }
        for level in ReportLevel::ALL {
            m.client_reports.with_label_values(&[level.as_str()]);
        }
        for resource in CACHED_RESOURCES {
            m.cache_hits.with_label_values(&[resource]);
            m.cache_misses.with_label_values(&[resource]);
            m.cache_errors.with_label_values(&[resource]);
        }
        m
    }

    /// The exposition, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }

    // ---- business: call these after a write has succeeded, once per row ----

    /// Counts one created row: a [`Candidate`], [`Volunteer`], [`Event`] or [`Attendance`]
    /// (labelled with the status the server decided). Call it once per row actually
    /// created and committed, single or batch; anything else is ignored.
    pub fn created<T: Any>(&self, row: &T) {
        let row: &dyn Any = row;
        if row.is::<Volunteer>() {
            self.volunteers_created.inc();
        } else if row.is::<Event>() {
            self.events_created.inc();
        } else if row.is::<Candidate>() {
            self.candidates_created.inc();
        } else if let Some(a) = row.downcast_ref::<Attendance>() {
            self.attendances_created.with_label_values(&[a.status.as_str()]).inc();
        } else {
            debug_assert!(false, "metrics::created called with a type it does not count");
        }
    }

    /// Counts one check-in (an attendance that became `attended` just now).
    pub fn checked_in(&self) {
        self.checkins.inc();
    }

    /// Counts one client-side error report.
    pub fn client_report(&self, level: ReportLevel) {
        self.client_reports.with_label_values(&[level.as_str()]).inc();
    }

    // ---- cache: the response cache calls these per lookup ----

    /// A read answered from the cache; `resource` is the collection (`volunteers`).
    pub fn cache_hit(&self, resource: &str) {
        self.cache_hits.with_label_values(&[resource]).inc();
    }

    /// A read the cache could not answer.
    pub fn cache_miss(&self, resource: &str) {
        self.cache_misses.with_label_values(&[resource]).inc();
    }

    /// A cache lookup that failed (Redis not answering): the read was served uncached; or
    /// an invalidation that did not reach Redis.
    pub fn cache_error(&self, resource: &str) {
        self.cache_errors.with_label_values(&[resource]).inc();
    }

    // ---- feature flags ----

    /// Counts one flag evaluation. `flag` must be a stored or declared flag's key (keys are
    /// chosen by administrators, so the series stay few); evaluations of keys that do not
    /// exist are counted under [`UNKNOWN_FLAG`], never under the key a client sent.
    /// Counts audit entries stored.
    pub fn audit_written(&self, n: u64) {
        self.audit_written.inc_by(n);
    }

    /// Counts audit entries lost (queue full, or the store refused them twice).
    pub fn audit_failed(&self, n: u64) {
        self.audit_failures.inc_by(n);
    }

    pub fn flag_evaluated(&self, flag: &str, result: &str) {
        self.flag_evaluations.with_label_values(&[flag, result]).inc();
    }

    /// Records a successful reload of `n` flags.
    pub fn flags_reloaded(&self, n: usize) {
        self.flags_loaded.set(i64::try_from(n).unwrap_or(i64::MAX));
        self.flags_reloaded.set(unix_now());
    }

    // ---- HTTP, errors and the gate (the access log and the gate call these) ----

    /// Marks a request in flight until the guard drops (also when the client goes away).
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Counts an answered request and its latency, and its error class.
    pub fn request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut status_label = itoa::Buffer::new();
        let labels = [method, route, status_label.format(status)];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&[method, route]).observe(elapsed.as_secs_f64());
        if (400..500).contains(&status) {
            self.client_errors.with_label_values(&labels).inc();
        } else if status >= 500 {
            self.server_errors.with_label_values(&labels).inc();
        }
    }

    pub fn panicked(&self) {
        self.panics.inc();
    }

    /// A 429; `policy` is one of [`RATE_LIMIT_POLICIES`].
    pub fn rate_limited(&self, policy: &str) {
        self.rate_limited.with_label_values(&[policy]).inc();
    }

    /// A 401 or 403; `reason` is one of [`AUTH_FAILURE_REASONS`].
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures.with_label_values(&[reason]).inc();
    }

    // ---- gauges ----

    /// Sets the row gauges from a fresh count.
    pub fn set_counts(&self, c: &Counts) {
        for (table, n) in [
            ("candidates", c.candidates),
            ("volunteers", c.volunteers),
            ("events", c.events),
            ("client_reports", c.client_reports),
        ] {
            self.rows.with_label_values(&[table]).set(n);
        }
        let all = c.attendances.values().sum();
        self.rows.with_label_values(&["attendances"]).set(all);
        for status in AttendanceStatus::ALL {
            let n = c.attendances.get(status.as_str()).copied().unwrap_or(0);
            self.attendances.with_label_values(&[status.as_str()]).set(n);
        }
        self.counts_refreshed.set(unix_now());
    }

    /// Sets the pool gauges (at scrape time: reading a pool costs nothing).
    pub fn set_pools(&self, pools: &[PoolStats]) {
        for p in pools {
            let in_use = i64::from(p.open.saturating_sub(p.idle));
            self.pool_connections.with_label_values(&[p.pool, "idle"]).set(i64::from(p.idle));
            self.pool_connections.with_label_values(&[p.pool, "in_use"]).set(in_use);
            self.pool_max.with_label_values(&[p.pool]).set(i64::from(p.max));
        }
    }

    /// Catches the fallback counter up with the limiter's own running total (read at scrape).
    pub fn set_rate_limit_fallbacks(&self, total: u64) {
        catch_up(&self.redis_fallbacks, total);
    }

    /// The memory cache's evictions so far and the bytes it holds (read at scrape).
    pub fn set_cache(&self, evictions: u64, memory_bytes: u64) {
        catch_up(&self.cache_evictions, evictions);
        self.cache_memory_bytes.set(i64::try_from(memory_bytes).unwrap_or(i64::MAX));
    }

    /// Sets Redis health as seen by one user of it (`rate_limit`, `cache`); `None` (that
    /// user has no Redis configured) leaves its series absent.
    pub fn set_redis(&self, used_for: &str, healthy: Option<bool>) {
        if let Some(up) = healthy {
            self.redis_up.with_label_values(&[used_for]).set(i64::from(up));
        }
    }
}

/// Moves `counter` up to `total`, a running total kept elsewhere (counters only go up).
fn catch_up(counter: &IntCounter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// Keeps a request counted in `http_requests_in_flight` while alive.
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The method as a label: the standard ones by name, anything else as `OTHER`, so a client
/// inventing methods cannot grow the series.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *method {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use muster_domain::attendance::AttendanceStatus;

    fn build() -> BuildInfo {
        BuildInfo { version: "0.1.0", build: "42".into(), commit: "abc1234".into() }
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn series_exist_before_anything_happens() {
        let m = Metrics::new(&build());
        let text = m.render();
        assert_eq!(value(&text, r#"muster_build_info{build="42",commit="abc1234",version="0.1.0"}"#), Some(1.0));
        assert_eq!(value(&text, r#"muster_cache_hits_total{resource="volunteers"}"#), Some(0.0));
        assert_eq!(value(&text, r#"muster_attendances_created_total{status="waitlisted"}"#), Some(0.0));
        assert_eq!(value(&text, r#"muster_auth_failures_total{reason="expired"}"#), Some(0.0));
        assert_eq!(value(&text, "muster_volunteers_created_total"), Some(0.0));
        assert!(text.contains("# TYPE muster_store_query_duration_seconds histogram"));
        assert!(!text.contains("muster_redis_up"), "absent without Redis");
    }

    #[test]
    fn registries_are_independent() {
        let (a, b) = (Metrics::new(&build()), Metrics::new(&build()));
        a.cache_hit("events");
        a.request("GET", "/v1/events/{id}", 404, Duration::from_millis(3));
        assert_eq!(value(&a.render(), r#"muster_cache_hits_total{resource="events"}"#), Some(1.0));
        assert_eq!(value(&b.render(), r#"muster_cache_hits_total{resource="events"}"#), Some(0.0));
        let text = a.render();
        assert_eq!(
            value(&text, r#"http_client_errors_total{method="GET",route="/v1/events/{id}",status="404"}"#),
            Some(1.0)
        );
        assert!(!text.contains("http_server_errors_total{"));
    }

    #[test]
    fn cache_figures_read_at_scrape_time() {
        let m = Metrics::new(&build());
        assert_eq!(value(&m.render(), "muster_cache_evictions_total"), Some(0.0));
        m.set_cache(3, 4096);
        let text = m.render();
        assert_eq!(value(&text, "muster_cache_evictions_total"), Some(3.0));
        assert_eq!(value(&text, "muster_cache_memory_bytes"), Some(4096.0));
        // the counter follows the cache's running total and never goes down
        m.set_cache(5, 1024);
        m.set_cache(4, 0);
        let text = m.render();
        assert_eq!(value(&text, "muster_cache_evictions_total"), Some(5.0));
        assert_eq!(value(&text, "muster_cache_memory_bytes"), Some(0.0));
    }

    #[test]
    fn in_flight_follows_the_guard() {
        let m = Metrics::new(&build());
        let g = m.in_flight();
        assert_eq!(value(&m.render(), "http_requests_in_flight"), Some(1.0));
        drop(g);
        assert_eq!(value(&m.render(), "http_requests_in_flight"), Some(0.0));
    }

    /// The shipped rules and dashboard name only metrics this code exports, so a renamed
    /// metric cannot silently leave an alert that never fires or a panel that stays empty.
    #[test]
    fn deploy_files_name_only_exported_metrics() {
        let m = Metrics::new(&build());
        for status in [200, 404, 500] {
            m.request("GET", "/v1/events", status, Duration::from_millis(2));
        }
        m.set_redis("rate_limit", Some(true));
        m.set_pools(&[PoolStats { pool: "primary", open: 2, idle: 1, max: 16 }]);
        m.set_counts(&Counts::default());
        observe_query(0.001);
        let text = m.render();
        let families: std::collections::HashSet<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
        let files = [
            ("recording.rules.yml", include_str!("../../../../deploy/prometheus/recording.rules.yml")),
            ("alerts.rules.yml", include_str!("../../../../deploy/prometheus/alerts.rules.yml")),
            ("grafana/muster.json", include_str!("../../../../deploy/grafana/muster.json")),
        ];
        let mut checked = 0;
        for (file, body) in files {
            let tokens = body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            // recorded series (`job:muster_…:rate5m`) contain colons and are not exports
            for token in tokens.filter(|t| (t.starts_with("http_") || t.starts_with("muster_")) && !t.contains(':')) {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| token.strip_suffix(s).filter(|base| families.contains(base)))
                    .unwrap_or(token);
                assert!(families.contains(family), "{file} names {token}, which is not exported");
                checked += 1;
            }
        }
        assert!(checked > 40, "the files were read ({checked} names checked)");
    }

    #[test]
    fn counts_fill_every_status() {
        let m = Metrics::new(&build());
        let mut c = Counts { volunteers: 7, ..Counts::default() };
        c.attendances.insert("registered".into(), 3);
        m.set_counts(&c);
        let text = m.render();
        assert_eq!(value(&text, r#"muster_rows{table="volunteers"}"#), Some(7.0));
        assert_eq!(value(&text, r#"muster_rows{table="attendances"}"#), Some(3.0));
        for s in AttendanceStatus::ALL {
            assert!(text.contains(&format!("muster_attendances{{status=\"{}\"}}", s.as_str())), "{s}");
        }
    }
}
