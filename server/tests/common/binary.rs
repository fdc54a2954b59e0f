//! The `handoff` binary as an operator runs it: `serve` as a child process on a data dir, and the
//! operator commands beside it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use handoff_protocol::api::PromoteResponse;
use serde_json::{Value, json};

use super::{file, submission};

/// The API key the servers these tests start are given.
pub const API_KEY: &str = "binary-test-api-key-0123456789";

/// The `handoff` binary with `args`, none of the operator's `HANDOFF_*` settings leaking in.
pub fn handoff(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.args(args);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HANDOFF_")) {
        cmd.env_remove(key);
    }
    cmd
}

/// The URL a `serve` child started with piped stdout prints in its startup line. Log lines (a warning,
/// say) may come before that line; stdout is drained afterwards so the child never blocks on a full pipe.
pub fn listening_url(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first = lines
        .by_ref()
        .map(|l| l.expect("stdout is readable"))
        .find(|l| l.starts_with("handoff is listening on"))
        .expect("a startup line");
    std::thread::spawn(move || for _ in lines {});
    let base = first.rsplit(' ').next().expect("a URL").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "the startup line names the URL: {first}");
    base
}

/// A server process on a data dir; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        let mut child = handoff(&["serve", "--listen", "127.0.0.1:0", "--log", "warn", "--api-key", API_KEY])
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("handoff starts");
        let base = listening_url(&mut child);
        Server { child, base, http: reqwest::Client::new() }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(API_KEY);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    pub async fn room(&self, paths: &[&str]) -> PromoteResponse {
        let files: Vec<_> = paths.iter().map(|p| file(p, "")).collect();
        let sub = self.call(reqwest::Method::POST, "/api/v1/submissions", Some(submission(&files))).await;
        let id = sub["id"].as_str().expect("submission id");
        let body = json!({"interviewer": {"name": "Ivy"}});
        let path = format!("/api/v1/submissions/{id}/promote");
        let promoted = self.call(reqwest::Method::POST, &path, Some(body)).await;
        serde_json::from_value(promoted).expect("promote response")
    }

    /// The room's export: the server flushes the room first, so it shows every edit committed.
    pub async fn export(&self, room: &str) -> Value {
        self.call(reqwest::Method::GET, &format!("/api/v1/rooms/{room}/export"), None).await
    }
}
