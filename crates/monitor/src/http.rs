//! The monitor's HTTP side, and [`Monitor`], which starts the probes beside it.
//!
//! `/` the dashboard; `/api/dashboard` the part it refreshes (JSON); `/api/summary` and
//! `/api/series[/{panel}]` the figures behind it; `/api/maintenance` windows (`POST` adds
//! one); `/report` a report in any format; `/health` and `/metrics` for the monitor's own
//! watchers. It listens on 127.0.0.1 by default and has no authentication: put it behind
//! the same access control as the API's admin listener before exposing it.

use crate::dashboard::{self, ViewParams};
use crate::db::{Db, Maintenance};
use crate::metrics::Metrics;
use crate::probe::Prober;
use crate::report::{self, Format};
use crate::summary::{self, panels};
use crate::time::{Range, now_ms, parse_instant, rfc3339};
use crate::{Settings, alert::Alerter, rollup};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinSet;

#[derive(Clone)]
struct Ctx {
    db: Db,
    settings: Arc<Settings>,
    metrics: Metrics,
    started_ms: i64,
}

/// A running monitor: probe loops, roll-ups and the HTTP listener.
pub struct Monitor {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Monitor {
    /// Starts probing every target of `settings` and serving on `listener`.
    pub async fn start(settings: Settings, db: Db, listener: tokio::net::TcpListener) -> anyhow::Result<Monitor> {
        let addr = listener.local_addr()?;
        let metrics = Metrics::new();
        let alerter = Alerter::start(&settings.webhooks, metrics.clone());
        let prober = Arc::new(Prober::new(db.clone(), settings.clone(), metrics.clone(), alerter));
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for target in &settings.targets {
            let state = Arc::new(Mutex::new(prober.state(target).await?));
            tasks.spawn(prober.clone().fast_loop(state.clone(), stopped.clone()));
            tasks.spawn(prober.clone().slow_loop(state, stopped.clone()));
        }
        {
            let (db, retention, every, mut stopped) =
                (db.clone(), settings.retention, settings.rollup_every, stopped.clone());
            tasks.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stopped.changed() => return,
                    }
                    if let Err(e) = rollup::pass(&db, now_ms(), retention).await {
                        tracing::warn!(error = format!("{e:#}"), "roll-up failed");
                    }
                }
            });
        }
        let ctx = Ctx { db, settings: Arc::new(settings), metrics, started_ms: now_ms() };
        let mut stopped_http = stopped.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, router(ctx))
                .with_graceful_shutdown(async move {
                    let _ = stopped_http.changed().await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the monitor's listener failed");
            }
        });
        tracing::info!(listen = %addr, "muster monitor serving");
        Ok(Monitor { addr, stop, tasks })
    }

    /// Stops probing and serving, and waits for every task.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until a task ends on its own (the listener failed), which should not happen.
    pub async fn wait(&mut self) {
        let _ = self.tasks.join_next().await;
    }
}

fn router(ctx: Ctx) -> Router {
    Router::new()
        .route("/", get(dashboard_page))
        .route("/assets/dashboard.css", get(|| async { asset("text/css; charset=utf-8", dashboard::CSS) }))
        .route("/assets/dashboard.js", get(|| async { asset("text/javascript; charset=utf-8", dashboard::JS) }))
        .route("/api/dashboard", get(dashboard_json))
        .route("/api/summary", get(summary_json))
        .route("/api/series", get(series_all))
        .route("/api/series/{panel}", get(series_one))
        .route("/api/maintenance", get(maintenance_list).post(maintenance_add))
        .route("/report", get(report_get))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(ctx)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

fn bad_request(detail: impl Into<String>) -> Response {
    let detail = detail.into();
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(json!({"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail})).0.to_string(),
    )
        .into_response()
}

fn internal(e: &anyhow::Error) -> Response {
    tracing::error!(error = format!("{e:#}"), "monitor request failed");
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/problem+json")],
        json!({"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": "the monitor's store did not answer"}).to_string())
        .into_response()
}

/// Pages the dashboard may load: only this origin, no inline script.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

impl Ctx {
    fn target(&self, asked: Option<&str>) -> Result<String, Box<Response>> {
        match asked {
            Some(t) if self.settings.targets.iter().any(|x| x.name == t) => Ok(t.to_owned()),
            Some(t) => Err(Box::new(bad_request(format!("no target named {t:?}")))),
            None => {
                self.settings.targets.first().map(|t| t.name.clone()).ok_or_else(|| Box::new(bad_request("no target")))
            }
        }
    }

    async fn view(&self, p: &ViewParams) -> Result<(summary::View, i64), Box<Response>> {
        let now = now_ms();
        let range =
            Range::from_params(Some(p.range.as_deref().unwrap_or("24h")), p.from.as_deref(), p.to.as_deref(), now)
                .map_err(|e| Box::new(bad_request(e)))?;
        let target = self.target(p.target.as_deref())?;
        let view = summary::view(&self.db, &target, range, now, self.settings.retention)
            .await
            .map_err(|e| Box::new(internal(&e)))?;
        Ok((view, now))
    }

    fn names(&self) -> Vec<String> {
        self.settings.targets.iter().map(|t| t.name.clone()).collect()
    }
}

async fn dashboard_page(State(ctx): State<Ctx>, Query(p): Query<ViewParams>) -> Response {
    match ctx.view(&p).await {
        Ok((view, now)) => {
            let html = dashboard::page(&view, &ctx.names(), &p, now);
            let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            r
        }
        Err(r) => *r,
    }
}

async fn dashboard_json(State(ctx): State<Ctx>, Query(p): Query<ViewParams>) -> Response {
    match ctx.view(&p).await {
        Ok((view, now)) => {
            Json(json!({"generated_at": rfc3339(now), "html": dashboard::main(&view, &p, now)})).into_response()
        }
        Err(r) => *r,
    }
}

async fn summary_json(State(ctx): State<Ctx>, Query(p): Query<ViewParams>) -> Response {
    match ctx.view(&p).await {
        Ok((view, _)) => Json(view.summary).into_response(),
        Err(r) => *r,
    }
}

async fn series_all(State(ctx): State<Ctx>, Query(p): Query<ViewParams>) -> Response {
    match ctx.view(&p).await {
        Ok((view, _)) => Json(panels(&view)).into_response(),
        Err(r) => *r,
    }
}

async fn series_one(State(ctx): State<Ctx>, Path(panel): Path<String>, Query(p): Query<ViewParams>) -> Response {
    match ctx.view(&p).await {
        Ok((view, _)) => match panels(&view).into_iter().find(|x| x.id == panel) {
            Some(x) => Json(x).into_response(),
            None => (StatusCode::NOT_FOUND, format!("no panel {panel:?}; panels: {}", summary::PANELS.join(", ")))
                .into_response(),
        },
        Err(r) => *r,
    }
}

#[derive(serde::Deserialize)]
struct NewWindow {
    /// Start (default now).
    from: Option<String>,
    /// End, or `duration` from the start.
    to: Option<String>,
    duration: Option<String>,
    /// One target (default: all).
    target: Option<String>,
    reason: Option<String>,
}

async fn maintenance_add(
    State(ctx): State<Ctx>,
    body: Result<Json<NewWindow>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(w)) = body else {
        return bad_request(r#"expected JSON like {"from": "now", "duration": "1h", "reason": "database upgrade"}"#);
    };
    let now = now_ms();
    let from = match w.from.as_deref().map_or(Ok(now), |f| parse_instant(f, now)) {
        Ok(f) => f,
        Err(e) => return bad_request(format!("from: {e}")),
    };
    let to = match (w.to.as_deref(), w.duration.as_deref()) {
        (Some(t), None) => parse_instant(t, now).map_err(|e| format!("to: {e}")),
        (None, Some(d)) => crate::time::parse_duration(d)
            .map(|d| from + i64::try_from(d.as_millis()).unwrap_or(0))
            .ok_or_else(|| format!("duration {d:?} is not a duration like 30m or 2h")),
        _ => Err("give either to or duration".to_owned()),
    };
    let to = match to {
        Ok(t) if t > from => t,
        Ok(_) => return bad_request("the window must end after it starts"),
        Err(e) => return bad_request(e),
    };
    if let Some(t) = &w.target
        && let Err(r) = ctx.target(Some(t))
    {
        return *r;
    }
    let m = Maintenance {
        id: uuid::Uuid::now_v7().to_string(),
        target: w.target,
        starts_ms: from,
        ends_ms: to,
        reason: w.reason.unwrap_or_else(|| "maintenance".into()),
    };
    if let Err(e) = ctx.db.insert_maintenance(&m).await {
        return internal(&e);
    }
    (StatusCode::CREATED, Json(json!({"id": m.id, "target": m.target, "from": rfc3339(m.starts_ms), "to": rfc3339(m.ends_ms), "reason": m.reason})))
        .into_response()
}

async fn maintenance_list(State(ctx): State<Ctx>, Query(p): Query<ViewParams>) -> Response {
    let now = now_ms();
    let range =
        match Range::from_params(Some(p.range.as_deref().unwrap_or("30d")), p.from.as_deref(), p.to.as_deref(), now) {
            Ok(r) => Range { from: r.from, to: r.to.max(now + 400 * crate::time::DAY_MS) },
            Err(e) => return bad_request(e),
        };
    match ctx.db.maintenance(p.target.as_deref(), range.from, range.to).await {
        Ok(list) => Json(json!({"data": list})).into_response(),
        Err(e) => internal(&e),
    }
}

#[derive(serde::Deserialize)]
struct ReportParams {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    target: Option<String>,
    format: Option<String>,
}

async fn report_get(State(ctx): State<Ctx>, Query(p): Query<ReportParams>) -> Response {
    let now = now_ms();
    let format = match Format::parse(p.format.as_deref().unwrap_or("md")) {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let range =
        match Range::from_params(Some(p.range.as_deref().unwrap_or("24h")), p.from.as_deref(), p.to.as_deref(), now) {
            Ok(r) => r,
            Err(e) => return bad_request(e),
        };
    let targets = match p.target.as_deref() {
        Some(t) => match ctx.target(Some(t)) {
            Ok(t) => vec![t],
            Err(r) => return *r,
        },
        None => ctx.names(),
    };
    match report::build(&ctx.db, &targets, range, now, ctx.settings.retention).await {
        Ok(r) => ([(header::CONTENT_TYPE, format.content_type())], r.render(format)).into_response(),
        Err(e) => internal(&e),
    }
}

async fn health(State(ctx): State<Ctx>) -> Response {
    Json(json!({"status": "ok", "started_at": rfc3339(ctx.started_ms), "targets": ctx.names()})).into_response()
}

async fn metrics(State(ctx): State<Ctx>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], ctx.metrics.render()).into_response()
}
