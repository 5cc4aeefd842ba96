//! HTTP events on Lambda: API Gateway REST (payload v1), HTTP API (v2) and ALB events,
//! turned into requests by `lambda_http` and served by the one router.
//!
//! `lambda_http` does the event formats (base64 bodies, multi-value headers and query
//! strings, the response shape each origin wants). Three things are Muster's own:
//! - the path is the one the client asked for: `lambda_http` puts a REST API's stage in
//!   front of it (`/prod/v1/events`), and the routes know no stages;
//! - the caller's address comes from the request context (API Gateway) or the last
//!   `X-Forwarded-For` hop (ALB, which appends the client's), since there is no socket;
//! - each invocation's access line names its Lambda request id, and one CloudWatch
//!   Embedded Metric Format line per request gives CloudWatch requests, 4xx, 5xx and
//!   latency per function version (the canary alarms read them; nothing scrapes an
//!   execution environment).

use super::InvocationError;
use axum::extract::ConnectInfo;
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Context, LambdaEvent, RequestExt, Service};
use muster_api::AppState;
use muster_api::access_log::InvocationId;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;
use tower::ServiceExt;

/// The EMF namespace and dimension names the SAM template's alarms use.
pub const EMF_NAMESPACE: &str = "Muster";

#[derive(Clone)]
pub struct HttpHandler {
    router: axum::Router,
    function: String,
    version: String,
}

impl HttpHandler {
    pub fn new(state: AppState) -> HttpHandler {
        HttpHandler {
            router: muster_api::build_router(state),
            function: std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default(),
            version: std::env::var("AWS_LAMBDA_FUNCTION_VERSION").unwrap_or_default(),
        }
    }

    /// Serves one HTTP event; the response in the shape its origin wants.
    pub async fn handle(&self, payload: Value, context: Context) -> Result<Value, InvocationError> {
        let request: LambdaRequest = serde_json::from_value(payload).map_err(|e| {
            InvocationError(format!(
                "the payload is neither an API Gateway or ALB event nor a muster_migrate or muster_self_test invocation: {e}"
            ))
        })?;
        let started = Instant::now();
        let mut adapter = lambda_http::Adapter::from(Served(self.router.clone()));
        let response = match adapter.call(LambdaEvent::new(request, context)).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let value = serde_json::to_value(response)
            .map_err(|e| InvocationError(format!("the response did not serialise: {e}")))?;
        let status = value["statusCode"].as_u64().unwrap_or(0);
        println!("{}", self.emf(status, started.elapsed().as_secs_f64() * 1000.0));
        Ok(value)
    }

    /// One CloudWatch Embedded Metric Format line for a request.
    fn emf(&self, status: u64, latency_ms: f64) -> Value {
        let timestamp = chrono::Utc::now().timestamp_millis();
        json!({
            "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [{
                "Namespace": EMF_NAMESPACE,
                "Dimensions": [["FunctionName", "Version"]],
                "Metrics": [
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "ClientErrors", "Unit": "Count"},
                    {"Name": "ServerErrors", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds"}
                ]
            }]},
            "FunctionName": self.function,
            "Version": self.version,
            "Requests": 1,
            "ClientErrors": u8::from((400..500).contains(&status)),
            "ServerErrors": u8::from(status >= 500),
            "Latency": (latency_ms * 1000.0).round() / 1000.0,
        })
    }
}

/// The router behind the path, address and invocation-id fixes of [`prepare`].
#[derive(Clone)]
struct Served(axum::Router);

impl Service<lambda_http::Request> for Served {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: lambda_http::Request) -> Self::Future {
        let router = self.0.clone();
        let req = prepare(req);
        Box::pin(async move { router.oneshot(req).await })
    }
}

/// The request as the router expects it: the client's path, its address, the invocation.
pub fn prepare(req: lambda_http::Request) -> axum::extract::Request {
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.stage.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.stage.clone(),
        _ => None,
    };
    let path = client_path(req.raw_http_path(), stage.as_deref());
    let peer = peer_address(&req);
    let invocation = req.lambda_context_ref().map(|c| c.request_id.clone()).filter(|id| !id.is_empty());
    let (mut parts, body) = req.into_parts();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    if let Ok(uri) = path_and_query.parse() {
        parts.uri = uri;
    }
    if let Some(ip) = peer {
        parts.extensions.insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    if let Some(id) = invocation {
        parts.extensions.insert(InvocationId(id));
    }
    let bytes = match body {
        lambda_http::Body::Text(t) => axum::body::Bytes::from(t),
        lambda_http::Body::Binary(b) => axum::body::Bytes::from(b),
        _ => axum::body::Bytes::new(),
    };
    axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))
}

/// The path without the stage a REST API (or a named HTTP API stage) puts in front.
fn client_path(raw: &str, stage: Option<&str>) -> String {
    let path = if raw.is_empty() { "/" } else { raw };
    match stage.filter(|s| *s != "$default") {
        Some(stage) => match path.strip_prefix('/').and_then(|p| p.strip_prefix(stage)) {
            Some("") => "/".to_owned(),
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

/// The caller's address: API Gateway's `sourceIp`, or the hop an ALB appended last.
fn peer_address(req: &lambda_http::Request) -> Option<IpAddr> {
    let from_context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => None,
    };
    from_context.and_then(|ip| ip.parse().ok()).or_else(|| {
        let xff = req.headers().get("x-forwarded-for")?.to_str().ok()?;
        xff.rsplit(',').next()?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::client_path;

    #[test]
    fn the_stage_leaves_the_path() {
        assert_eq!(client_path("/prod/v1/events", Some("prod")), "/v1/events");
        assert_eq!(client_path("/v1/events", Some("prod")), "/v1/events");
        assert_eq!(client_path("/prod", Some("prod")), "/");
        assert_eq!(client_path("/production/v1", Some("prod")), "/production/v1");
        assert_eq!(client_path("/v1/events", Some("$default")), "/v1/events");
        assert_eq!(client_path("/v1/events", None), "/v1/events");
        assert_eq!(client_path("", None), "/");
    }
}
