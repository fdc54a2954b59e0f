//! Minting rooms through handoff's integrator API (submit, then promote), and the submissions runs use.

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use handoff_protocol::api::{FileEntry, PromoteResponse};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::limits::{HTTP_TIMEOUT, MINT_CONCURRENCY};

/// The file the typist types into, at its end.
pub const TYPED_FILE: &str = "main.py";
/// Its content at submission.
pub const INITIAL_CONTENT: &str = "def solve(xs):\n    return sorted(xs)\n";

/// The files a room starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub files: Vec<FileEntry>,
}

impl Submission {
    /// One small file: the typing scenarios' room.
    pub fn typing() -> Submission {
        Submission { files: vec![FileEntry { path: TYPED_FILE.into(), content: INITIAL_CONTENT.into() }] }
    }

    /// `files` files totalling about `bytes` bytes of plausible source (ASCII lines of varying length),
    /// with [`TYPED_FILE`] first so a typist can type into it. Deterministic: the same arguments give the
    /// same files.
    pub fn large(bytes: usize, files: usize) -> Submission {
        let files = files.max(1);
        let per_file = bytes / files;
        let entries = (0..files)
            .map(|i| {
                let path =
                    if i == 0 { TYPED_FILE.to_owned() } else { format!("pkg{}/module_{i:03}.py", i % 7) };
                let mut content = String::with_capacity(per_file + 80);
                let mut line = 0usize;
                while content.len() < per_file {
                    let pad = " ".repeat(4 * (line % 3));
                    content.push_str(&format!(
                        "{pad}value_{i}_{line} = compute({line}, {})  # step\n",
                        line * 7
                    ));
                    line += 1;
                }
                content.truncate(per_file);
                FileEntry { path, content }
            })
            .collect();
        Submission { files: entries }
    }

    /// Total bytes of content.
    pub fn bytes(&self) -> usize {
        self.files.iter().map(|f| f.content.len()).sum()
    }

    fn body(&self, n: usize) -> Value {
        json!({
            "candidate": {"name": format!("Load Candidate {n}")},
            "exercise": {"title": "load test", "language": "python"},
            "files": self.files,
        })
    }
}

/// The integrator API of one handoff server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

/// How long the two calls of one mint took.
#[derive(Debug, Clone, Copy)]
pub struct MintTimes {
    pub submit: Duration,
    pub promote: Duration,
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

    /// Submits `sub` and promotes it: the live room with its tokens, and how long each call took.
    pub async fn mint_room_timed(
        &self,
        n: usize,
        sub: &Submission,
    ) -> anyhow::Result<(PromoteResponse, MintTimes)> {
        self.mint_room_promoted(n, sub, &promote_body(false, false)).await
    }

    /// Like [`Api::mint_room_timed`], promoting with `promote` as the request body.
    async fn mint_room_promoted(
        &self,
        n: usize,
        sub: &Submission,
        promote: &Value,
    ) -> anyhow::Result<(PromoteResponse, MintTimes)> {
        let t0 = Instant::now();
        let created = self.post("/api/v1/submissions", &sub.body(n), 201).await?;
        let submit = t0.elapsed();
        let id = created["id"].as_str().context("submission id in response")?;
        let t1 = Instant::now();
        let promoted = self.post(&format!("/api/v1/submissions/{id}/promote"), promote, 200).await?;
        let promote = t1.elapsed();
        let room = serde_json::from_value(promoted).context("promote response shape")?;
        Ok((room, MintTimes { submit, promote }))
    }

    pub async fn mint_room(&self, n: usize, sub: &Submission) -> anyhow::Result<PromoteResponse> {
        Ok(self.mint_room_timed(n, sub).await?.0)
    }

    /// Mints `n` rooms, [`MINT_CONCURRENCY`] calls at a time, in order.
    pub async fn mint_rooms(&self, n: usize, sub: &Submission) -> anyhow::Result<Vec<PromoteResponse>> {
        self.mint_rooms_promoted(n, sub, &promote_body(false, false)).await
    }

    /// Like [`Api::mint_rooms`], promoting each with `promote` as the request body (see [`promote_body`]).
    pub async fn mint_rooms_promoted(
        &self,
        n: usize,
        sub: &Submission,
        promote: &Value,
    ) -> anyhow::Result<Vec<PromoteResponse>> {
        stream::iter(0..n)
            .map(|i| async move { Ok::<_, anyhow::Error>(self.mint_room_promoted(i, sub, promote).await?.0) })
            .buffered(MINT_CONCURRENCY)
            .try_collect()
            .await
            .context("minting rooms")
    }
}

/// The body of a promote: the load interviewer, and whether the room has voice and records it.
pub fn promote_body(voice: bool, record_voice: bool) -> Value {
    json!({"interviewer": {"name": "Load Interviewer"}, "voice": voice, "record_voice": record_voice})
}

/// The WebSocket URL of a room for a token, as a y-websocket provider builds it.
pub fn ws_url(room: &PromoteResponse, token: &str) -> String {
    format!("{}/{}?token={token}", room.ws_url.trim_end_matches('/'), room.room.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_submission_has_the_asked_size_and_the_typed_file_first() {
        let sub = Submission::large(200 * 1024, 50);
        assert_eq!(sub.files.len(), 50);
        assert_eq!(sub.files[0].path, TYPED_FILE);
        assert_eq!(sub.bytes(), 200 * 1024 / 50 * 50);
        let mut paths: Vec<_> = sub.files.iter().map(|f| &f.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 50, "paths are distinct");
        assert_eq!(sub, Submission::large(200 * 1024, 50), "deterministic");
    }
}
