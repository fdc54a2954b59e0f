//! The calls behind the dashboard and the room page: listing, the room session, the interviewer-only
//! panel (enforced on the server), private notes, ending a room, the dashboard link, the sample
//! submission and the web client's static files.

mod common;

use common::{TestServer, YClient, metric, sample_files, submission};
use handoff_protocol::frame::CLOSE_ROOM_ENDED;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn list_shows_counts_and_accepts_the_dashboard_link() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut body = submission(&sample_files());
    body["events"] = json!([
        {"at_ms": 0, "kind": "focus_lost"}, {"at_ms": 30000, "kind": "focus_gained"},
        {"at_ms": 31000, "kind": "paste", "file": "main.py", "length": 400}
    ]);
    let (_, created) = server.call(Method::POST, "/api/v1/submissions", Some(&body)).await;
    let id = created["id"].as_str().unwrap().to_owned();
    server.promote(&id).await;

    let dashboard = server.running.dashboard_link.split("#dashboard=").nth(1).unwrap().to_owned();
    let (status, list) = server.call_as(Method::GET, "/api/v1/submissions", &dashboard, None).await;
    assert_eq!(status, 200, "{list}");
    let row = &list["submissions"][0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["file_count"], 3);
    assert_eq!(row["integrity_flags"], 2, "a focus loss and a large paste");
    assert_eq!(row["scorecard"]["score"], 3.0);
    assert_eq!(row["scorecard"]["max"], 4.0);
    assert_eq!(row["room"]["status"], "live");

    let (_, detail) = server.call(Method::GET, &format!("/api/v1/submissions/{id}"), None).await;
    assert_eq!(detail["integrity_summary"]["pastes"]["largest"], 400);
    assert_eq!(detail["integrity_summary"]["focus"]["away_ms"], 30000);

    let (status, _) =
        server.call_as(Method::GET, "/api/v1/submissions", "forged.dashboard.token", None).await;
    assert_eq!(status, 401);
    server.stop().await;
}

#[tokio::test]
async fn interviewer_private_data_never_reaches_other_roles() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let id = &room.room.id;

    let (status, session) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/session"), &room.tokens.candidate, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(session["you"]["role"], "candidate");
    assert_eq!(session["submission_files"].as_array().unwrap().len(), 3);
    let text = session.to_string();
    for private in ["correctness", "handles eviction", "paste_count", "scorecard", "integrity", "events"] {
        assert!(!text.contains(private), "the candidate's session must not mention {private}: {text}");
    }

    let (status, notes) = server
        .call_as(
            Method::PUT,
            &format!("/api/v1/rooms/{id}/notes"),
            &room.tokens.interviewer,
            Some(&json!({"notes": "ask about the eviction order"})),
        )
        .await;
    assert_eq!(status, 204, "{notes}");
    let (status, panel) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/private"), &room.tokens.interviewer, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(panel["notes"], "ask about the eviction order");
    assert_eq!(panel["scorecard"]["rubric"][0]["dimension"], "correctness");
    assert!(panel["integrity_summary"]["flags"].is_array());

    for token in [&room.tokens.candidate, &room.tokens.observer] {
        let (status, body) =
            server.call_as(Method::GET, &format!("/api/v1/rooms/{id}/private"), token, None).await;
        assert_eq!(status, 403, "{body}");
        assert!(!body.to_string().contains("eviction order"));
        let (status, _) = server
            .call_as(
                Method::PUT,
                &format!("/api/v1/rooms/{id}/notes"),
                token,
                Some(&json!({"notes": "overwritten"})),
            )
            .await;
        assert_eq!(status, 403);
    }
    let other = server.room_with(&sample_files()).await;
    let (status, _) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/private"), &other.tokens.interviewer, None)
        .await;
    assert_eq!(status, 403, "another room's interviewer");
    let (status, _) = server
        .http
        .get(server.url(&format!("/api/v1/rooms/{id}/private")))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401);

    let big = "n".repeat(handoff_protocol::limits::MAX_NOTES_BYTES + 1);
    let (status, body) = server
        .call_as(
            Method::PUT,
            &format!("/api/v1/rooms/{id}/notes"),
            &room.tokens.interviewer,
            Some(&json!({"notes": big})),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("notes_too_large")));
    server.stop().await;
}

#[tokio::test]
async fn ending_a_room_closes_clients_and_revokes_candidate_and_observer() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let id = room.room.id.clone();
    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut obs = YClient::connect(&TestServer::ws(&room, &room.tokens.observer)).await;
    cand.wait_synced().await;
    obs.wait_synced().await;

    let (status, _) =
        server.call_as(Method::POST, &format!("/api/v1/rooms/{id}/end"), &room.tokens.candidate, None).await;
    assert_eq!(status, 403, "a candidate cannot end the interview");

    let (status, ended) = server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/end"), &room.tokens.interviewer, None)
        .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["room"]["status"], "ended");
    assert_eq!(cand.wait_closed().await.0, CLOSE_ROOM_ENDED);
    assert_eq!(obs.wait_closed().await.0, CLOSE_ROOM_ENDED);

    assert_eq!(YClient::try_connect(&TestServer::ws(&room, &room.tokens.candidate)).await.err(), Some(403));
    let (status, body) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/session"), &room.tokens.candidate, None)
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("room_ended")));
    let (status, body) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{id}/session"), &room.tokens.interviewer, None)
        .await;
    assert_eq!(
        (status, body["room"]["status"].as_str()),
        (200, Some("ended")),
        "the interviewer keeps access"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_api_routes_are_json_and_pages_fall_back_to_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web");
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>app shell</title>").unwrap();
    std::fs::write(web.join("assets/app.js"), "console.log('app')").unwrap();
    let mut config = common::config(&dir.path().join("data"));
    config.web_dir = Some(web);
    let server = TestServer::start_with(config).await;

    let (status, body) = server.call(Method::GET, "/api/v1/nope", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    for page in ["/", "/room/room_abc"] {
        let text = server.http.get(server.url(page)).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("app shell"), "{page} serves the app: {text}");
    }
    let js = server.http.get(server.url("/assets/app.js")).send().await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().contains("javascript"));
    server.stop().await;
}

#[tokio::test]
async fn development_mode_seeds_the_sample_submission_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.api_key = None;
    let server = TestServer::start_with(config.clone()).await;
    assert!(server.running.api_key_generated);
    let (status, list) = server.call(Method::GET, "/api/v1/submissions", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["submissions"].as_array().unwrap().len(), 1);
    assert_eq!(list["submissions"][0]["exercise"]["title"], "LRU cache (sample)");
    server.stop().await;
    let server = TestServer::start_with(config).await;
    let (_, list) = server.call(Method::GET, "/api/v1/submissions", None).await;
    assert_eq!(list["submissions"].as_array().unwrap().len(), 1, "not seeded twice");
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_connections_updates_and_commits() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut a = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut b = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    a.wait_synced().await;
    b.wait_synced().await;
    a.insert("main.py", Some(0), "# metered\n").await;
    b.wait_for("edit arrives", |c| c.text("main.py").is_some_and(|t| t.starts_with("# metered"))).await;
    // The timeline read commits the room's pending edits, so a commit has been timed.
    let (status, _) = server
        .call_as(
            Method::GET,
            &format!("/api/v1/rooms/{}/timeline", room.room.id),
            &room.tokens.interviewer,
            None,
        )
        .await;
    assert_eq!(status, 200);

    let page = server.metrics_page().await;
    // Metrics are process-wide and other tests run alongside: lower bounds only.
    assert!(metric(&page, "handoff_connections") >= 2.0);
    assert!(metric(&page, "handoff_rooms_loaded") >= 1.0);
    assert!(metric(&page, "handoff_rooms_live") >= 1.0);
    assert!(metric(&page, "handoff_updates_in_total") >= 1.0);
    assert!(metric(&page, "handoff_updates_out_total") >= 1.0, "the edit went out to the other client");
    assert!(metric(&page, "handoff_frames_out_total") >= 1.0);
    assert!(metric(&page, "handoff_bytes_in_total") > 0.0);
    assert!(metric(&page, "handoff_store_commit_seconds_count") >= 1.0);
    assert!(metric(&page, "handoff_room_load_seconds_count") >= 1.0);
    assert!(page.contains("handoff_slow_consumer_disconnects_total"));
    server.stop().await;
}
