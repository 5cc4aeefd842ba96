//! `muster canary-check --baseline URL --canary URL [--window 60s]`: compares a canary's
//! error rate and p99 latency with its baseline's over one window and prints one line:
//! `promote`, `rollback: <reason>` or `inconclusive: <why>` (exit 0, 1, 2). The Argo Rollouts
//! analysis, the rolling-deploy rehearsal and the CD pipeline all ask it.
//!
//! Each URL is an instance's admin `/metrics`, scraped at the start and the end of the
//! window and read by the monitor's scrape reader (`muster_monitor::scrape`: the same
//! counters, the same probes left out, the same quantile); counters only grow, so the
//! difference is the window's traffic, and a restart in between shows as a counter that went
//! down and makes the verdict inconclusive. With `--prometheus URL` each is a label selector
//! evaluated there with `increase(...[window])`.
//!
//! The thresholds are deploy/slo.yml's canary numbers (scripts/slo-check holds them equal):
//! a canary is rolled back when its 5xx rate passes 1 % (twice the error budget) and its
//! baseline's does not, or when its p99 passes the 1 s paging threshold, or is twice the
//! baseline's and 50 ms slower. Too little traffic, or a baseline failing as well, is
//! inconclusive: the canary is not to blame for what the baseline also does.

use muster_monitor::scrape::{Counters, key};
use std::time::Duration;

/// deploy/slo.yml `canary.error_rate_threshold`.
pub const MAX_ERROR_RATE: f64 = 0.01;
/// deploy/slo.yml `canary.latency_p99_threshold_ms`.
pub const MAX_P99_MS: f64 = 1000.0;
/// Fewer requests than this in the window judge nothing.
pub const MIN_REQUESTS: f64 = 50.0;
/// A canary slower than this many times its baseline's p99 ...
pub const P99_RATIO: f64 = 2.0;
/// ... and by at least this much is rolled back.
pub const P99_SLACK_MS: f64 = 50.0;

#[derive(Debug, Clone, clap::Args)]
pub struct CanaryArgs {
    /// The stable release: its admin /metrics URL (or a label selector with --prometheus).
    #[arg(long)]
    pub baseline: String,
    /// The new release, the same way.
    #[arg(long)]
    pub canary: String,
    /// How long to watch, like 60s or 5m.
    #[arg(long, default_value = "60s")]
    pub window: String,
    /// Read both from this Prometheus server (the URLs above are then label selectors like
    /// `track="canary"`).
    #[arg(long)]
    pub prometheus: Option<String>,
    /// Fewest requests each side must serve in the window.
    #[arg(long, default_value_t = MIN_REQUESTS)]
    pub min_requests: f64,
    /// Highest 5xx rate a canary may have (a fraction).
    #[arg(long, default_value_t = MAX_ERROR_RATE)]
    pub max_error_rate: f64,
    /// Highest p99 latency a canary may have, in milliseconds.
    #[arg(long, default_value_t = MAX_P99_MS)]
    pub max_p99_ms: f64,
}

/// One side's traffic over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub requests: f64,
    pub server_errors: f64,
    /// None when no request was timed.
    pub p99_ms: Option<f64>,
}

impl Window {
    fn error_rate(&self) -> f64 {
        if self.requests > 0.0 { self.server_errors / self.requests } else { 0.0 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Promote,
    Rollback(String),
    Inconclusive(String),
}

impl Verdict {
    pub fn line(&self) -> String {
        match self {
            Verdict::Promote => "promote".into(),
            Verdict::Rollback(why) => format!("rollback: {why}"),
            Verdict::Inconclusive(why) => format!("inconclusive: {why}"),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Promote => 0,
            Verdict::Rollback(_) => 1,
            Verdict::Inconclusive(_) => 2,
        }
    }
}

/// The limits a canary is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub min_requests: f64,
    pub max_error_rate: f64,
    pub max_p99_ms: f64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { min_requests: MIN_REQUESTS, max_error_rate: MAX_ERROR_RATE, max_p99_ms: MAX_P99_MS }
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// The verdict for one window.
pub fn decide(baseline: &Window, canary: &Window, limits: &Limits, window: Duration) -> Verdict {
    let secs = window.as_secs();
    if canary.requests < limits.min_requests {
        return Verdict::Inconclusive(format!(
            "the canary served {} requests in {secs} s; at least {} are needed to judge it",
            canary.requests, limits.min_requests
        ));
    }
    let (b, c) = (baseline.error_rate(), canary.error_rate());
    if c > limits.max_error_rate {
        if baseline.requests >= limits.min_requests && b > limits.max_error_rate {
            return Verdict::Inconclusive(format!(
                "the baseline is failing too: 5xx {} of its requests, the canary {}; the fault is not the canary's",
                pct(b),
                pct(c)
            ));
        }
        return Verdict::Rollback(format!(
            "5xx rate {} ({} of {} requests in {secs} s) is above {}; the baseline's is {}",
            pct(c),
            canary.server_errors,
            canary.requests,
            pct(limits.max_error_rate),
            pct(b)
        ));
    }
    if let Some(p99) = canary.p99_ms {
        if p99 > limits.max_p99_ms {
            return Verdict::Rollback(format!("p99 latency {p99:.0} ms is above {:.0} ms", limits.max_p99_ms));
        }
        if let Some(base) = baseline.p99_ms.filter(|_| baseline.requests >= limits.min_requests)
            && p99 > base * P99_RATIO
            && p99 - base > P99_SLACK_MS
        {
            return Verdict::Rollback(format!(
                "p99 latency {p99:.0} ms is more than {P99_RATIO}x the baseline's {base:.0} ms"
            ));
        }
    }
    Verdict::Promote
}

/// The window between two scrapes of the same instance; `None` when its counters went
/// down (it restarted, so the difference is not the window's traffic).
pub fn between(start: &Counters, end: &Counters) -> Option<Window> {
    if end.get(key::REQUESTS) < start.get(key::REQUESTS) || end.get(key::SERVER_ERRORS) < start.get(key::SERVER_ERRORS)
    {
        return None;
    }
    let d = end.increase(start);
    Some(Window {
        requests: d.get(key::REQUESTS),
        server_errors: d.get(key::SERVER_ERRORS),
        p99_ms: d.latency_quantile_ms(0.99),
    })
}

/// Watches both sides for the window and judges; problems reading them are inconclusive.
pub async fn check(args: &CanaryArgs, window: Duration) -> Verdict {
    let limits =
        Limits { min_requests: args.min_requests, max_error_rate: args.max_error_rate, max_p99_ms: args.max_p99_ms };
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(h) => h,
        Err(e) => return Verdict::Inconclusive(format!("cannot make an HTTP client: {e}")),
    };
    let sides = match &args.prometheus {
        None => scraped(&http, &args.baseline, &args.canary, window).await,
        Some(prom) => queried(&http, prom, &args.baseline, &args.canary, window).await,
    };
    match sides {
        Ok((baseline, canary)) => decide(&baseline, &canary, &limits, window),
        Err(why) => Verdict::Inconclusive(why),
    }
}

async fn scrape(http: &reqwest::Client, url: &str) -> Result<Counters, String> {
    let r = http.get(url).send().await.map_err(|e| format!("cannot read {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{url} answered {}", r.status().as_u16()));
    }
    let text = r.text().await.map_err(|e| format!("cannot read {url}: {e}"))?;
    Counters::parse(&text).map_err(|e| format!("{url}: {} (is it a Muster admin /metrics?)", e.0))
}

/// Two scrapes of each side, `window` apart.
async fn scraped(
    http: &reqwest::Client,
    baseline: &str,
    canary: &str,
    window: Duration,
) -> Result<(Window, Window), String> {
    let (b0, c0) = tokio::join!(scrape(http, baseline), scrape(http, canary));
    let (b0, c0) = (b0?, c0?);
    tokio::time::sleep(window).await;
    let (b1, c1) = tokio::join!(scrape(http, baseline), scrape(http, canary));
    let (b1, c1) = (b1?, c1?);
    let b = between(&b0, &b1).ok_or("the baseline restarted during the window (its counters went down)")?;
    let c = between(&c0, &c1).ok_or("the canary restarted during the window (its counters went down)")?;
    Ok((b, c))
}

/// Each side's window from Prometheus, by label selector.
async fn queried(
    http: &reqwest::Client,
    prometheus: &str,
    baseline: &str,
    canary: &str,
    window: Duration,
) -> Result<(Window, Window), String> {
    let w = format!("{}s", window.as_secs().max(1));
    let side = |selector: &str| {
        let api = selector.trim_matches(|c| c == '{' || c == '}');
        let sel = format!("route!~\"/health|/ready\",{api}");
        [
            format!("sum(increase(http_requests_total{{{sel}}}[{w}]))"),
            format!("sum(increase(http_requests_total{{{sel},status=~\"5..\"}}[{w}]))"),
            format!(
                "histogram_quantile(0.99, sum by (le) (increase(http_request_duration_seconds_bucket{{{sel}}}[{w}]))) * 1000"
            ),
        ]
    };
    let mut out = Vec::with_capacity(2);
    for selector in [baseline, canary] {
        let mut values = Vec::with_capacity(3);
        for query in side(selector) {
            values.push(instant(http, prometheus, &query).await?);
        }
        out.push(Window {
            requests: values[0].unwrap_or(0.0),
            server_errors: values[1].unwrap_or(0.0),
            p99_ms: values[2].filter(|v| v.is_finite()),
        });
    }
    Ok((out[0], out[1]))
}

/// One instant query's single value (None for an empty result).
async fn instant(http: &reqwest::Client, prometheus: &str, query: &str) -> Result<Option<f64>, String> {
    let url = format!("{}/api/v1/query", prometheus.trim_end_matches('/'));
    let r = http.get(&url).query(&[("query", query)]).send().await.map_err(|e| format!("cannot query {url}: {e}"))?;
    let body: serde_json::Value = r.json().await.map_err(|e| format!("{url} did not answer JSON: {e}"))?;
    if body["status"] != "success" {
        return Err(format!("Prometheus refused {query}: {}", body["error"]));
    }
    Ok(body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn w(requests: f64, server_errors: f64, p99_ms: f64) -> Window {
        Window { requests, server_errors, p99_ms: Some(p99_ms) }
    }

    fn decide_default(b: Window, c: Window) -> Verdict {
        decide(&b, &c, &Limits::default(), MIN)
    }

    #[test]
    fn a_healthy_canary_is_promoted() {
        assert_eq!(decide_default(w(1000.0, 0.0, 8.0), w(120.0, 0.0, 9.0)), Verdict::Promote);
        // one 5xx in 200 is 0.5 %: within the limit
        assert_eq!(decide_default(w(1000.0, 0.0, 8.0), w(200.0, 1.0, 9.0)), Verdict::Promote);
    }

    #[test]
    fn errors_roll_back_with_the_numbers() {
        let v = decide_default(w(1000.0, 1.0, 8.0), w(100.0, 20.0, 9.0));
        let Verdict::Rollback(why) = &v else { panic!("{v:?}") };
        assert!(why.contains("20.00 %") && why.contains("20 of 100") && why.contains("0.10 %"), "{why}");
        assert_eq!(v.exit_code(), 1);
    }

    #[test]
    fn latency_rolls_back_absolutely_and_against_the_baseline() {
        assert!(matches!(decide_default(w(1000.0, 0.0, 8.0), w(100.0, 0.0, 1500.0)), Verdict::Rollback(_)));
        let v = decide_default(w(1000.0, 0.0, 40.0), w(100.0, 0.0, 200.0));
        assert!(matches!(&v, Verdict::Rollback(why) if why.contains("2x the baseline")), "{v:?}");
        // twice as slow but only by a few milliseconds: noise, not a regression
        assert_eq!(decide_default(w(1000.0, 0.0, 3.0), w(100.0, 0.0, 7.0)), Verdict::Promote);
    }

    #[test]
    fn too_little_traffic_is_inconclusive() {
        let v = decide_default(w(1000.0, 0.0, 8.0), w(12.0, 6.0, 9.0));
        assert!(matches!(&v, Verdict::Inconclusive(why) if why.contains("12 requests")), "{v:?}");
        assert_eq!(v.exit_code(), 2);
    }

    #[test]
    fn a_failing_baseline_does_not_blame_the_canary() {
        let v = decide_default(w(1000.0, 80.0, 8.0), w(100.0, 9.0, 9.0));
        assert!(matches!(&v, Verdict::Inconclusive(why) if why.contains("baseline is failing")), "{v:?}");
    }

    #[test]
    fn a_window_is_the_difference_of_two_scrapes_without_the_probes() {
        let scrape = |ok: u32, failed: u32, ready: u32| {
            Counters::parse(&format!(
                r#"# TYPE muster_build_info gauge
muster_build_info{{build="7",commit="abc",version="0.1.0"}} 1
# TYPE http_requests_total counter
http_requests_total{{method="GET",route="/v1/events",status="200"}} {ok}
http_requests_total{{method="POST",route="/v1/events/{{id}}/attendances",status="503"}} {failed}
http_requests_total{{method="GET",route="/ready",status="503"}} {ready}
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{{method="GET",route="/v1/events",le="0.005"}} {half}
http_request_duration_seconds_bucket{{method="GET",route="/v1/events",le="0.01"}} {most}
http_request_duration_seconds_bucket{{method="GET",route="/v1/events",le="+Inf"}} {all}
http_request_duration_seconds_sum{{method="GET",route="/v1/events"}} 0.5
http_request_duration_seconds_count{{method="GET",route="/v1/events"}} {all}
"#,
                half = (ok + failed) / 2,
                most = (ok + failed) * 9 / 10,
                all = ok + failed,
            ))
            .unwrap()
        };
        let w = between(&scrape(10, 0, 5), &scrape(100, 10, 400)).unwrap();
        // /ready's 503s (a drain) are not the API's traffic
        assert_eq!((w.requests, w.server_errors), (100.0, 10.0));
        assert!(w.p99_ms.is_some_and(|p| p > 5.0 && p <= 10.0), "{w:?}");
        assert!(between(&scrape(100, 10, 0), &scrape(10, 0, 0)).is_none(), "a restart is no window");
    }
}
