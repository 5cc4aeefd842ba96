//! The monitor's own `/metrics` (Prometheus text), so an existing Prometheus and
//! Alertmanager can watch what it watches — and page when it stops probing
//! (`time() - muster_monitor_last_probe_timestamp_seconds > 120`).

use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    success: GaugeVec,
    latency: GaugeVec,
    last: GaugeVec,
    incidents: GaugeVec,
    e2e_checks: GaugeVec,
    scrapes: IntCounterVec,
    alerts: IntCounterVec,
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry.register(Box::new(g.clone())).expect("registered once");
    g
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry.register(Box::new(c.clone())).expect("registered once");
    c
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        Metrics {
            success: gauge(&r, "muster_monitor_probe_success", "1 if the last probe passed", &["target", "check"]),
            latency: gauge(
                &r,
                "muster_monitor_probe_latency_seconds",
                "the last probe's latency",
                &["target", "check"],
            ),
            last: gauge(
                &r,
                "muster_monitor_last_probe_timestamp_seconds",
                "when the last probe completed (Unix time)",
                &["target", "check"],
            ),
            incidents: gauge(&r, "muster_monitor_incidents_open", "incidents open now", &["target"]),
            e2e_checks: gauge(
                &r,
                "muster_monitor_e2e_checks",
                "the last E2E run's checks by outcome",
                &["target", "outcome"],
            ),
            scrapes: counter(&r, "muster_monitor_scrapes_total", "metrics scrapes by result", &["target", "result"]),
            alerts: counter(&r, "muster_monitor_alerts_total", "webhook alerts by outcome", &["outcome"]),
            registry: r,
        }
    }

    pub fn probe(&self, target: &str, check: &str, ok: bool, latency_s: f64, at_ms: i64) {
        self.success.with_label_values(&[target, check]).set(if ok { 1.0 } else { 0.0 });
        self.latency.with_label_values(&[target, check]).set(latency_s);
        #[expect(clippy::cast_precision_loss, reason = "milliseconds since 1970 fit a f64 exactly")]
        self.last.with_label_values(&[target, check]).set(at_ms as f64 / 1000.0);
    }

    pub fn incident_open(&self, target: &str, open: bool) {
        self.incidents.with_label_values(&[target]).set(if open { 1.0 } else { 0.0 });
    }

    #[expect(clippy::cast_precision_loss, reason = "check counts are small")]
    pub fn e2e(&self, target: &str, passed: usize, failed: usize, skipped: usize) {
        self.e2e_checks.with_label_values(&[target, "pass"]).set(passed as f64);
        self.e2e_checks.with_label_values(&[target, "fail"]).set(failed as f64);
        self.e2e_checks.with_label_values(&[target, "skip"]).set(skipped as f64);
    }

    pub fn scrape(&self, target: &str, result: &str) {
        self.scrapes.with_label_values(&[target, result]).inc();
    }

    pub fn alert(&self, outcome: &str) {
        self.alerts.with_label_values(&[outcome]).inc();
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
