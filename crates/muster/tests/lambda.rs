//! API Gateway REST (v1, with a stage), HTTP API (v2) and ALB events fed through the Lambda
//! handler in-process: the same router answers, with the path, the caller's address,
//! base64 bodies, multi-value headers and query strings, and every refusal a problem.

mod support;

use base64::Engine;
use muster::lambda::http::HttpHandler;
use muster_api::ratelimit::Quota;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::{Backend, Options, TestApp, fresh_store, mint, spawn_with};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/lambda/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A request to send as an event.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: Vec<(&'a str, &'a str)>,
    headers: Vec<(&'a str, String)>,
    body: Option<Vec<u8>>,
    base64: bool,
}

fn req<'a>(method: &'a str, path: &'a str) -> Req<'a> {
    Req { method, path, query: Vec::new(), headers: Vec::new(), body: None, base64: false }
}

impl<'a> Req<'a> {
    fn token(mut self, token: &str) -> Self {
        self.headers.push(("authorization", format!("Bearer {token}")));
        self
    }
    fn header(mut self, name: &'a str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
    fn query(mut self, name: &'a str, value: &'a str) -> Self {
        self.query.push((name, value));
        self
    }
    fn json(mut self, body: &Value) -> Self {
        self.headers.push(("content-type", "application/json".into()));
        self.body = Some(body.to_string().into_bytes());
        self
    }
    fn bytes(mut self, content_type: &str, body: &[u8], base64: bool) -> Self {
        self.headers.push(("content-type", content_type.into()));
        self.body = Some(body.to_vec());
        self.base64 = base64;
        self
    }
    fn body_text(&self) -> Value {
        match &self.body {
            None => Value::Null,
            Some(b) if self.base64 => json!(base64::engine::general_purpose::STANDARD.encode(b)),
            Some(b) => json!(String::from_utf8(b.clone()).unwrap()),
        }
    }
    fn multi_query(&self) -> Value {
        let mut m: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (k, v) in &self.query {
            m.entry(k).or_default().push(v);
        }
        json!(m)
    }

    /// A REST API (payload v1) event on stage `prod`: the stage is in the context's path.
    fn rest_v1(&self) -> Value {
        let mut e = fixture("apigw-rest-v1.json");
        e["httpMethod"] = json!(self.method);
        e["path"] = json!(self.path);
        e["requestContext"]["httpMethod"] = json!(self.method);
        e["requestContext"]["path"] = json!(format!("/prod{}", self.path));
        for (k, v) in &self.headers {
            e["headers"][*k] = json!(v);
            e["multiValueHeaders"][*k] = json!([v]);
        }
        if !self.query.is_empty() {
            e["multiValueQueryStringParameters"] = self.multi_query();
            let single: BTreeMap<&str, &str> = self.query.iter().copied().collect();
            e["queryStringParameters"] = json!(single);
        }
        e["body"] = self.body_text();
        e["isBase64Encoded"] = json!(self.base64);
        e
    }

    /// An HTTP API (payload v2) event; `stage` None is `$default`.
    fn http_v2(&self, stage: Option<&str>) -> Value {
        let mut e = fixture("apigw-http-v2.json");
        let raw_path = match stage {
            Some(s) => format!("/{s}{}", self.path),
            None => self.path.to_owned(),
        };
        e["rawPath"] = json!(raw_path);
        e["requestContext"]["http"]["method"] = json!(self.method);
        e["requestContext"]["http"]["path"] = json!(raw_path);
        e["requestContext"]["stage"] = json!(stage.unwrap_or("$default"));
        e["rawQueryString"] = json!(serde_urlencoded::to_string(&self.query).unwrap());
        for (k, v) in &self.headers {
            e["headers"][*k] = json!(v);
        }
        if self.body.is_some() {
            e["body"] = self.body_text();
        }
        e["isBase64Encoded"] = json!(self.base64);
        e
    }

    /// An ALB event with multi-value headers (query values URL-encoded, as ALB sends them).
    fn alb(&self) -> Value {
        let mut e = fixture("alb.json");
        e["httpMethod"] = json!(self.method);
        e["path"] = json!(self.path);
        let mut m: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (k, v) in &self.query {
            m.entry(k).or_default().push(serde_urlencoded::to_string([("", v)]).unwrap()[1..].to_owned());
        }
        e["multiValueQueryStringParameters"] = json!(m);
        for (k, v) in &self.headers {
            e["multiValueHeaders"][*k] = json!([v]);
        }
        e["body"] = if self.body.is_some() { self.body_text() } else { json!("") };
        e["isBase64Encoded"] = json!(self.base64);
        e
    }
}

/// A Lambda response, whatever its origin's shape.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: Value,
    raw: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    fn problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status, status, "{:?}", self.raw);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{:?}", self.raw);
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].as_str().unwrap().ends_with(&format!("#{slug}")), "{}", self.body);
        assert!(self.body["request_id"].is_string());
    }
}

async fn call(handler: &HttpHandler, event: Value) -> Answer {
    let mut context = lambda_runtime::Context::default();
    context.request_id = uuid::Uuid::now_v7().to_string();
    let raw = handler.handle(event, context).await.expect("an HTTP answer");
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for field in ["headers", "multiValueHeaders"] {
        for (k, v) in raw[field].as_object().into_iter().flatten() {
            let values: Vec<String> = match v {
                Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            let slot = headers.entry(k.to_ascii_lowercase()).or_default();
            for value in values {
                if !slot.contains(&value) {
                    slot.push(value);
                }
            }
        }
    }
    let text = match (raw["body"].as_str(), raw["isBase64Encoded"].as_bool()) {
        (Some(b), Some(true)) => {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
        }
        (Some(b), _) => b.to_owned(),
        (None, _) => String::new(),
    };
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status: raw["statusCode"].as_u64().unwrap() as u16, headers, body, raw }
}

async fn setup(rate: &str) -> (TestApp, HttpHandler) {
    let opts = Options { rate: Quota::parse(rate).unwrap(), ..Options::default() };
    let app = spawn_with(fresh_store(Backend::Sqlite).await, opts).await;
    let handler = HttpHandler::new(app.state.clone());
    (app, handler)
}

fn admin() -> String {
    mint("lambda-tester", "admin", 600)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_api_event_with_a_stage_reaches_the_route_with_every_header() {
    let (_app, h) = setup("1000/min").await;
    let a = call(&h, req("GET", "/v1/candidates").token(&admin()).header("x-request-id", "from-the-client").rest_v1())
        .await;
    assert_eq!(a.status, 200, "{:?}", a.raw);
    assert_eq!(a.body["data"], json!([]));
    assert_eq!(a.header("x-request-id"), Some("from-the-client"));
    for h in ["ratelimit", "ratelimit-policy", "x-muster-build", "etag", "content-type"] {
        assert!(a.header(h).is_some(), "no {h}: {:?}", a.raw);
    }
    // payload v1 answers in multiValueHeaders only (API Gateway would merge both)
    assert!(a.raw["multiValueHeaders"].as_object().is_some_and(|m| !m.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_value_query_strings_reach_the_router_whole() {
    let (_app, h) = setup("1000/min").await;
    let t = admin();
    for name in ["Maria Lopez", "Jo Rivera"] {
        let made = call(
            &h,
            req("POST", "/v1/candidates").token(&t).json(&json!({"name": name, "office": "Mayor"})).http_v2(None),
        )
        .await;
        assert_eq!(made.status, 201, "{:?}", made.raw);
    }
    let page = call(&h, req("GET", "/v1/candidates").token(&t).query("limit", "1").rest_v1()).await;
    assert_eq!(page.status, 200, "{:?}", page.raw);
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
    assert!(page.body["next_cursor"].is_string());
    // a repeated parameter is refused by the router, so both values arrived
    let twice =
        call(&h, req("GET", "/v1/candidates").token(&t).query("office", "Mayor").query("office", "Judge").rest_v1())
            .await;
    twice.problem(400, "invalid-query");
    let alb = call(&h, req("GET", "/v1/candidates").token(&t).query("office", "Mayor").query("limit", "5").alb()).await;
    assert_eq!(alb.status, 200, "{:?}", alb.raw);
    assert_eq!(alb.body["data"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_events_create_read_and_revalidate() {
    let (_app, h) = setup("1000/min").await;
    let t = admin();
    let made = call(
        &h,
        req("POST", "/v1/candidates").token(&t).json(&json!({"name": "Maria Lopez", "office": "Mayor"})).http_v2(None),
    )
    .await;
    assert_eq!(made.status, 201, "{:?}", made.raw);
    let id = made.body["id"].as_str().unwrap().to_owned();
    assert_eq!(made.header("location"), Some(format!("/v1/candidates/{id}").as_str()));
    let etag = made.header("etag").unwrap().to_owned();
    let path = format!("/v1/candidates/{id}");
    // a named HTTP API stage is in rawPath; the route knows no stages
    let read = call(&h, req("GET", &path).token(&t).http_v2(Some("staging"))).await;
    assert_eq!(read.status, 200, "{:?}", read.raw);
    assert_eq!(read.body["name"], "Maria Lopez");
    let same = call(&h, req("GET", &path).token(&t).header("if-none-match", &etag).alb()).await;
    assert_eq!(same.status, 304, "{:?}", same.raw);
    let rest = call(&h, req("GET", &path).token(&t).rest_v1()).await;
    assert_eq!(rest.header("etag"), Some(etag.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base64_csv_import_is_read_whole() {
    let (_app, h) = setup("1000/min").await;
    let t = admin();
    let csv = "first_name,last_name,email,tags\nAna,García,ana@example.org,door;phones\nBo,Chen,bo@example.org,\n";
    for (event, n) in [
        (req("POST", "/v1/volunteers/import").token(&t).bytes("text/csv", csv.as_bytes(), true).http_v2(None), 0),
        (
            req("POST", "/v1/volunteers/import")
                .token(&t)
                .query("upsert", "true")
                .bytes("text/csv", csv.as_bytes(), true)
                .rest_v1(),
            1,
        ),
    ] {
        let a = call(&h, event).await;
        assert_eq!(a.status, 200, "{:?}", a.raw);
        assert_eq!(a.body["rows"], 2, "{}", a.body);
        assert_eq!(a.body["failed"], 0, "{}", a.body);
        assert_eq!(a.body[if n == 0 { "created" } else { "updated" }], 2, "{}", a.body);
    }
    let found = call(&h, req("GET", "/v1/volunteers").token(&t).query("email", "ana@example.org").http_v2(None)).await;
    assert_eq!(found.body["data"][0]["last_name"], "García");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_problems_in_every_event_shape() {
    let (_app, h) = setup("1000/min").await;
    let a = call(&h, req("GET", "/v1/candidates").rest_v1()).await;
    a.problem(401, "unauthorized");
    assert!(a.header("www-authenticate").unwrap().starts_with("Bearer"));
    let reader = mint("reader", "read", 600);
    call(&h, req("POST", "/v1/candidates").token(&reader).json(&json!({"name": "x", "office": "y"})).http_v2(None))
        .await
        .problem(403, "insufficient-scope");
    call(&h, req("GET", &format!("/v1/events/{}", uuid::Uuid::now_v7())).token(&admin()).alb())
        .await
        .problem(404, "not-found");
    let huge = json!({"name": "x".repeat(1024 * 1024 + 10), "office": "Mayor"});
    call(&h, req("POST", "/v1/candidates").token(&admin()).json(&huge).http_v2(None))
        .await
        .problem(413, "body-too-large");
    let bad = call(&h, req("POST", "/v1/volunteers").token(&admin()).json(&json!({"email": "nope"})).rest_v1()).await;
    bad.problem(422, "validation");
    assert!(bad.body["errors"].as_array().unwrap().iter().any(|e| e["field"] == "first_name"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_address_comes_from_the_event() {
    let (_app, h) = setup("2/min").await;
    // unauthenticated calls are charged to the caller's address: API Gateway's sourceIp
    for _ in 0..2 {
        call(&h, req("GET", "/v1/candidates").rest_v1()).await.problem(401, "unauthorized");
    }
    let limited = call(&h, req("GET", "/v1/candidates").rest_v1()).await;
    limited.problem(429, "rate-limited");
    assert!(limited.header("retry-after").is_some());
    // another address (the v2 fixture's) has its own budget
    call(&h, req("GET", "/v1/candidates").http_v2(None)).await.problem(401, "unauthorized");
    // ALB: the hop it appended last
    for ip in ["192.0.2.50", "192.0.2.50"] {
        call(&h, req("GET", "/v1/candidates").header("x-forwarded-for", ip).alb()).await.problem(401, "unauthorized");
    }
    call(&h, req("GET", "/v1/candidates").header("x-forwarded-for", "192.0.2.50").alb())
        .await
        .problem(429, "rate-limited");
    call(&h, req("GET", "/v1/candidates").header("x-forwarded-for", "192.0.2.51").alb())
        .await
        .problem(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_no_event_is_a_function_error() {
    let (_app, h) = setup("1000/min").await;
    let err = h.handle(json!({"hello": "world"}), lambda_runtime::Context::default()).await.unwrap_err();
    assert!(err.0.contains("neither an API Gateway or ALB event"), "{}", err.0);
}
