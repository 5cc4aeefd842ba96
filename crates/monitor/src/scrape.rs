//! Reading the target's admin `/metrics`: the Prometheus text is parsed by
//! `prom_text_format_parser` (label values may hold braces: routes are templates), probes
//! are left out as the SLO leaves them out, and the series the dashboard and reports need are summed into one flat
//! map of cumulative counters ([`Counters`]); each scrape stores its increase since the
//! previous good one ([`Counters::increase`]), so roll-ups and any range are plain sums.
//!
//! A scrape that fails, or that lacks `muster_build_info` (every Muster exposes it, so its
//! absence means the text was cut or is not Muster's), is recorded as bad, never as zeros.
//! The first good scrape after the monitor starts has nothing to subtract from: it is kept
//! as a baseline with no increase, since the counters' history before it is unknown.

use prom_text_format_parser::{Metric, Sample, Scrape, Type, ValueType};
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

/// The probe routes left out of the counters.
pub const PROBES: [&str; 2] = ["/health", "/ready"];

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels.iter().find(|l| l.key == name).map_or("", |l| l.value.as_str())
}

impl Counters {
    /// The counters of one `/metrics` body.
    pub fn parse(text: &str) -> Result<Counters, BadScrape> {
        let scrape = Scrape::parse(text).map_err(|e| BadScrape(format!("not Prometheus text: {e:?}")))?;
        if !scrape.metrics.iter().any(|m| m.name == "muster_build_info") {
            return Err(BadScrape("partial scrape: no muster_build_info".into()));
        }
        let mut c = Counters::default();
        for m in &scrape.metrics {
            for s in &m.samples {
                // the SLO's traffic: probes are not the API's (a draining instance answers
                // /ready with 503 on purpose), as in deploy/prometheus's recording rules
                if PROBES.contains(&label(s, "route")) {
                    continue;
                }
                c.sample(m, s);
            }
        }
        Ok(c)
    }

    /// Adds what one sample of metric `m` counts.
    fn sample(&mut self, m: &Metric, s: &Sample) {
        let v = s.value.value.as_f64();
        if m.kind == Type::Histogram {
            // buckets only (the sum and count lines carry a value type of their own)
            if m.name == "http_request_duration_seconds" && s.value.value_type == ValueType::Sample {
                let bound = label(s, "le");
                if !bound.is_empty() {
                    self.add(&format!("{}{bound}", key::LATENCY_BUCKET), v);
                }
            }
            return;
        }
        match m.name.as_str() {
            "http_requests_total" => {
                self.add(key::REQUESTS, v);
                let class = match label(s, "status").as_bytes().first() {
                    Some(b'4') => key::CLIENT_ERRORS,
                    Some(b'5') => key::SERVER_ERRORS,
                    _ => return,
                };
                self.add(class, v);
                let route = format!("{}{} {}:{class}", key::ROUTE, label(s, "method"), label(s, "route"));
                self.add(&route, v);
            }
            "muster_rate_limited_total" => self.add(key::RATE_LIMITED, v),
            "muster_auth_failures_total" => self.add(key::AUTH_FAILURES, v),
            "muster_volunteers_created_total" => self.add(key::VOLUNTEERS, v),
            "muster_events_created_total" => self.add(key::EVENTS, v),
            "muster_candidates_created_total" => self.add(key::CANDIDATES, v),
            "muster_checkins_total" => self.add(key::CHECKINS, v),
            "muster_client_reports_total" => self.add(key::CLIENT_REPORTS, v),
            "muster_attendances_created_total" => match label(s, "status") {
                "waitlisted" => self.add(key::WAITLISTED, v),
                _ => self.add(key::REGISTERED, v),
            },
            _ => {}
        }
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

    #[test]
    fn templated_routes_count_and_probes_do_not() {
        let text = "# TYPE muster_build_info gauge\nmuster_build_info{build=\"7\"} 1\n\
# TYPE http_requests_total counter\n\
http_requests_total{method=\"GET\",route=\"/v1/volunteers/{id}\",status=\"404\"} 30\n\
http_requests_total{method=\"POST\",route=\"/v1/events/{id}/attendances\",status=\"500\"} 2\n\
http_requests_total{method=\"GET\",route=\"/ready\",status=\"503\"} 9\n\
# TYPE http_request_duration_seconds histogram\n\
http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/volunteers/{id}\",le=\"0.005\"} 30\n\
http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/volunteers/{id}\",le=\"+Inf\"} 30\n\
http_request_duration_seconds_sum{method=\"GET\",route=\"/v1/volunteers/{id}\"} 0.04\n\
http_request_duration_seconds_count{method=\"GET\",route=\"/v1/volunteers/{id}\"} 30\n";
        let c = Counters::parse(text).unwrap();
        assert_eq!(c.get(key::REQUESTS), 32.0);
        assert_eq!(c.get(key::CLIENT_ERRORS), 30.0);
        assert_eq!(c.get(key::SERVER_ERRORS), 2.0);
        assert_eq!(c.get("route:GET /v1/volunteers/{id}:4xx"), 30.0);
        assert_eq!(c.get("le:+Inf"), 30.0);
        assert_eq!(c.get("le:0.005"), 30.0);
    }

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
