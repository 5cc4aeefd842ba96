//! Webhook alerts: incident opened, incident resolved, and a fast error-budget burn.
//!
//! The body is generic JSON that also satisfies Slack's incoming webhooks (a top-level
//! `text`), so one URL shape serves both. Probes hand an alert to a bounded queue and go on
//! (`try_send`: a full queue drops the alert and counts it, it never blocks a probe); one
//! task per URL sends in order, so a "resolved" never overtakes its "opened", retrying each
//! with exponential backoff.

use crate::metrics::Metrics;
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

/// Alerts waiting per URL; beyond this they are dropped (and counted).
const QUEUE: usize = 256;
/// Attempts per alert, and the first wait between them (doubling, at most [`BACKOFF_MAX`]).
pub const ATTEMPTS: u32 = 6;
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// `incident.opened`, `incident.resolved`, `budget.burn`.
    pub event: &'static str,
    pub target: String,
    /// Slack's field: one line a person reads.
    pub text: String,
    /// The incident (or burn figures) as JSON.
    pub details: Value,
}

#[derive(Clone)]
pub struct Alerter {
    queues: Vec<mpsc::Sender<Alert>>,
    metrics: Metrics,
}

impl Alerter {
    /// One sender task per URL (none: alerts go nowhere).
    pub fn start(urls: &[String], metrics: Metrics) -> Alerter {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("muster-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let queues = urls
            .iter()
            .map(|url| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(deliver(url.clone(), rx, http.clone(), metrics.clone()));
                tx
            })
            .collect();
        Alerter { queues, metrics }
    }

    /// Queues `alert` for every URL; never waits.
    pub fn send(&self, alert: &Alert) {
        for q in &self.queues {
            if q.try_send(alert.clone()).is_err() {
                self.metrics.alert("dropped");
                tracing::warn!(event = alert.event, target = %alert.target, "alert queue full: alert dropped");
            }
        }
    }
}

async fn deliver(url: String, mut rx: mpsc::Receiver<Alert>, http: reqwest::Client, metrics: Metrics) {
    while let Some(alert) = rx.recv().await {
        let mut wait = BACKOFF_FIRST;
        for attempt in 1..=ATTEMPTS {
            match http.post(&url).json(&alert).send().await {
                Ok(r) if r.status().is_success() => {
                    metrics.alert("sent");
                    break;
                }
                outcome => {
                    let why = match outcome {
                        Ok(r) => format!("answered {}", r.status().as_u16()),
                        Err(e) => e.to_string(),
                    };
                    if attempt == ATTEMPTS {
                        metrics.alert("failed");
                        tracing::warn!(event = alert.event, url = %url, error = %why, "alert not delivered; giving up");
                    } else {
                        tracing::info!(event = alert.event, url = %url, error = %why, attempt, "alert not delivered; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(BACKOFF_MAX);
                    }
                }
            }
        }
    }
}
