//! Test harness: the real server on 127.0.0.1:0 and a Rust Yjs client speaking y-sync over a real
//! WebSocket (yrs for the document, tokio-tungstenite for the socket).
#![allow(dead_code)]

pub mod binary;
pub mod cluster;
pub mod interop;
pub mod kit;
pub mod postgres;
pub mod redis;
pub mod room_life;
pub mod voice;
pub mod yclient;

use std::path::Path;
use std::time::Duration;

use handoff_protocol::api::{FileEntry, PromoteResponse};
use handoff_server::app::{self, Running};
use handoff_server::config::Config;
use serde_json::{Value, json};

#[allow(unused_imports)]
pub use yclient::YClient;

/// Upper bound for waiting on something the server must do; a failure, not a measurement.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The room-token secret test servers sign with, so tests can craft tokens of their own.
pub const TOKEN_SECRET: &str = "test-token-secret";

pub struct TestServer {
    pub running: Running,
    pub http: reqwest::Client,
    pub base: String,
    pub api_key: String,
}

pub fn config(dir: &Path) -> Config {
    let mut c = Config::with_data_dir(dir.to_path_buf());
    c.api_key = Some("test-api-key-0123456789".into());
    c.token_secret = Some(TOKEN_SECRET.into());
    c
}

impl TestServer {
    pub async fn start(dir: &Path) -> TestServer {
        Self::start_with(config(dir)).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        // Server logs show in a failing test's output (`RUST_LOG` overrides the level).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("handoff_server=warn")),
            )
            .with_test_writer()
            .try_init();
        let running = app::start(config).await.expect("server starts");
        let base = running.public_url.clone();
        let api_key = running.api_key.clone();
        TestServer { running, http: reqwest::Client::new(), base, api_key }
    }

    pub async fn stop(self) {
        self.running.shutdown();
        self.running.stopped().await.expect("clean stop");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An authenticated API call; returns status and JSON body (Null when empty).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_as(method, path, &self.api_key, body).await
    }

    /// A call with another bearer token (a room token, the dashboard link's); status and JSON body (Null
    /// when empty).
    pub async fn call_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn submit(&self, files: &[FileEntry]) -> String {
        let (status, body) =
            self.call(reqwest::Method::POST, "/api/v1/submissions", Some(&submission(files))).await;
        assert_eq!(status, 201, "submission accepted: {body}");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn promote(&self, submission_id: &str) -> PromoteResponse {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/submissions/{submission_id}/promote"),
                Some(&json!({"interviewer": {"name": "Ivy Interviewer"}})),
            )
            .await;
        assert_eq!(status, 200, "promote succeeds: {body}");
        serde_json::from_value(body).expect("promote response shape")
    }

    /// Submits `files` and promotes them: the room and its tokens.
    pub async fn room_with(&self, files: &[FileEntry]) -> PromoteResponse {
        let id = self.submit(files).await;
        self.promote(&id).await
    }

    /// Full WebSocket URL of a room for a token, as a y-websocket provider builds it.
    pub fn ws(promoted: &PromoteResponse, token: &str) -> String {
        format!("{}/{}?token={token}", promoted.ws_url, promoted.room.id)
    }

    /// Clients connected to a room on this server, through the API.
    pub async fn connected(&self, room: &str) -> u64 {
        let (_, body) = self.call(reqwest::Method::GET, &format!("/api/v1/rooms/{room}"), None).await;
        body["connected"].as_u64().expect("connected count")
    }

    /// The server's Prometheus page.
    pub async fn metrics_page(&self) -> String {
        self.http.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap()
    }

    /// Waits until the room has `n` clients (bounded by [`PATIENCE`]).
    pub async fn wait_connected(&self, room: &str, n: u64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let now = self.connected(room).await;
            if now == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "room {room} still has {now} clients, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads one metric's value from a Prometheus text page.
pub fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing in:\n{page}"))
}

pub fn file(path: &str, content: &str) -> FileEntry {
    FileEntry { path: path.into(), content: content.into() }
}

pub fn submission(files: &[FileEntry]) -> Value {
    json!({
        "candidate": {"name": "Cam Candidate", "email": "cam@example.com"},
        "exercise": {"title": "LRU cache", "language": "python"},
        "files": files,
        "events": [{"at_ms": 0, "kind": "focus_gained"}, {"at_ms": 1200, "kind": "edit", "file": files.first().map(|f| f.path.clone()), "offset": 0, "delete": 0, "insert": files.first().map(|f| f.content.clone())}],
        "integrity": {"paste_count": 1},
        "scorecard": {"rubric": [{"dimension": "correctness", "score": 3, "max": 4, "evidence": [{"file": "main.py", "lines": [1, 2], "note": "handles eviction"}]}], "summary": "solid"}
    })
}

/// The sample files most tests use: unicode, CRLF, an empty file and a nested path.
pub fn sample_files() -> Vec<FileEntry> {
    vec![
        file("main.py", "def greet(name):\r\n    return f\"héllo {name} 🙂\"\n"),
        file("src/lru.py", "class LRU:\n    pass\n"),
        file("empty.txt", ""),
    ]
}

/// Installs the pinned npm packages of the Node helper in `dir` unless `marker` (a path under
/// `node_modules`) is there. Node and npm are required: without them the test (`what`) fails, never
/// skips, and the message says what to install.
pub fn ensure_node_modules(dir: &Path, marker: &str, what: &str) {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(node.as_ref().is_ok_and(|o| o.status.success()), "{what} needs Node.js (node and npm on PATH)");
    if dir.join("node_modules").join(marker).exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}
