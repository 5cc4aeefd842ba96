//! How the server treats connections, below the requests on them: a refused body is read
//! away (within bounds) before the connection closes, so a client that writes its whole body
//! before reading hears the 413 instead of a reset.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::Backend;

/// Writes `head` and then `body_len` bytes of body (in HTTP/1.1 chunks when `chunked`), and only
/// then reads the answer to its end, as Python's http.client and other simple clients do.
fn write_all_then_read(addr: &str, head: &str, body_len: usize, chunked: bool) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(head.as_bytes())?;
    let piece = vec![b' '; 64 * 1024];
    let mut left = body_len;
    while left > 0 {
        let n = left.min(piece.len());
        if chunked {
            s.write_all(format!("{n:x}\r\n").as_bytes())?;
        }
        s.write_all(&piece[..n])?;
        if chunked {
            s.write_all(b"\r\n")?;
        }
        left -= n;
    }
    if chunked {
        s.write_all(b"0\r\n\r\n")?;
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Asserts a whole 413 problem response in `answer`.
fn assert_413(answer: &str) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("a whole response: {answer:?}"));
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{head}");
    let problem: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(problem["status"], 413, "{problem}");
    assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("body-too-large")), "{problem}");
    assert!(problem["request_id"].is_string(), "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_writes_its_whole_oversized_body_first_reads_the_413() {
    let app = support::spawn_app(Backend::Sqlite).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // more than loopback's socket buffers hold (a 3 MiB body fits in them, and was heard
    // even without the fix), less than what the server reads away
    let len = 16 * muster_api::BODY_LIMIT;
    assert!(len < muster::server::LINGER_BYTES);
    // refused on its declared length, before a byte of the body is read
    let declared = format!(
        "POST /v1/candidates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n",
        app.token
    );
    // refused once the first MiB has been read
    let chunked = format!(
        "POST /v1/candidates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        app.token
    );
    for (head, chunked) in [(declared, false), (chunked, true)] {
        let addr = addr.clone();
        let answer = tokio::task::spawn_blocking(move || write_all_then_read(&addr, &head, len, chunked))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("chunked {chunked}: the whole body was written and the answer read: {e}"));
        assert_413(&answer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_sending_after_its_413_is_closed_soon() {
    use muster::server::LINGER_IDLE;
    let app = support::spawn_app(Backend::Sqlite).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /v1/candidates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        app.token,
        16 * muster_api::BODY_LIMIT
    );
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // a megabyte of the sixteen announced, and the write side left open
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&vec![b' '; muster_api::BODY_LIMIT]).unwrap();
        // the answer, and its end: the server shut its write side at once
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).expect("the answer and the end of it");
        assert_413(&String::from_utf8_lossy(&answer));
        // still reading what the client sends
        std::thread::sleep(LINGER_IDLE / 2);
        s.write_all(b"more").expect("the server still reads");
        // then, once the client has been quiet for LINGER_IDLE, closed: a write gets a reset
        let quiet = Instant::now();
        std::thread::sleep(LINGER_IDLE + Duration::from_secs(1));
        let refused = (0..20).find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            s.write_all(b"x").err()
        });
        assert!(
            refused.is_some(),
            "the server closed the connection {:?} after the client went quiet",
            quiet.elapsed()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_closing_connection_reads_away_is_bounded() {
    let app = support::spawn_app(Backend::Sqlite).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let len = 3 * muster::server::LINGER_BYTES;
    let head = format!(
        "POST /v1/candidates HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n",
        app.token
    );
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || write_all_then_read(&addr, &head, len, false)).await.unwrap();
    assert!(outcome.is_err(), "the server stopped reading long before the end: {outcome:?}");
    assert!(started.elapsed() < muster::server::LINGER_TIME, "{:?}", started.elapsed());
    assert_eq!(app.get("/health").await.status, reqwest::StatusCode::OK);
}
