//! `spawn_app`: the real server on port 0 over a fresh store, and a typed client for it.

#![allow(dead_code, reason = "each test binary uses a different part of the support code")]

use muster_api::AppState;
use muster_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let store: Arc<dyn Store> = match backend {
        Backend::Sqlite => Arc::new(muster_store_sqlite::testing::fresh_store().await),
        Backend::Postgres => Arc::new(muster_store_postgres::testing::fresh_store().await),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(store, muster::build_info(None));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(muster::server::run(
        listener,
        state,
        async {
            let _ = rx.await;
        },
        Duration::ZERO,
        Duration::from_secs(5),
    ));
    TestApp { base, client: reqwest::Client::new(), stop: Some(tx) }
}

/// A response, read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status, and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.body);
        for field in ["type", "title", "status", "detail", "request_id"] {
            assert!(self.body.get(field).is_some(), "problem lacks {field}: {}", self.body);
        }
        assert_eq!(self.body["status"], status);
        let text = self.body.to_string().to_lowercase();
        for leak in ["sqlx", "sqlite", "postgres", "constraint", "panicked", "stack", "syntax error"] {
            assert!(!text.contains(leak), "problem leaks {leak:?}: {text}");
        }
        &self.body
    }

    /// The `field` of each validation error.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or("").to_owned()).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("request sent");
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body read");
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Resp { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Creates a row and returns its JSON, asserting 201.
    pub async fn create(&self, collection: &str, body: Value) -> Value {
        let r = self.post(&format!("/v1/{collection}"), &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "creating {collection}: {}", r.body);
        r.body
    }

    pub async fn candidate(&self) -> Value {
        self.create("candidates", serde_json::json!({"name": "Maria Lopez", "office": "Mayor"})).await
    }

    pub async fn volunteer(&self, email: &str) -> Value {
        self.create("volunteers", serde_json::json!({"first_name": "Ana", "last_name": "Garcia", "email": email})).await
    }

    pub async fn event(&self, candidate_id: &Value, capacity: Option<i64>) -> Value {
        self.create(
            "events",
            serde_json::json!({"candidate_id": candidate_id, "title": "Canvass", "event_type": "canvass",
                "starts_at": "2026-11-07T14:00:00Z", "ends_at": "2026-11-07T17:00:00Z", "capacity": capacity}),
        )
        .await
    }
}

/// Instantiates each listed async fn (taking a `TestApp`) once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::spawn_app($crate::support::Backend::Sqlite).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::spawn_app($crate::support::Backend::Postgres).await).await;
                }
            )+
        }
    };
}
