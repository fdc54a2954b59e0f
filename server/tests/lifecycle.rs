//! Rooms end by themselves when idle, and the interviewer can reopen them within the window.

mod common;

use std::time::Duration;

use common::{PATIENCE, TestServer, YClient, file};
use reqwest::Method;
use serde_json::Value;

async fn status(server: &TestServer, room: &str) -> Value {
    server.call(Method::GET, &format!("/api/v1/rooms/{room}"), None).await.1
}

#[tokio::test]
async fn an_idle_room_ends_by_itself_and_the_interviewer_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.room_idle_end_s = 1;
    let server = TestServer::start_with(config).await;
    let room = server.room_with(&[file("main.py", "x = 1\n")]).await;
    let id = room.room.id.clone();
    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    cand.wait_synced().await;
    cand.insert("main.py", None, "y = 2\n").await;
    let mut ivy = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    ivy.wait_for("edit applied", |c| c.text("main.py").is_some_and(|t| t.contains("y = 2"))).await;
    drop((cand, ivy));

    let deadline = tokio::time::Instant::now() + PATIENCE;
    while status(&server, &id).await["status"] != "ended" {
        assert!(tokio::time::Instant::now() < deadline, "idle room never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(YClient::try_connect(&TestServer::ws(&room, &room.tokens.candidate)).await.err(), Some(403));
    let (code, _) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/reopen"), &room.tokens.candidate, None)
        .await;
    assert_eq!(code, 403, "only the interviewer reopens");

    let (code, body) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/reopen"), &room.tokens.interviewer, None)
        .await;
    assert_eq!((code, body["room"]["status"].as_str()), (200, Some("live")), "{body}");
    let mut back = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    back.wait_for("the reopened room has everything", |c| {
        c.text("main.py").as_deref() == Some("x = 1\ny = 2\n")
    })
    .await;
    back.insert("main.py", None, "z = 3\n").await;
    let mut ivy = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    ivy.wait_for("edits flow again", |c| c.text("main.py").is_some_and(|t| t.ends_with("z = 3\n"))).await;
    server.stop().await;
}

#[tokio::test]
async fn reopening_after_the_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.reopen_window_s = 0;
    let server = TestServer::start_with(config).await;
    let room = server.room_with(&[file("main.py", "x = 1\n")]).await;
    let id = room.room.id.clone();
    let (code, _) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/end"), &room.tokens.interviewer, None)
        .await;
    assert_eq!(code, 200);
    // The window is zero seconds: any later moment is past it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (code, body) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/reopen"), &room.tokens.interviewer, None)
        .await;
    assert_eq!((code, body["error"]["code"].as_str()), (409, Some("reopen_window_passed")), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn retention_purges_old_submissions_and_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.retention_s = 1;
    let server = TestServer::start_with(config).await;
    let done = server.room_with(&[file("a.py", "a\n")]).await;
    let (code, _) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{}/end", done.room.id), &done.tokens.interviewer, None)
        .await;
    assert_eq!(code, 200);
    let never_promoted = server.submit(&[file("b.py", "b\n")]).await;
    let live = server.room_with(&[file("c.py", "c\n")]).await;

    let gone = |path: String| {
        let server = &server;
        async move { server.call(Method::GET, &path, None).await.0 == 404 }
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !(gone(format!("/api/v1/rooms/{}", done.room.id)).await
        && gone(format!("/api/v1/submissions/{never_promoted}")).await)
    {
        assert!(tokio::time::Instant::now() < deadline, "expired submissions were not purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&server, &live.room.id).await["status"], "live", "a live room is never purged");
    server.stop().await;
}
