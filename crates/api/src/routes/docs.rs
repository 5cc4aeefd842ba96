//! `/openapi.json`, `/docs` (Swagger UI, embedded: it works offline) and
//! `/docs/problems` (where every problem `type` URI points). Open to everyone.
//!
//! Swagger UI's files come from the `swagger-ui-dist` crate, which packages the npm
//! release of the same name (its version is Swagger UI's): updating them is a version
//! bump. The crate hands them out as an axum router with a page of its own; only its two
//! files are used, asked of that router here, and served with this module's page, headers
//! and Content-Security-Policy.

use crate::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;
use tower::ServiceExt;

/// Where the packaged router answers; only this module asks it.
const PACKAGED: &str = "/swagger-ui";

/// Swagger UI's release files, as `swagger-ui-dist` serves them.
static SWAGGER_UI: LazyLock<Router> = LazyLock::new(|| {
    swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: PACKAGED,
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: None,
    })
});

/// The body of Swagger UI's file `name` (`swagger-ui-bundle.js`, `swagger-ui.css`).
async fn packaged(name: &str) -> Option<axum::body::Bytes> {
    let req = Request::get(format!("{PACKAGED}/{name}")).body(Body::empty()).ok()?;
    let resp = SWAGGER_UI.clone().oneshot(req).await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    axum::body::to_bytes(resp.into_body(), usize::MAX).await.ok()
}

const INIT_JS: &str = r##"window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0
  });
});
"##;

const PROBLEMS_CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}\
section{border-top:1px solid #ddd;padding-top:.5rem}h2 small{font-weight:normal;color:#666;font-size:.8em}\
code{background:#f4f4f4;padding:0 .2em}section:target{background:#fffbe6}";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Muster API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
"#;

/// Scripts and styles from this server only; Swagger UI sets inline styles and data-URI
/// images, and fetches the document (and "try it out" calls) from this origin.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'";

fn with_type(body: impl IntoResponse, content_type: &'static str, cache: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
    resp
}

async fn openapi(State(st): State<AppState>) -> Response {
    let doc = crate::openapi::document(&st.build);
    with_type(axum::Json(doc), "application/json", "no-cache")
}

async fn page() -> Response {
    with_type(PAGE, "text/html; charset=utf-8", "no-cache")
}

async fn problems() -> Response {
    with_type(crate::problem_types::html(), "text/html; charset=utf-8", "no-cache")
}

/// The embedded assets; their content only changes with the binary.
async fn asset(Path(name): Path<String>) -> Response {
    const DAY: &str = "public, max-age=86400";
    let content_type = match name.as_str() {
        "init.js" => return with_type(INIT_JS, "text/javascript; charset=utf-8", "no-cache"),
        "problems.css" => return with_type(PROBLEMS_CSS, "text/css; charset=utf-8", "no-cache"),
        "swagger-ui-bundle.js" => "text/javascript; charset=utf-8",
        "swagger-ui.css" => "text/css; charset=utf-8",
        _ => return crate::problem::ApiError::not_found("no such documentation asset").into_response(),
    };
    match packaged(&name).await {
        Some(body) => with_type(body, content_type, DAY),
        None => crate::problem::ApiError::internal("Swagger UI's files are missing from this build").into_response(),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/docs", get(page))
        .route("/docs/", get(|| async { (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "/docs")]) }))
        .route("/docs/problems", get(problems))
        .route("/docs/assets/{name}", get(asset))
}
