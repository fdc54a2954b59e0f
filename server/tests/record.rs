//! The session record through the API: attributed timeline, files at a moment, and the export after
//! the interview ends (final files, diff against the submission, authorship, notes).

mod common;

use common::{TestServer, YClient, file};
use reqwest::Method;
use serde_json::{Value, json};

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
    let (status, _) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/timeline"), &room.tokens.candidate, None)
        .await;
    assert_eq!(status, 403);

    let (status, tl) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/timeline"), &room.tokens.interviewer, None)
        .await;
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

    let (_, at0) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/replay?at_ms=0"), &room.tokens.interviewer, None)
        .await;
    assert_eq!(at0["files"], json!({"main.py": "def f():\n    pass\n", "README.md": "notes\n"}));

    let (status, _) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/end"), &room.tokens.interviewer, None)
        .await;
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

    // Ending the room closed both clients: each join has its leave (recorded off the room's task, so
    // polled).
    let path = format!("/api/v1/rooms/{id}/timeline");
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    let kinds = loop {
        let (_, tl) = server.call(Method::GET, &path, None).await;
        let kinds: Vec<String> = tl["presence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["kind"].as_str().unwrap().to_owned())
            .collect();
        if kinds.iter().filter(|k| *k == "leave").count() >= 2 || tokio::time::Instant::now() > deadline {
            break kinds;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(kinds.iter().filter(|k| *k == "join").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "leave").count(), 2, "{kinds:?}");
    server.stop().await;
}

#[tokio::test]
async fn live_scores_are_interviewer_only_validated_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "x = 1\n")]).await;
    let id = &room.room.id;
    let (srv, path) = (&server, format!("/api/v1/rooms/{id}/scores"));
    let put = |token: String, body: Value| {
        let path = path.clone();
        async move { srv.call_as(Method::PUT, &path, &token, Some(&body)).await.0 }
    };
    let scores = json!({"scores": [{"dimension": "Explains trade-offs", "score": 3, "max": 4,
        "evidence": [{"seq": 2, "note": "walked through eviction"}, {"async_at_ms": 5000, "note": "the paste"}]}]});
    assert_eq!(put(room.tokens.candidate.clone(), scores.clone()).await, 403);
    assert_eq!(
        put(room.tokens.interviewer.clone(), json!({"scores": [{"dimension": "x", "score": 5, "max": 4}]}))
            .await,
        400
    );
    assert_eq!(put(room.tokens.interviewer.clone(), scores.clone()).await, 204);

    let (_, panel) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/private"), &room.tokens.interviewer, None)
        .await;
    assert_eq!(panel["live_scores"][0]["dimension"], "Explains trade-offs");
    assert_eq!(panel["live_scores"][0]["evidence"][1]["async_at_ms"], 5000);
    let (_, export) = server.call(Method::GET, &format!("/api/v1/rooms/{id}/export"), None).await;
    assert_eq!(export["live_scores"][0]["score"], 3.0);
    server.stop().await;
}

#[tokio::test]
async fn purging_a_submission_leaves_no_rows_behind() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let keep = server.room_with(&[file("keep.py", "kept\n")]).await;
    let sub = server.submit(&[file("main.py", "x = 1\n")]).await;
    let room = server.promote(&sub).await;
    let id = room.room.id.clone();
    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    cand.wait_synced().await;
    cand.insert("main.py", None, "secret = 42\n").await;
    let mut ivy = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    ivy.wait_for("edit applied", |c| c.text("main.py").is_some_and(|t| t.contains("secret"))).await;
    let notes = json!({"notes": "private"});
    let (status, _) = server
        .call_as(Method::PUT, &format!("/api/v1/rooms/{id}/notes"), &room.tokens.interviewer, Some(&notes))
        .await;
    assert_eq!(status, 204);

    let (status, body) = server.call(Method::DELETE, &format!("/api/v1/submissions/{sub}"), None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        cand.wait_closed().await.0,
        handoff_protocol::frame::CLOSE_ROOM_ENDED,
        "live clients are closed"
    );
    let (status, _) = server.call(Method::GET, &format!("/api/v1/submissions/{sub}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = server.call(Method::GET, &format!("/api/v1/rooms/{id}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(YClient::try_connect(&TestServer::ws(&room, &room.tokens.candidate)).await.err(), Some(404));
    let (status, _) = server.call(Method::DELETE, &format!("/api/v1/submissions/{sub}"), None).await;
    assert_eq!(status, 404, "purging twice finds nothing");
    server.stop().await;

    // Look in the database itself: nothing mentions the purged submission or room; the other one stays.
    let db = rusqlite::Connection::open(dir.path().join("handoff.db")).unwrap();
    let count = |sql: &str, key: &str| -> i64 { db.query_row(sql, [key], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM submissions WHERE id = ?1", &sub), 0);
    assert_eq!(count("SELECT COUNT(*) FROM rooms WHERE submission_id = ?1", &sub), 0);
    for table in [
        "room_log",
        "room_log_recent",
        "room_snapshots",
        "room_notes",
        "room_scores",
        "room_presence",
        "webhook_deliveries",
    ] {
        assert_eq!(count(&format!("SELECT COUNT(*) FROM {table} WHERE room_id = ?1"), &id), 0, "{table}");
    }
    let body_mentions: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM (SELECT update_v1 FROM room_log UNION ALL SELECT update_v1 FROM room_log_recent)
              WHERE instr(CAST(update_v1 AS TEXT), 'secret') > 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(body_mentions, 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM rooms WHERE id = ?1", &keep.room.id),
        1,
        "other rooms are untouched"
    );
}
