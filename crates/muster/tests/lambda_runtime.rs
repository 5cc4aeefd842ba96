//! The built binary, started as `bootstrap`, against an emulated Lambda Runtime API on
//! 127.0.0.1 (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`), on PostgreSQL:
//! several invocations in one execution environment, no migrations until the deploy step
//! asks for them, the self-test, each access line naming its Lambda request id, and one
//! EMF line per HTTP invocation. It prints the cold start (process start to the first
//! answered invocation); `bench/lambda-cold-start` measures it properly.

mod support;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{TEST_SECRET, mint};

/// An invocation's answer (or error), and when it arrived.
type Answer = (String, Result<Value, Value>, Instant);

/// The emulated Runtime API: events to hand out, answers received.
#[derive(Default)]
struct Runtime {
    queue: Mutex<VecDeque<(String, Value)>>,
    answers: Mutex<Vec<Answer>>,
    ready: tokio::sync::Notify,
    answered: tokio::sync::Notify,
}

async fn next(State(rt): State<Arc<Runtime>>) -> Response {
    loop {
        let notified = rt.ready.notified();
        if let Some((id, event)) = rt.queue.lock().unwrap().pop_front() {
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().unwrap());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:muster:live".parse().unwrap(),
            );
            headers.insert("lambda-runtime-trace-id", "Root=1-675d3a5c-0a1b2c3d4e5f60718293a4b5".parse().unwrap());
            return (headers, axum::Json(event)).into_response();
        }
        notified.await;
    }
}

async fn response(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: axum::body::Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    rt.answers.lock().unwrap().push((id, Ok(v), Instant::now()));
    rt.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: axum::body::Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    rt.answers.lock().unwrap().push((id, Err(v), Instant::now()));
    rt.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: axum::body::Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    rt.answers.lock().unwrap().push(("init".into(), Err(v), Instant::now()));
    rt.answered.notify_waiters();
    StatusCode::ACCEPTED
}

impl Runtime {
    fn push(&self, id: &str, event: Value) {
        self.queue.lock().unwrap().push_back((id.to_owned(), event));
        self.ready.notify_waiters();
    }

    /// Waits for the answer to `id`.
    async fn answer(&self, id: &str) -> (Result<Value, Value>, Instant) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.answered.notified();
            if let Some((_, a, at)) = self.answers.lock().unwrap().iter().find(|(i, ..)| i == id || i == "init") {
                return (a.clone(), *at);
            }
            assert!(Instant::now() < deadline, "no answer to {id}");
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }

    /// Sends `event` and waits for its answer.
    async fn invoke(&self, id: &str, event: Value) -> Result<Value, Value> {
        self.push(id, event);
        self.answer(id).await.0
    }
}

/// A fresh, empty PostgreSQL database; its URL.
async fn fresh_database() -> String {
    use sqlx::Executor;
    let name = format!("muster_lambda_{}", uuid::Uuid::now_v7().simple());
    let mut admin = muster_store_postgres::testing::admin_connection().await;
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    format!("{}/{name}", muster_store_postgres::testing::server_url())
}

async fn tables(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        .fetch_one(&pool)
        .await
        .unwrap()
}

fn v2(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = json!({"host": "api.example.org", "user-agent": "lambda-test"});
    if let Some(t) = token {
        headers["authorization"] = json!(format!("Bearer {t}"));
    }
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": headers,
           "requestContext": {"accountId": "123456789012", "apiId": "f6g7h8i9j0", "domainName": "api.example.org",
               "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "lambda-test"},
               "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "02/Dec/2026:05:20:11 +0000", "timeEpoch": 0},
           "body": body.map(|b| b.to_string()), "isBase64Encoded": false})
}

fn rest_v1(path: &str, token: &str) -> Value {
    json!({"resource": "/{proxy+}", "path": path, "httpMethod": "GET",
           "headers": {"Authorization": format!("Bearer {token}")},
           "multiValueHeaders": {"Authorization": [format!("Bearer {token}")]},
           "queryStringParameters": null, "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
           "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "GET", "path": format!("/prod{path}"), "accountId": "123456789012",
               "stage": "prod", "requestId": "r", "identity": {"sourceIp": "198.51.100.23"}, "apiId": "a1b2c3d4e5"},
           "body": null, "isBase64Encoded": false})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_serves_invocations_from_the_runtime_api_on_postgres() {
    let rt = Arc::new(Runtime::default());
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", axum::routing::get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", axum::routing::post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", axum::routing::post(error))
        .route("/2018-06-01/runtime/init/error", axum::routing::post(init_error))
        .with_state(rt.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = fresh_database().await;
    // the custom runtime starts a file named bootstrap with no arguments
    let dir = std::env::temp_dir().join(format!("muster-lambda-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(env!("CARGO_BIN_EXE_muster"), &bootstrap).unwrap();
    let stdout = dir.join("stdout.log");
    let mut cmd = Command::new(&bootstrap);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MUSTER_") || k.starts_with("AWS_")) {
        cmd.env_remove(k);
    }
    // the first event is waiting when the process starts, as on a real cold start
    rt.push("inv-1", v2("GET", "/health", None, None));
    let started = Instant::now();
    let mut child = cmd
        .current_dir(&dir)
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "muster")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "7")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("MUSTER_DATABASE_URL", &url)
        .env("MUSTER_JWT_SECRET", TEST_SECRET)
        .env("MUSTER_LOG_FORMAT", "json")
        .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    let (first, at) = rt.answer("inv-1").await;
    let health = first.expect("the first invocation is answered");
    assert_eq!(health["statusCode"], 200, "{health}");
    println!("cold start, process start to the first answered invocation: {:?}", at - started);
    assert_eq!(tables(&url).await, 0, "a cold start ran migrations");

    // before the deploy step, the store has no tables: a 503 problem, not a crash
    let token = mint("lambda-e2e", "admin", 600);
    let early = rt.invoke("inv-2", v2("GET", "/v1/candidates", Some(&token), None)).await.unwrap();
    assert!(early["statusCode"].as_u64().unwrap() >= 500, "{early}");

    let migrated = rt.invoke("inv-3", json!({"muster_migrate": true})).await.unwrap();
    assert_eq!(migrated, json!({"migrated": true}));
    assert!(tables(&url).await > 5);

    let made = rt
        .invoke(
            "inv-4",
            v2("POST", "/v1/candidates", Some(&token), Some(json!({"name": "Maria Lopez", "office": "Mayor"}))),
        )
        .await
        .unwrap();
    assert_eq!(made["statusCode"], 201, "{made}");
    let id = serde_json::from_str::<Value>(made["body"].as_str().unwrap()).unwrap()["id"].as_str().unwrap().to_owned();
    let read = rt.invoke("inv-5", rest_v1(&format!("/v1/candidates/{id}"), &token)).await.unwrap();
    assert_eq!(read["statusCode"], 200, "{read}");
    assert!(read["multiValueHeaders"]["etag"].is_array(), "{read}");

    let report = rt.invoke("inv-6", json!({"muster_self_test": {"smoke": true}})).await.unwrap();
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["passed"], 10, "{report}");

    let refused = rt.invoke("inv-7", json!({"hello": "world"})).await.unwrap_err();
    assert_eq!(refused["errorType"], "MusterError", "{refused}");

    child.kill().unwrap();
    let _ = child.wait();
    let log = std::fs::read_to_string(&stdout).unwrap();
    let lines: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let access = lines.iter().find(|l| l["route"] == "/v1/candidates" && l["status"] == 201).expect("an access line");
    assert_eq!(access["aws_request_id"], "inv-4", "{access}");
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 4, "one EMF line per HTTP invocation: {emf:?}");
    assert!(emf.iter().all(|m| m["Version"] == "7" && m["FunctionName"] == "muster" && m["Requests"] == 1));
    assert_eq!(emf.iter().filter(|m| m["ServerErrors"] == 1).count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
