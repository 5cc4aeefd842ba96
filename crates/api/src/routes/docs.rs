//! `/openapi.json`, `/docs` (Swagger UI, embedded: it works offline) and
//! `/docs/problems` (where every problem `type` URI points). Open to everyone.

use crate::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The Swagger UI release embedded below (npm `swagger-ui-dist`).
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

const BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

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
    match name.as_str() {
        "swagger-ui-bundle.js" => with_type(BUNDLE, "text/javascript; charset=utf-8", DAY),
        "swagger-ui.css" => with_type(CSS, "text/css; charset=utf-8", DAY),
        "init.js" => with_type(INIT_JS, "text/javascript; charset=utf-8", "no-cache"),
        "problems.css" => with_type(PROBLEMS_CSS, "text/css; charset=utf-8", "no-cache"),
        _ => crate::problem::ApiError::not_found("no such documentation asset").into_response(),
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
