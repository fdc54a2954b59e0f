//! The interview report through the API: a real room is edited, noted, scored and ended; the report
//! names who took part, shows the diff coloured by author, the notes, the scores' cited moments in words,
//! the async signals explained and the condensed timeline; the export carries the same facts as JSON.

mod common;

use common::{TestServer, YClient, file};
use reqwest::Method;
use serde_json::{Value, json};

const LRU: &str = "class LRU:\n    def put(self, k, v):\n        pass\n";

/// The report page as the given bearer sees it: status, content type and body.
async fn report(server: &TestServer, id: &str, token: &str) -> (u16, String, String) {
    let resp = server
        .http
        .get(server.url(&format!("/api/v1/rooms/{id}/report")))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let kind =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, kind, resp.text().await.unwrap_or_default())
}

/// The export once every join has its leave (presence is recorded off the room's task, so polled).
async fn export_after_leaves(server: &TestServer, id: &str, joins: usize) -> Value {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let (status, export) = server.call(Method::GET, &format!("/api/v1/rooms/{id}/export"), None).await;
        assert_eq!(status, 200, "{export}");
        let leaves = export["presence"].as_array().unwrap().iter().filter(|p| p["kind"] == "leave").count();
        if leaves >= joins || tokio::time::Instant::now() > deadline {
            return export;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn report_after_end_reads_as_the_interview_happened() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("lru.py", LRU)]).await;
    let id = room.room.id.clone();
    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut ivy = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    cand.wait_synced().await;
    ivy.wait_synced().await;

    cand.insert("lru.py", None, "        self.d[k] = v\n").await;
    ivy.wait_for("interviewer sees the edit", |c| c.text("lru.py").unwrap().contains("self.d")).await;

    let (_, tl) = server.call(Method::GET, &format!("/api/v1/rooms/{id}/timeline"), None).await;
    let seq = tl["edits"][0]["seq"].as_u64().unwrap();
    let notes = json!({"notes": "Asked about <eviction> & O(1) lookups"});
    let (status, _) = server
        .call_as(Method::PUT, &format!("/api/v1/rooms/{id}/notes"), &room.tokens.interviewer, Some(&notes))
        .await;
    assert_eq!(status, 204);
    let scores = json!({"scores": [{"dimension": "Correctness", "score": 3, "max": 4,
        "evidence": [{"seq": seq, "note": "stores the value"}]}]});
    let (status, _) = server
        .call_as(Method::PUT, &format!("/api/v1/rooms/{id}/scores"), &room.tokens.interviewer, Some(&scores))
        .await;
    assert_eq!(status, 204);

    // The candidate may not read the report, live or ended.
    let (status, _, _) = report(&server, &id, &room.tokens.candidate).await;
    assert_eq!(status, 403);

    let (status, _) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/end"), &room.tokens.interviewer, None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = report(&server, &id, &room.tokens.candidate).await;
    assert_eq!(status, 403);

    let export = export_after_leaves(&server, &id, 2).await;
    let started = export["started_at_ms"].as_u64().unwrap();
    let ended = export["ended_at_ms"].as_u64().unwrap();
    assert_eq!(export["duration_ms"].as_u64(), Some(ended - started));
    let joins: Vec<&str> = export["presence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "join")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(joins.len(), 2, "{joins:?}");
    let runs = export["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        (runs[0]["author"].as_str(), runs[0]["within"].as_str()),
        (Some("Cam Candidate"), Some("put()"))
    );
    assert_eq!(runs[0]["lines"], json!([4, 4]));
    assert_eq!(export["timeline"].as_array().unwrap().len(), 1, "raw edits stay for machines");

    // The interviewer's token and the API key both read the report.
    let (status, _, _) = report(&server, &id, &room.tokens.interviewer).await;
    assert_eq!(status, 200);
    let (status, kind, page) = report(&server, &id, &server.api_key).await;
    assert_eq!(status, 200, "{page}");
    assert!(kind.starts_with("text/html"), "{kind}");
    for expected in [
        // Who, what, when.
        "Interview report: Cam Candidate",
        "LRU cache (python)",
        "Ivy Interviewer",
        "<dt>Duration</dt>",
        // Who took part.
        "<td>Cam Candidate</td><td>candidate</td>",
        "<td>Ivy Interviewer</td><td>interviewer</td>",
        // The diff, coloured by its author: the candidate is the first (and only) person who changed it,
        // named with their role in the legend.
        "<span class=\"by-p0\">Cam Candidate (candidate)</span>",
        "<tr class=\"add by-p0\"><td class=\"n\">4</td><td class=\"code\">+        self.d[k] = v</td>",
        // Notes, escaped.
        "Asked about &lt;eviction&gt; &amp; O(1) lookups",
        // A score's cited moment in words.
        "the candidate added to <code>put()</code> in lru.py, line 4: “stores the value”",
        // The async context, explained (the submission's one edit event inserted the whole file).
        "Inserted at once",
        "It says nothing about typing speed.",
        // The condensed timeline: the join and the run.
        "Cam Candidate (candidate) joined",
        "the candidate added to <code>put()</code> in lru.py, line 4 (1 edit, +22 −0 characters)",
    ] {
        assert!(page.contains(expected), "report lacks {expected:?}:\n{page}");
    }
    // Self-contained: no script, and nothing fetched that the CSP would refuse.
    for loads in ["<script", " src=", "<link", "url("] {
        assert!(!page.contains(loads), "the report holds {loads:?}");
    }
    server.stop().await;
}
