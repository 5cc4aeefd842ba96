//! `aws-sm:` and `aws-ssm:` values resolved at start-up through an emulation of the AWS
//! Parameters and Secrets Lambda Extension's HTTP interface on 127.0.0.1: the binary signs
//! with a secret it read, opens a database whose URL is a key of a JSON secret, checks a
//! parameter's value like any setting, and names what it could not read without a value.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::process::{Command, Output};

const SESSION: &str = "session-token-of-the-environment";
const JWT: &str = "a-secret-read-from-secrets-manager-0123456789";

async fn secret(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if headers.get("x-aws-parameters-secrets-token").and_then(|v| v.to_str().ok()) != Some(SESSION) {
        return (StatusCode::UNAUTHORIZED, "not authorized").into_response();
    }
    let db = std::env::temp_dir().join("muster-secrets-test.db");
    match q.get("secretId").map(String::as_str) {
        Some("muster/jwt") => axum::Json(json!({"Name": "muster/jwt", "SecretString": JWT})).into_response(),
        Some("muster/db") => axum::Json(json!({"Name": "muster/db",
            "SecretString": json!({"url": format!("sqlite://{}?mode=rwc", db.display()), "password": "p4ss"}).to_string()}))
        .into_response(),
        _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"__type": "ResourceNotFoundException",
            "message": "Secrets Manager can't find the specified secret."}))).into_response(),
    }
}

async fn parameter(headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if headers.get("x-aws-parameters-secrets-token").is_none()
        || q.get("withDecryption").map(String::as_str) != Some("true")
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match q.get("name").map(String::as_str) {
        Some("/muster/rate") => {
            axum::Json(json!({"Parameter": {"Name": "/muster/rate", "Value": "500/min"}})).into_response()
        }
        Some("/muster/bad-rate") => axum::Json(json!({"Parameter": {"Value": "lots"}})).into_response(),
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn extension() -> u16 {
    let app = axum::Router::new()
        .route("/secretsmanager/get", axum::routing::get(secret))
        .route("/systemsmanager/parameters/get", axum::routing::get(parameter));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

fn muster(port: u16, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_muster"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MUSTER_") || k.starts_with("AWS_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(std::env::temp_dir())
        .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.to_string())
        .env("AWS_SESSION_TOKEN", SESSION)
        .envs(env.iter().copied())
        .args(args);
    cmd.output().unwrap()
}

async fn run(port: u16, env: Vec<(&'static str, &'static str)>, args: &'static [&'static str]) -> Output {
    tokio::task::spawn_blocking(move || muster(port, &env, args)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_are_read_through_the_extension() {
    let port = extension().await;
    let out = run(
        port,
        vec![("MUSTER_JWT_SECRET", "aws-sm:muster/jwt"), ("MUSTER_RATE_LIMIT", "aws-ssm:/muster/rate")],
        &["token", "--sub", "ana", "--scope", "read"],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(JWT.as_bytes()),
        &validation,
    )
    .expect("signed with the secret the extension served");
    assert_eq!(claims.claims["sub"], "ana");

    // a key of a JSON secret: the database URL
    let db = std::env::temp_dir().join("muster-secrets-test.db");
    let _ = std::fs::remove_file(&db);
    let out = run(port, vec![("MUSTER_DATABASE_URL", "aws-sm:muster/db#url")], &["migrate"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists(), "the database named by the secret was not created");
    let _ = std::fs::remove_file(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_read_stops_start_up_naming_the_setting_not_a_value() {
    let port = extension().await;
    let missing = run(port, vec![("MUSTER_JWT_SECRET", "aws-sm:muster/nope")], &["token", "--sub", "ana"]).await;
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("MUSTER_JWT_SECRET") && err.contains("aws-sm:muster/nope") && err.contains("ResourceNotFound"),
        "{err}"
    );

    let no_key = run(port, vec![("MUSTER_DATABASE_URL", "aws-sm:muster/db#host")], &["migrate"]).await;
    assert_eq!(no_key.status.code(), Some(2));
    let err = String::from_utf8_lossy(&no_key.stderr);
    assert!(err.contains("no key \"host\"") && !err.contains("p4ss"), "{err}");

    // a resolved value is checked like any other
    let bad = run(port, vec![("MUSTER_RATE_LIMIT", "aws-ssm:/muster/bad-rate")], &["token", "--sub", "ana"]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("MUSTER_RATE_LIMIT"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    let nothing_there = tokio::task::spawn_blocking(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        muster(port, &[("MUSTER_JWT_SECRET", "aws-sm:muster/jwt")], &["token", "--sub", "ana"])
    })
    .await
    .unwrap();
    assert_eq!(nothing_there.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nothing_there.stderr).contains("did not answer"));
}
