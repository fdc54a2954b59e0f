//! The room-ended webhook against a real receiver: signed body, retries with backoff after failures,
//! exactly one successful delivery, and delivery across a restart.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{PATIENCE, TestServer, file};
use handoff_server::test_support::{METRICS, signature};
use reqwest::Method;
use serde_json::Value;

const SECRET: &str = "whsec-test";

#[derive(Default)]
struct Received {
    /// (signature header, body) of every request, and how many were answered 2xx.
    requests: Vec<(String, Bytes)>,
    ok: usize,
    /// Requests to refuse (500) before accepting.
    fail_first: usize,
}

type Shared = Arc<Mutex<Received>>;

/// A copy of what the receiver got: (requests, successes).
fn seen(shared: &Shared) -> (Vec<(String, Bytes)>, usize) {
    let r = shared.lock().unwrap();
    (r.requests.clone(), r.ok)
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut r = shared.lock().unwrap();
    let sig = headers.get("x-handoff-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    r.requests.push((sig, body));
    if r.requests.len() <= r.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        r.ok += 1;
        StatusCode::NO_CONTENT
    }
}

async fn receiver(fail_first: usize) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(Received { fail_first, ..Default::default() }));
    let app = Router::new().route("/hook", post(receive)).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), shared)
}

fn config(dir: &std::path::Path, url: &str, retry_ms: u64) -> handoff_server::config::Config {
    let mut c = common::config(dir);
    c.webhook_url = Some(url.to_owned());
    c.webhook_secret = Some(SECRET.into());
    c.webhook_retry_ms = retry_ms;
    c
}

async fn end(server: &TestServer, room: &str) {
    let (status, body) = server.call(Method::POST, &format!("/api/v1/rooms/{room}/end"), None).await;
    assert_eq!(status, 200, "{body}");
}

/// Polls the room until its webhook reaches `status` (bounded by PATIENCE).
async fn wait_status(server: &TestServer, room: &str, status: &str) -> Value {
    wait_webhook(server, room, |w| w["status"] == status).await
}

async fn wait_webhook(server: &TestServer, room: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, view) = server.call(Method::GET, &format!("/api/v1/rooms/{room}"), None).await;
        if done(&view["webhook"]) {
            return view["webhook"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "webhook never got there: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ending_a_room_posts_a_signed_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (url, got) = receiver(0).await;
    let server = TestServer::start_with(config(dir.path(), &url, 100)).await;
    let room = server.room_with(&[file("main.py", "x = 1\n")]).await;
    end(&server, &room.room.id).await;
    let status = wait_status(&server, &room.room.id, "delivered").await;
    assert_eq!(status["attempts"], 1);

    let (requests, ok) = seen(&got);
    assert_eq!((requests.len(), ok), (1, 1));
    let (sig, body) = &requests[0];
    assert_eq!(sig, &signature(SECRET.as_bytes(), body), "the signature is the HMAC of the exact body");
    assert_ne!(sig, &signature(b"another secret", body));
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["event"], "room.ended");
    assert_eq!(event["room"]["id"], room.room.id.as_str());
    assert_eq!(event["room"]["status"], "ended");
    assert_eq!(event["files"][0]["path"], "main.py");
    assert!(
        event["export_url"].as_str().unwrap().ends_with(&format!("/api/v1/rooms/{}/export", room.room.id))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failing_receiver_gets_exactly_one_successful_delivery_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (url, got) = receiver(2).await;
    let attempts = |outcome: &str| METRICS.webhook_attempts.with_label_values(&[outcome]).get();
    let (retries, delivered) = (attempts("retry"), attempts("delivered"));
    let server = TestServer::start_with(config(dir.path(), &url, 50)).await;
    let room = server.room_with(&[file("main.py", "x = 1\n")]).await;
    end(&server, &room.room.id).await;
    let status = wait_status(&server, &room.room.id, "delivered").await;
    assert_eq!(status["attempts"], 3, "two refusals, then the delivery");
    // Delivered is recorded: the worker never picks this delivery again.
    let (requests, ok) = seen(&got);
    assert_eq!((requests.len(), ok), (3, 1));
    assert!(requests.windows(2).all(|w| w[0].1 == w[1].1), "every retry carries the same body");
    // Counted for alerting (deploy/prometheus/alerts.yml); other tests here deliver too, hence "at least".
    assert!(attempts("retry") >= retries + 2 && attempts("delivered") > delivered);
    // Ending again does not send a second event.
    end(&server, &room.room.id).await;
    let (_, view) = server.call(Method::GET, &format!("/api/v1/rooms/{}", room.room.id), None).await;
    assert_eq!(view["webhook"]["attempts"], 3);
    server.stop().await;
}

#[tokio::test]
async fn a_restart_between_failure_and_retry_still_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let (url, got) = receiver(1).await;
    // A long first retry delay: the retry can only happen after the restart.
    let server = TestServer::start_with(config(dir.path(), &url, 1500)).await;
    let room = server.room_with(&[file("main.py", "x = 1\n")]).await;
    end(&server, &room.room.id).await;
    let status = wait_webhook(&server, &room.room.id, |w| w["attempts"] == 1).await;
    assert_eq!(status["status"], "pending");
    assert!(status["last_error"].as_str().unwrap().contains("500"), "{status}");
    server.stop().await;

    let server = TestServer::start_with(config(dir.path(), &url, 1500)).await;
    let status = wait_status(&server, &room.room.id, "delivered").await;
    assert_eq!(status["attempts"], 2);
    let (requests, ok) = seen(&got);
    assert_eq!((requests.len(), ok), (2, 1));
    server.stop().await;
}
