//! A room's whole life through the HTTP API and a Yjs client, which every store must serve alike
//! (`memory_store.rs` runs it on memory and SQLite, `postgres_store.rs` on PostgreSQL).

use std::time::Duration;

use handoff_protocol::frame::CLOSE_ROOM_ENDED;
use handoff_server::config::Config;
use reqwest::Method;
use serde_json::json;

use super::{PATIENCE, TestServer, YClient, file};

/// Submit → promote (twice: the same room) → edit over a WebSocket → notes → timeline → end → export →
/// evicted → reopen, rebuilt from the store with the edit → purge, after which the submission and room are
/// gone.
pub async fn a_room_from_submission_to_purge(mut config: Config) {
    config.room_idle_evict_s = 0;
    let server = TestServer::start_with(config).await;
    let sub = server.submit(&[file("main.py", "x = 1\n")]).await;
    let room = server.promote(&sub).await;
    let again = server.promote(&sub).await;
    assert_eq!(again.room.id, room.room.id, "promoting twice gives the same live room");
    let live = || async { server.running.state.store.count_live_rooms().await.unwrap() };
    assert_eq!(live().await, 1, "one live room (handoff_rooms_live)");
    let id = room.room.id.clone();
    let ivy_token = &room.tokens.interviewer;

    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    cand.wait_synced().await;
    assert_eq!(cand.text("main.py").as_deref(), Some("x = 1\n"), "the room is preloaded");
    cand.insert("main.py", None, "y = 2\n").await;
    let mut ivy = YClient::connect(&TestServer::ws(&again, &again.tokens.interviewer)).await;
    ivy.wait_for("the candidate's edit", |c| c.text("main.py").as_deref() == Some("x = 1\ny = 2\n")).await;
    let notes = json!({"notes": "explained the cache"});
    let (status, _) =
        server.call_as(Method::PUT, &format!("/api/v1/rooms/{id}/notes"), ivy_token, Some(&notes)).await;
    assert_eq!(status, 204);

    let timeline_path = format!("/api/v1/rooms/{id}/timeline");
    // Joins are recorded off the room's task, so wait for the candidate's to land.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let timeline = loop {
        let (status, timeline) = server.call_as(Method::GET, &timeline_path, ivy_token, None).await;
        assert_eq!(status, 200, "{timeline}");
        let presence = timeline["presence"].as_array().unwrap();
        if presence.iter().any(|p| p["name"] == "Cam Candidate" && p["kind"] == "join") {
            break timeline;
        }
        assert!(tokio::time::Instant::now() < deadline, "the candidate's join never showed: {timeline}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let edits = timeline["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{timeline}");
    assert_eq!(
        (edits[0]["author"].as_str(), edits[0]["source"].as_str(), edits[0]["inserted"].as_str()),
        (Some("Cam Candidate"), Some("candidate"), Some("y = 2\n"))
    );

    let (status, ended) =
        server.call_as(Method::POST, &format!("/api/v1/rooms/{id}/end"), ivy_token, None).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(cand.wait_closed().await.0, CLOSE_ROOM_ENDED, "ending closes the clients");
    assert_eq!(live().await, 0, "an ended room is not live");
    let (status, export) = server.call(Method::GET, &format!("/api/v1/rooms/{id}/export"), None).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["room"]["status"], "ended");
    let main = export["files"].as_array().unwrap().iter().find(|f| f["path"] == "main.py").unwrap();
    assert_eq!(
        (main["content"].as_str(), main["change"].as_str()),
        (Some("x = 1\ny = 2\n"), Some("modified"))
    );
    assert_eq!(export["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(export["notes"], "explained the cache");

    // The emptied room is evicted at once (idle evict 0 s); rejoining after the reopen rebuilds it from
    // the store's snapshot and log.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while server.running.state.rooms.loaded() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the ended room was never evicted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, reopened) =
        server.call_as(Method::POST, &format!("/api/v1/rooms/{id}/reopen"), ivy_token, None).await;
    assert_eq!((status, reopened["room"]["status"].as_str()), (200, Some("live")), "{reopened}");
    let mut back = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    back.wait_for("the reopened room loads with the edit", |c| {
        c.text("main.py").as_deref() == Some("x = 1\ny = 2\n")
    })
    .await;
    let (_, listed) = server.call(Method::GET, "/api/v1/submissions", None).await;
    let item = listed["submissions"].as_array().unwrap().iter().find(|s| s["id"] == sub.as_str()).unwrap();
    assert_eq!(
        (item["room"]["id"].as_str(), item["room"]["status"].as_str()),
        (Some(id.as_str()), Some("live"))
    );

    let (status, body) = server.call(Method::DELETE, &format!("/api/v1/submissions/{sub}"), None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(back.wait_closed().await.0, CLOSE_ROOM_ENDED, "purging closes the clients");
    assert_eq!(server.call(Method::GET, &format!("/api/v1/submissions/{sub}"), None).await.0, 404);
    assert_eq!(server.call(Method::GET, &format!("/api/v1/rooms/{id}"), None).await.0, 404);
    assert_eq!(YClient::try_connect(&TestServer::ws(&room, &room.tokens.candidate)).await.err(), Some(404));
    server.stop().await;
}
