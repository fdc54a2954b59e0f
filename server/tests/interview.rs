//! The interview around the editor over the API (issue 20): where a room stands after End, promoting a
//! submission whose room ended, the brief and the clock in the session, questions pushed to the room,
//! and the candidate's notes on the integrity signals — each call held to its roles.

mod common;

use common::{TestServer, YClient, sample_files, submission};
use reqwest::Method;
use serde_json::{Value, json};

/// A submission with a brief and two integrity signals (a focus loss, a large paste); its id.
async fn submit(server: &TestServer) -> String {
    let mut body = submission(&sample_files());
    body["exercise"]["brief"] = json!("# LRU cache\n\nImplement `get` and `put`.");
    body["events"] = json!([
        {"at_ms": 0, "kind": "focus_lost"}, {"at_ms": 30000, "kind": "focus_gained"},
        {"at_ms": 31000, "kind": "paste", "file": "main.py", "length": 400}
    ]);
    let (status, created) = server.call(Method::POST, "/api/v1/submissions", Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn promote(server: &TestServer, sub: &str, body: Value) -> Value {
    let (status, answer) =
        server.call(Method::POST, &format!("/api/v1/submissions/{sub}/promote"), Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

fn token(promoted: &Value, role: &str) -> String {
    promoted["tokens"][role].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_ended_room_keeps_its_status_and_promote_says_whether_it_reopened_or_opened_anew() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let sub = submit(&server).await;
    let (_, view) = server.call(Method::GET, &format!("/api/v1/submissions/{sub}"), None).await;
    assert!(view.get("room").is_none(), "not promoted yet: {view}");

    let who = json!({"interviewer": {"name": "Ivy"}});
    let first = promote(&server, &sub, who.clone()).await;
    assert_eq!(first["outcome"], "opened");
    assert_eq!(promote(&server, &sub, who.clone()).await["outcome"], "live", "the live room is kept");
    let room = first["room"]["id"].as_str().unwrap().to_owned();
    let interviewer = token(&first, "interviewer");
    let (status, _) =
        server.call_as(Method::POST, &format!("/api/v1/rooms/{room}/end"), &interviewer, None).await;
    assert_eq!(status, 200);

    let (_, view) = server.call(Method::GET, &format!("/api/v1/submissions/{sub}"), None).await;
    assert_eq!(view["room"]["id"], room.as_str(), "the ended room is shown: {view}");
    assert_eq!(view["room"]["status"], "ended");
    let ended = view["room"]["ended_at_ms"].as_u64().expect("when it ended");
    let until = view["room"]["reopen_until_ms"].as_u64().expect("until when it may be reopened");
    assert_eq!(until - ended, server.running.state.lifecycle.reopen_window.as_millis() as u64);
    let (_, list) = server.call(Method::GET, "/api/v1/submissions", None).await;
    assert_eq!(list["submissions"][0]["room"]["reopen_until_ms"], until, "the list says the same");

    let reopened =
        promote(&server, &sub, json!({"interviewer": {"name": "Ivy"}, "on_ended": "reopen"})).await;
    assert_eq!(
        (reopened["outcome"].as_str(), reopened["room"]["id"].as_str()),
        (Some("reopened"), Some(room.as_str()))
    );
    let (_, view) = server.call(Method::GET, &format!("/api/v1/submissions/{sub}"), None).await;
    assert_eq!(view["room"]["status"], "live");
    assert!(view["room"].get("reopen_until_ms").is_none(), "a live room has no reopen deadline: {view}");

    server.call_as(Method::POST, &format!("/api/v1/rooms/{room}/end"), &interviewer, None).await;
    // A client that says nothing gets what it always got: a new follow-up room.
    let again = promote(&server, &sub, who).await;
    assert_eq!(again["outcome"], "opened");
    assert_ne!(again["room"]["id"], room.as_str());
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/submissions/{sub}/promote"),
            Some(&json!({"interviewer": {"name": "I"}, "on_ended": "sometimes"})),
        )
        .await;
    assert_eq!(status, 400, "an unknown on_ended is refused: {body}");
    server.stop().await;
}

#[tokio::test]
async fn the_session_carries_the_brief_the_start_and_the_planned_length() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let sub = submit(&server).await;
    let promoted = promote(&server, &sub, json!({"interviewer": {"name": "Ivy"}, "duration_min": 45})).await;
    let room = promoted["room"]["id"].as_str().unwrap();
    let (status, session) = server
        .call_as(Method::GET, &format!("/api/v1/rooms/{room}/session"), &token(&promoted, "candidate"), None)
        .await;
    assert_eq!(status, 200, "{session}");
    assert!(session["exercise"]["brief"].as_str().unwrap().starts_with("# LRU cache"));
    assert_eq!(session["duration_min"], 45);
    assert_eq!(session["voice"], false);
    let started = session["state"]["started_at_ms"].as_u64().unwrap();
    assert!(session["now_ms"].as_u64().unwrap() >= started, "{session}");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/v1/submissions/{sub}/promote"),
            Some(&json!({"interviewer": {"name": "I"}, "duration_min": 0})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_interviewer_pushes_questions_that_every_member_receives_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let promoted = server.room_with(&sample_files()).await;
    let id = &promoted.room.id;
    let path = format!("/api/v1/rooms/{id}/questions");
    let mut cand =
        YClient::connect(&format!("{}&ext=events", TestServer::ws(&promoted, &promoted.tokens.candidate)))
            .await;
    cand.wait_synced().await;

    for (i, text) in ["Why a dict and a list?", "What does put() cost?"].iter().enumerate() {
        let (status, q) = server
            .call_as(Method::POST, &path, &promoted.tokens.interviewer, Some(&json!({"text": text})))
            .await;
        assert_eq!((status, q["n"].as_u64()), (201, Some(i as u64 + 1)), "{q}");
    }
    cand.wait_for("both questions as room events", |c| c.extension_messages >= 2).await;
    for token in [&promoted.tokens.candidate, &promoted.tokens.observer] {
        let (status, body) = server.call_as(Method::POST, &path, token, Some(&json!({"text": "mine"}))).await;
        assert_eq!(status, 403, "only the interviewer pushes questions: {body}");
        let (status, list) = server.call_as(Method::GET, &path, token, None).await;
        assert_eq!(status, 200);
        let texts: Vec<&str> =
            list["questions"].as_array().unwrap().iter().map(|q| q["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["Why a dict and a list?", "What does put() cost?"], "in order, for everyone");
    }
    let (status, body) =
        server.call_as(Method::POST, &path, &promoted.tokens.interviewer, Some(&json!({"text": " "}))).await;
    assert_eq!(status, 400, "{body}");
    let long = "q".repeat(handoff_protocol::limits::MAX_QUESTION_CHARS + 1);
    let (status, body) =
        server.call_as(Method::POST, &path, &promoted.tokens.interviewer, Some(&json!({"text": long}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("question_too_large")));

    server
        .call_as(Method::POST, &format!("/api/v1/rooms/{id}/end"), &promoted.tokens.interviewer, None)
        .await;
    let (status, _) = server
        .call_as(Method::POST, &path, &promoted.tokens.interviewer, Some(&json!({"text": "late"})))
        .await;
    assert_eq!(status, 409, "no questions after End");
    let (status, list) = server.call_as(Method::GET, &path, &promoted.tokens.interviewer, None).await;
    assert_eq!((status, list["questions"].as_array().map(Vec::len)), (200, Some(2)), "the review keeps them");
    let (status, _) = server.call_as(Method::GET, &path, &promoted.tokens.candidate, None).await;
    assert_eq!(status, 403, "an ended room's candidate link reads nothing");
    server.stop().await;
}

#[tokio::test]
async fn the_candidate_notes_the_integrity_signals_only_where_promote_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let sub = submit(&server).await;
    let hidden = promote(&server, &sub, json!({"interviewer": {"name": "Ivy"}})).await;
    let hidden_room = hidden["room"]["id"].as_str().unwrap();
    let (status, _) = server
        .call_as(
            Method::GET,
            &format!("/api/v1/rooms/{hidden_room}/integrity"),
            &token(&hidden, "candidate"),
            None,
        )
        .await;
    assert_eq!(status, 403, "off by default");
    server
        .call_as(
            Method::POST,
            &format!("/api/v1/rooms/{hidden_room}/end"),
            &token(&hidden, "interviewer"),
            None,
        )
        .await;

    let shown =
        promote(&server, &sub, json!({"interviewer": {"name": "Ivy"}, "candidate_sees_integrity": true}))
            .await;
    let room = shown["room"]["id"].as_str().unwrap();
    let (candidate, interviewer, observer) =
        (token(&shown, "candidate"), token(&shown, "interviewer"), token(&shown, "observer"));
    let (status, seen) =
        server.call_as(Method::GET, &format!("/api/v1/rooms/{room}/integrity"), &candidate, None).await;
    assert_eq!(status, 200, "{seen}");
    let paste = seen["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "paste")
        .expect("the paste flag")
        .clone();
    assert!(paste["detail"].as_str().is_some_and(|d| !d.is_empty()), "in the same plain words: {paste}");

    let notes = format!("/api/v1/rooms/{room}/integrity/notes");
    let note = json!({"kind": "paste", "at_ms": paste["at_ms"], "note": "pasted from my own earlier file"});
    let (status, body) = server.call_as(Method::PUT, &notes, &candidate, Some(&note)).await;
    assert_eq!(status, 204, "{body}");
    for other in [&interviewer, &observer] {
        let (status, _) = server.call_as(Method::PUT, &notes, other, Some(&note)).await;
        assert_eq!(status, 403, "only the candidate writes their notes");
    }
    let (status, _) =
        server.call_as(Method::GET, &format!("/api/v1/rooms/{room}/integrity"), &observer, None).await;
    assert_eq!(status, 403, "observers do not see the signals");
    let unknown = json!({"kind": "paste", "at_ms": 1, "note": "no such signal"});
    assert_eq!(server.call_as(Method::PUT, &notes, &candidate, Some(&unknown)).await.0, 404);
    let long = json!({"kind": "paste", "at_ms": paste["at_ms"], "note": "n".repeat(handoff_protocol::limits::MAX_INTEGRITY_NOTE_CHARS + 1)});
    let (status, body) = server.call_as(Method::PUT, &notes, &candidate, Some(&long)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("integrity_note_too_large")));

    let (_, panel) =
        server.call_as(Method::GET, &format!("/api/v1/rooms/{room}/private"), &interviewer, None).await;
    assert_eq!(panel["integrity_notes"][0]["note"], "pasted from my own earlier file", "{panel}");
    assert_eq!(panel["integrity_notes"][0]["at_ms"], paste["at_ms"]);
    let (_, export) = server.call(Method::GET, &format!("/api/v1/rooms/{room}/export"), None).await;
    assert_eq!(
        export["integrity_notes"][0]["note"], "pasted from my own earlier file",
        "the export carries it"
    );
    let page = server
        .http
        .get(server.url(&format!("/api/v1/rooms/{room}/report")))
        .bearer_auth(&interviewer)
        .send()
        .await
        .expect("report");
    assert_eq!(page.status().as_u16(), 200);
    let page = page.text().await.unwrap_or_default();
    assert!(
        page.contains("The candidate&#39;s note: pasted from my own earlier file")
            || page.contains("The candidate's note: pasted from my own earlier file"),
        "the report shows the candidate's note beside its flag"
    );
    let (status, _) =
        server.call_as(Method::GET, &format!("/api/v1/rooms/{room}/private"), &candidate, None).await;
    assert_eq!(status, 403, "the candidate still cannot read the private panel");
    server.stop().await;
}
