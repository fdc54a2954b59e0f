//! Minting rooms through the integrator API: submit a small file, promote it to a live room.

use anyhow::{Context, bail};
use handoff_protocol::api::PromoteResponse;
use serde_json::{Value, json};

use crate::limits::HTTP_TIMEOUT;

/// The file every room starts with; the typist types at its end.
pub const TYPED_FILE: &str = "main.py";
/// Its content at submission.
pub const INITIAL_CONTENT: &str = "def solve(xs):\n    return sorted(xs)\n";

/// The integrator API of one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

impl Api {
    pub fn new(base: &str, api_key: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().context("http client")?;
        Ok(Api { http, base: base.trim_end_matches('/').to_owned(), api_key: api_key.to_owned() })
    }

    async fn post(&self, path: &str, body: &Value, expect: u16) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if status != expect {
            bail!("POST {path}: HTTP {status} (expected {expect}): {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path}: response is not JSON"))
    }

    /// Submits a one-file submission and promotes it: the live room with its tokens.
    pub async fn mint_room(&self, n: usize) -> anyhow::Result<PromoteResponse> {
        let submission = json!({
            "candidate": {"name": format!("Load Candidate {n}")},
            "exercise": {"title": "load test", "language": "python"},
            "files": [{"path": TYPED_FILE, "content": INITIAL_CONTENT}],
        });
        let created = self.post("/api/v1/submissions", &submission, 201).await?;
        let id = created["id"].as_str().context("submission id in response")?;
        let promoted = self
            .post(
                &format!("/api/v1/submissions/{id}/promote"),
                &json!({"interviewer": {"name": "Load Interviewer"}}),
                200,
            )
            .await?;
        serde_json::from_value(promoted).context("promote response shape")
    }
}

/// The WebSocket URL of a room for a token, as a y-websocket provider builds it.
pub fn ws_url(room: &PromoteResponse, token: &str) -> String {
    format!("{}/{}?token={token}", room.ws_url.trim_end_matches('/'), room.room.id)
}
