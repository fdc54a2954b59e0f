//! The REST API's contract and its answers to bad input: every error is JSON with the right status.

mod common;

use common::{TestServer, file, sample_files, submission};
use handoff_protocol::limits::{MAX_FILE_BYTES, MAX_REQUEST_BYTES};
use reqwest::Method;
use serde_json::{Value, json};

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "status for {body}");
    assert_eq!(body["error"]["code"], want_code, "code in {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
}

#[tokio::test]
async fn submission_round_trips_with_events_integrity_and_scorecard() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let body = submission(&sample_files());
    let (status, created) = server.call(Method::POST, "/api/v1/submissions", Some(&body)).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    let (status, got) = server.call(Method::GET, &format!("/api/v1/submissions/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], id);
    for key in ["candidate", "exercise", "files", "events", "integrity"] {
        assert_eq!(got[key], body[key], "{key} is returned as stored");
    }
    // Scores are numbers: 3 and 3.0 are the same score.
    let card = |v: &Value| {
        serde_json::from_value::<handoff_protocol::api::Scorecard>(v["scorecard"].clone()).unwrap()
    };
    assert_eq!(card(&got), card(&body));
    assert!(got["room"].is_null(), "no room before promote");
    server.stop().await;
}

#[tokio::test]
async fn api_key_is_required_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("/api/v1/submissions");
    let body = submission(&sample_files());
    let none = server.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
    let v: Value = none.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unauthorized");
    let wrong = server.http.post(&url).bearer_auth("nope").json(&body).send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let wrong_get = server.http.get(server.url("/api/v1/rooms/x")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong_get.status().as_u16(), 401, "auth is checked before existence");
    server.stop().await;
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url("/api/v1/submissions");
    let resp = server
        .http
        .post(&url)
        .bearer_auth(&server.api_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, 400, "invalid_json");

    let (status, body) = server.call(Method::POST, "/api/v1/submissions", Some(&json!({"files": []}))).await;
    assert_error(status, &body, 400, "invalid_body");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("candidate"),
        "names the missing field: {body}"
    );

    for (path, code) in [("../etc/passwd", "invalid_path"), ("/abs.py", "invalid_path"), ("", "invalid_path")]
    {
        let (status, body) =
            server.call(Method::POST, "/api/v1/submissions", Some(&submission(&[file(path, "x")]))).await;
        assert_error(status, &body, 400, code);
    }
    let dup = submission(&[file("a.py", "1"), file("a.py", "2")]);
    let (status, body) = server.call(Method::POST, "/api/v1/submissions", Some(&dup)).await;
    assert_error(status, &body, 400, "duplicate_path");
    server.stop().await;
}

#[tokio::test]
async fn oversized_input_is_413_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let big = "x".repeat(MAX_FILE_BYTES + 1);
    let (status, body) =
        server.call(Method::POST, "/api/v1/submissions", Some(&submission(&[file("big.txt", &big)]))).await;
    assert_error(status, &body, 413, "file_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains(&MAX_FILE_BYTES.to_string()));

    let huge = "y".repeat(MAX_REQUEST_BYTES + 1);
    let (status, body) =
        server.call(Method::POST, "/api/v1/submissions", Some(&submission(&[file("huge.txt", &huge)]))).await;
    assert_error(status, &body, 413, "request_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains(&MAX_REQUEST_BYTES.to_string()));
    server.stop().await;
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, body) = server.call(Method::GET, "/api/v1/submissions/sub_missing", None).await;
    assert_error(status, &body, 404, "not_found");
    let promote = json!({"interviewer": {"name": "Ivy"}});
    let (status, body) =
        server.call(Method::POST, "/api/v1/submissions/sub_missing/promote", Some(&promote)).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = server.call(Method::GET, "/api/v1/rooms/room_missing", None).await;
    assert_error(status, &body, 404, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn promote_validates_its_body_and_reports_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let sub = server.submit(&sample_files()).await;
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/submissions/{sub}/promote"),
            Some(&json!({"interviewer": {"name": ""}})),
        )
        .await;
    assert_error(status, &body, 400, "invalid_field");
    let room = server.promote(&sub).await;
    let (status, view) = server.call(Method::GET, &format!("/api/v1/rooms/{}", room.room.id), None).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "live");
    assert_eq!(view["submission_id"], sub.as_str());
    assert_eq!(view["interviewer"], "Ivy Interviewer");
    assert_eq!(view["connected"], 0);
    // Links open the room in the browser, with the token out of the server's logs (URL fragment).
    assert!(room.links.candidate.starts_with(&format!("{}/room/{}#token=", server.base, room.room.id)));
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let health = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    server.stop().await;
}

#[tokio::test]
async fn the_async_session_replays_and_a_mismatch_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut body = submission(&[file("a.py", "print('hé')\n")]);
    body["events"] = json!([
        {"at_ms": 100, "kind": "edit", "file": "a.py", "offset": 0, "delete": 0, "insert": "print()\n"},
        {"at_ms": 900, "kind": "paste", "file": "a.py", "offset": 6, "length": 4, "text": "'hé'"}
    ]);
    let (status, created) = server.call(Method::POST, "/api/v1/submissions", Some(&body)).await;
    assert_eq!(status, 201);
    assert!(created.get("warnings").is_none(), "the replay reproduces the files: {created}");
    let id = created["id"].as_str().unwrap();
    let (status, at) =
        server.call(Method::GET, &format!("/api/v1/submissions/{id}/replay?at_ms=500"), None).await;
    assert_eq!((status, at["files"]["a.py"].as_str()), (200, Some("print()\n")));
    let (_, end) =
        server.call(Method::GET, &format!("/api/v1/submissions/{id}/replay?at_ms=1000"), None).await;
    assert_eq!(end["files"]["a.py"], "print('hé')\n");

    body["files"] = json!([{"path": "a.py", "content": "something else\n"}]);
    let (status, created) = server.call(Method::POST, "/api/v1/submissions", Some(&body)).await;
    assert_eq!(status, 201, "a mismatch does not reject the submission");
    assert_eq!(created["warnings"][0]["code"], "replay_mismatch");
    assert_eq!(created["warnings"][0]["files"], json!(["a.py"]));
    let (_, view) = server
        .call(Method::GET, &format!("/api/v1/submissions/{}", created["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(view["warnings"][0]["code"], "replay_mismatch");

    let mut plain = submission(&[file("b.py", "x")]);
    plain["events"] = json!([{"at_ms": 0, "kind": "focus_gained"}]);
    let (_, plain) = server.call(Method::POST, "/api/v1/submissions", Some(&plain)).await;
    let plain = plain["id"].as_str().unwrap();
    let (status, body) =
        server.call(Method::GET, &format!("/api/v1/submissions/{plain}/replay?at_ms=0"), None).await;
    assert_error(status, &body, 409, "no_edit_events");

    let mut ghost = submission(&[file("a.py", "x")]);
    ghost["events"] = json!([{"at_ms": 1, "kind": "paste", "file": "ghost.py", "length": 300}]);
    let (status, body) = server.call(Method::POST, "/api/v1/submissions", Some(&ghost)).await;
    assert_error(status, &body, 400, "invalid_event");
    server.stop().await;
}

/// Found by schemathesis (issue 23): rubric scores near `f64::MAX` were stored, and the list's total
/// overflowed to infinity, which JSON writes as `null` where the document (and the dashboard) read a
/// number. Scores out of the documented range are refused instead.
#[tokio::test]
async fn a_scorecard_whose_total_would_overflow_is_refused_and_totals_stay_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut body = submission(&sample_files());
    body["scorecard"] = json!({"rubric": [
        {"dimension": "a", "score": 1e308, "max": 1e308},
        {"dimension": "b", "score": 1e308, "max": 1e308},
    ]});
    let (status, answer) = server.call(Method::POST, "/api/v1/submissions", Some(&body)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_score");

    server.submit(&sample_files()).await;
    let (_, list) = server.call(Method::GET, "/api/v1/submissions", None).await;
    for item in list["submissions"].as_array().unwrap() {
        assert!(item["scorecard"]["score"].is_number() && item["scorecard"]["max"].is_number(), "{item}");
    }
    server.stop().await;
}

/// Found by schemathesis (issue 23): a room-scoped call racing the purge of its submission read the
/// room, then found its submission gone, and answered 500. Whichever comes first, the answer is the
/// room's data or 404, never a server error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn room_calls_racing_a_purge_answer_their_data_or_404_never_500() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let mut statuses = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let sub = server.submit(&sample_files()).await;
        let room = server.promote(&sub).await.room.id;
        let purge_path = format!("/api/v1/submissions/{sub}");
        let paths = ["session", "private", "questions", "integrity"]
            .map(|what| format!("/api/v1/rooms/{room}/{what}"));
        let purge = server.call(Method::DELETE, &purge_path, None);
        let reads = paths.iter().map(|path| server.call(Method::GET, path, None));
        let (purged, answers) = tokio::join!(purge, futures_util::future::join_all(reads));
        assert_eq!(purged.0, 204);
        statuses.extend(answers.into_iter().map(|(status, _)| status));
    }
    assert!(statuses.iter().all(|s| [200, 404].contains(s)), "statuses seen: {statuses:?}");
    server.stop().await;
}

/// Found by schemathesis: reopening an ended room while a promote opens a new room for the same
/// submission passed the "no other live room" check, then broke the store's one-live-room rule and
/// answered 500. Whichever wins, the other is answered plainly: the promote with the live room, the
/// reopen with 409 `submission_has_live_room`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reopen_racing_a_new_promote_answers_409_never_500() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let promote_body = serde_json::json!({"interviewer": {"name": "Ivy"}});
    for _ in 0..40 {
        let sub = server.submit(&sample_files()).await;
        let room = server.promote(&sub).await.room.id;
        let (ended, _) = server.call(Method::POST, &format!("/api/v1/rooms/{room}/end"), None).await;
        assert_eq!(ended, 200);
        let reopen_path = format!("/api/v1/rooms/{room}/reopen");
        let promote_path = format!("/api/v1/submissions/{sub}/promote");
        let reopen = server.call(Method::POST, &reopen_path, None);
        let promote = server.call(Method::POST, &promote_path, Some(&promote_body));
        let ((reopened, body), (promoted, _)) = tokio::join!(reopen, promote);
        assert_eq!(promoted, 200, "the promote opens a room or hands back the reopened one");
        match reopened {
            200 => {}
            409 => assert_eq!(body["error"]["code"], "submission_has_live_room", "{body}"),
            other => panic!("reopen answered {other}: {body}"),
        }
    }
    server.stop().await;
}
