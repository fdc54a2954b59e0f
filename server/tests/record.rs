//! The session record through the API: attributed timeline, files at a moment, and the export after
//! the interview ends (final files, diff against the submission, authorship, notes).

mod common;

use common::{TestServer, YClient, file};
use reqwest::Method;
use serde_json::{Value, json};

async fn get(server: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let resp = server.http.get(server.url(path)).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn export_after_end_has_diff_authorship_and_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room =
        server.room_with(&[file("main.py", "def f():\n    pass\n"), file("README.md", "notes\n")]).await;
    let id = room.room.id.clone();
    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut ivy = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    cand.wait_synced().await;
    ivy.wait_synced().await;

    cand.insert("main.py", None, "print(f())\n").await;
    ivy.wait_for("interviewer sees the candidate", |c| c.text("main.py").unwrap().contains("print")).await;
    ivy.insert("main.py", Some(0), "# reviewed\n").await;
    cand.wait_for("candidate sees the interviewer", |c| c.text("main.py").unwrap().starts_with("# reviewed"))
        .await;
    ivy.insert("extra.py", None, "x = 1\n").await;
    cand.wait_for("new file arrives", |c| c.text("extra.py").is_some()).await;

    // Only the interviewer (or the integrator) reads the record.
    let (status, _) = get(&server, &format!("/api/v1/rooms/{id}/timeline"), &room.tokens.candidate).await;
    assert_eq!(status, 403);

    let (status, tl) = get(&server, &format!("/api/v1/rooms/{id}/timeline"), &room.tokens.interviewer).await;
    assert_eq!(status, 200, "{tl}");
    let edits = tl["edits"].as_array().unwrap();
    let by: Vec<(&str, &str, &str)> = edits
        .iter()
        .map(|e| {
            (e["author"].as_str().unwrap(), e["source"].as_str().unwrap(), e["inserted"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        by,
        vec![
            ("Cam Candidate", "candidate", "print(f())\n"),
            ("Ivy Interviewer", "interviewer", "# reviewed\n"),
            ("Ivy Interviewer", "interviewer", "x = 1\n"),
        ]
    );

    let (_, at0) =
        get(&server, &format!("/api/v1/rooms/{id}/replay?at_ms=0"), &room.tokens.interviewer).await;
    assert_eq!(at0["files"], json!({"main.py": "def f():\n    pass\n", "README.md": "notes\n"}));

    let (status, _) = server
        .http
        .request(Method::POST, server.url(&format!("/api/v1/rooms/{id}/end")))
        .bearer_auth(&room.tokens.interviewer)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);

    let (status, export) = server.call(Method::GET, &format!("/api/v1/rooms/{id}/export"), None).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["room"]["status"], "ended");
    let files = export["files"].as_array().unwrap();
    let main = files.iter().find(|f| f["path"] == "main.py").unwrap();
    assert_eq!(main["content"], "# reviewed\ndef f():\n    pass\nprint(f())\n");
    assert_eq!(main["change"], "modified");
    let diff = main["diff"].as_str().unwrap();
    assert!(diff.contains("+# reviewed") && diff.contains("+print(f())"), "{diff}");
    let sources: Vec<&str> =
        main["authorship"].as_array().unwrap().iter().map(|a| a["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["interviewer", "submission", "candidate"]);
    let readme = files.iter().find(|f| f["path"] == "README.md").unwrap();
    assert_eq!((readme["change"].as_str(), readme["diff"].as_str()), (Some("unchanged"), Some("")));
    let extra = files.iter().find(|f| f["path"] == "extra.py").unwrap();
    assert_eq!(extra["change"], "added");
    assert_eq!(export["timeline"].as_array().unwrap().len(), 3);
    server.stop().await;
}
