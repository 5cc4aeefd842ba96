//! Reading the target's admin `/metrics`: the Prometheus text is parsed by
//! `prometheus-parse`, and the series the dashboard and reports need are summed into one flat
//! map of cumulative counters ([`Counters`]); each scrape stores its increase since the
//! previous good one ([`Counters::increase`]), so roll-ups and any range are plain sums.
//!
//! A scrape that fails, or that lacks `muster_build_info` (every Muster exposes it, so its
//! absence means the text was cut or is not Muster's), is recorded as bad, never as zeros.
//! The first good scrape after the monitor starts has nothing to subtract from: it is kept
//! as a baseline with no increase, since the counters' history before it is unknown.

use prometheus_parse::{Sample, Scrape, Value};
use std::collections::BTreeMap;

/// Keys of the flat map, and what the dashboard and reports call them.
pub mod key {
    pub const REQUESTS: &str = "requests";
    pub const CLIENT_ERRORS: &str = "4xx";
    pub const SERVER_ERRORS: &str = "5xx";
    pub const RATE_LIMITED: &str = "429";
    pub const AUTH_FAILURES: &str = "auth_failures";
    pub const VOLUNTEERS: &str = "volunteers";
    pub const EVENTS: &str = "events";
    pub const CANDIDATES: &str = "candidates";
    pub const REGISTERED: &str = "registered";
    pub const WAITLISTED: &str = "waitlisted";
    pub const CHECKINS: &str = "checkins";
    pub const CLIENT_REPORTS: &str = "client_reports";
    /// `le:<bound>`: requests at most that long (seconds), all routes summed.
    pub const LATENCY_BUCKET: &str = "le:";
    /// `route:<METHOD> <route>:<4xx|5xx>`: errors by route.
    pub const ROUTE: &str = "route:";
}

/// Cumulative counters from one scrape, or their increase between two.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters(pub BTreeMap<String, f64>);

/// Why a scrape cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadScrape(pub String);

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels.get(name).unwrap_or("")
}

impl Counters {
    /// The counters of one `/metrics` body.
    pub fn parse(text: &str) -> Result<Counters, BadScrape> {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = Scrape::parse(lines).map_err(|e| BadScrape(format!("not Prometheus text: {e}")))?;
        if !scrape.samples.iter().any(|s| s.metric == "muster_build_info") {
            return Err(BadScrape("partial scrape: no muster_build_info".into()));
        }
        let mut c = Counters::default();
        for s in &scrape.samples {
            let v = match &s.value {
                Value::Counter(v) | Value::Untyped(v) | Value::Gauge(v) => *v,
                Value::Histogram(buckets) => {
                    if s.metric == "http_request_duration_seconds" {
                        for b in buckets {
                            let bound =
                                if b.less_than.is_infinite() { "+Inf".to_owned() } else { b.less_than.to_string() };
                            c.add(&format!("{}{bound}", key::LATENCY_BUCKET), b.count);
                        }
                    }
                    continue;
                }
                Value::Summary(_) => continue,
            };
            match s.metric.as_str() {
                "http_requests_total" => {
                    c.add(key::REQUESTS, v);
                    let class = match label(s, "status").as_bytes().first() {
                        Some(b'4') => key::CLIENT_ERRORS,
                        Some(b'5') => key::SERVER_ERRORS,
                        _ => continue,
                    };
                    c.add(class, v);
                    let route = format!("{}{} {}:{class}", key::ROUTE, label(s, "method"), label(s, "route"));
                    c.add(&route, v);
                }
                "muster_rate_limited_total" => c.add(key::RATE_LIMITED, v),
                "muster_auth_failures_total" => c.add(key::AUTH_FAILURES, v),
                "muster_volunteers_created_total" => c.add(key::VOLUNTEERS, v),
                "muster_events_created_total" => c.add(key::EVENTS, v),
                "muster_candidates_created_total" => c.add(key::CANDIDATES, v),
                "muster_checkins_total" => c.add(key::CHECKINS, v),
                "muster_client_reports_total" => c.add(key::CLIENT_REPORTS, v),
                "muster_attendances_created_total" => match label(s, "status") {
                    "waitlisted" => c.add(key::WAITLISTED, v),
                    _ => c.add(key::REGISTERED, v),
                },
                _ => {}
            }
        }
        Ok(c)
    }

    pub fn add(&mut self, key: &str, v: f64) {
        *self.0.entry(key.to_owned()).or_insert(0.0) += v;
    }

    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// The increase from `before` to `self`. A counter that went down was reset (the target
    /// restarted), so all of its current value is new; zeros are left out.
    pub fn increase(&self, before: &Counters) -> Counters {
        let mut out = Counters::default();
        for (k, &now) in &self.0 {
            let was = before.0.get(k).copied().unwrap_or(0.0);
            let d = if now >= was { now - was } else { now };
            if d > 0.0 {
                out.0.insert(k.clone(), d);
            }
        }
        out
    }

    /// Adds every counter of `other` (summing increases over a bucket or a range).
    pub fn merge(&mut self, other: &Counters) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(raw: &str) -> Counters {
        Counters(serde_json::from_str(raw).unwrap_or_default())
    }

    /// The `q` quantile (0..1) of request latency in milliseconds, interpolated inside the
    /// histogram bucket it falls in, as Prometheus' `histogram_quantile` does; `None` without
    /// requests.
    pub fn latency_quantile_ms(&self, q: f64) -> Option<f64> {
        let mut buckets: Vec<(f64, f64)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let bound = k.strip_prefix(key::LATENCY_BUCKET)?;
                let le = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
                Some((le, *v))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = buckets.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(le, count) in &buckets {
            if count >= rank {
                if le.is_infinite() {
                    return Some(lower * 1000.0);
                }
                let inside = count - below;
                let frac = if inside > 0.0 { (rank - below) / inside } else { 1.0 };
                return Some((lower + (le - lower) * frac) * 1000.0);
            }
            lower = le;
            below = count;
        }
        Some(lower * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE http_requests_total counter
http_requests_total{method=\"GET\",route=\"/v1/events\",status=\"200\"} 10
http_requests_total{method=\"GET\",route=\"/v1/events\",status=\"404\"} 2
http_requests_total{method=\"POST\",route=\"/v1/events\",status=\"500\"} 1
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/events\",le=\"0.005\"} 6
http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/events\",le=\"0.01\"} 10
http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/events\",le=\"+Inf\"} 13
http_request_duration_seconds_sum{method=\"GET\",route=\"/v1/events\"} 0.1
http_request_duration_seconds_count{method=\"GET\",route=\"/v1/events\"} 13
# TYPE muster_attendances_created_total counter
muster_attendances_created_total{status=\"registered\"} 4
muster_attendances_created_total{status=\"waitlisted\"} 1
# TYPE muster_build_info gauge
muster_build_info{build=\"92\",commit=\"e2bf403db173\",version=\"0.1.0\"} 1
";

    #[test]
    fn sums_the_series_the_dashboard_needs() {
        let c = Counters::parse(TEXT).unwrap();
        assert_eq!(c.get(key::REQUESTS), 13.0);
        assert_eq!(c.get(key::CLIENT_ERRORS), 2.0);
        assert_eq!(c.get(key::SERVER_ERRORS), 1.0);
        assert_eq!(c.get("route:POST /v1/events:5xx"), 1.0);
        assert_eq!(c.get(key::REGISTERED), 4.0);
        assert_eq!(c.get(key::WAITLISTED), 1.0);
        assert_eq!(c.get("le:0.005"), 6.0);
        assert_eq!(c.get("le:+Inf"), 13.0);
        // the median (rank 6.5 of 13) falls in the 5-10 ms bucket, half a request of its 4 in
        let p50 = c.latency_quantile_ms(0.5).unwrap();
        assert!((p50 - 5.625).abs() < 1e-9, "{p50}");
    }

    #[test]
    fn a_partial_scrape_is_bad_not_zero() {
        let cut = &TEXT[..TEXT.find("# TYPE muster_build_info").unwrap()];
        assert!(Counters::parse(cut).is_err());
    }

    #[test]
    fn a_reset_counts_from_zero() {
        let before = Counters::parse(TEXT).unwrap();
        let after = Counters::parse(&TEXT.replace("} 10\n", "} 3\n").replace("} 2\n", "} 5\n")).unwrap();
        let inc = after.increase(&before);
        assert_eq!(inc.get(key::CLIENT_ERRORS), 3.0);
        assert_eq!(inc.get(key::REQUESTS), 9.0, "13 -> 9 is a restart: all 9 are new");
        assert!(!inc.0.contains_key(key::SERVER_ERRORS), "no zeros are stored");
    }
}
