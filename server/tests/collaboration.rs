//! Submit → promote → join with real Yjs clients over real WebSockets: preload, sync, concurrent edits,
//! late joiners, offline edits, large pastes, awareness and the observer's read-only role.

mod common;

use common::{TestServer, YClient, file, sample_files};

#[tokio::test]
async fn promoted_room_holds_the_submission_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let files = sample_files();
    let room = server.room_with(&files).await;
    assert_eq!(room.room.status, handoff_protocol::api::RoomStatus::Live);
    assert!(room.ws_url.ends_with("/ws"));
    assert!(room.links.candidate.contains(&room.room.id));

    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    cand.wait_synced().await;
    let got = cand.files();
    assert_eq!(got.len(), files.len());
    for f in &files {
        assert_eq!(got[&f.path].as_bytes(), f.content.as_bytes(), "{} differs", f.path);
    }
    server.stop().await;
}

#[tokio::test]
async fn promoting_again_returns_the_same_live_room() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let sub = server.submit(&sample_files()).await;
    let first = server.promote(&sub).await;
    let again = server.promote(&sub).await;
    assert_eq!(first.room.id, again.room.id);
    // Concurrent promotes of a fresh submission still agree on one room.
    let sub2 = server.submit(&sample_files()).await;
    let (a, b) = tokio::join!(server.promote(&sub2), server.promote(&sub2));
    assert_eq!(a.room.id, b.room.id);
    let (_, view) = server.call(reqwest::Method::GET, &format!("/api/v1/submissions/{sub2}"), None).await;
    assert_eq!(view["room"]["id"], a.room.id.as_str());
    server.stop().await;
}

#[tokio::test]
async fn two_clients_edit_together_and_a_late_joiner_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "print('hi')\n")]).await;
    let mut a = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    let mut b = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    a.wait_synced().await;
    b.wait_synced().await;

    // Concurrent edits at both ends of the same file converge on both sides.
    a.insert("main.py", Some(0), "# interviewer\n").await;
    b.insert("main.py", None, "# candidate\n").await;
    let expected = "# interviewer\nprint('hi')\n# candidate\n";
    a.wait_for("a sees both edits", |c| c.text("main.py").as_deref() == Some(expected)).await;
    b.wait_for("b sees both edits", |c| c.text("main.py").as_deref() == Some(expected)).await;

    // A new file created live reaches the other side too.
    b.insert("notes/todo.md", None, "- handle eviction\n").await;
    a.wait_for("a sees the new file", |c| c.text("notes/todo.md").is_some()).await;

    let mut late = YClient::connect(&TestServer::ws(&room, &room.tokens.observer)).await;
    late.wait_for("late joiner has the whole state", |c| c.files() == a.files()).await;
    server.stop().await;
}

#[tokio::test]
async fn every_fresh_joiner_gets_the_document_as_it_is_now() {
    // Joiners that know nothing share one encoding of the whole document; every edit must retire it.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "print('hi')\n")]).await;
    let mut editor = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    editor.wait_synced().await;
    for round in 0..3 {
        let mut first = YClient::connect(&TestServer::ws(&room, &room.tokens.observer)).await;
        let mut second = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
        first.wait_synced().await;
        second.wait_synced().await;
        assert_eq!(first.files(), editor.files(), "round {round}: first joiner");
        assert_eq!(second.files(), editor.files(), "round {round}: second joiner");
        editor.insert("main.py", None, &format!("# round {round}\n")).await;
        let want = editor.text("main.py");
        first.wait_for("the edit reached the server and back", |c| c.text("main.py") == want).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn offline_edits_merge_on_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("a.txt", "base\n")]).await;
    let url = TestServer::ws(&room, &room.tokens.candidate);
    let mut online = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    online.wait_synced().await;

    let mut c = YClient::connect(&url).await;
    c.wait_synced().await;
    let offline_doc = c.awareness.doc().clone();
    c.close().await;

    // While it is away, both sides edit.
    online.insert("a.txt", None, "online edit\n").await;
    {
        use yrs::{Out, Text, Transact};
        let root = handoff_protocol::schema::files_root(&offline_doc);
        let mut txn = offline_doc.transact_mut();
        if let Some(Out::YText(t)) = yrs::Map::get(&root, &txn, "a.txt") {
            t.insert(&mut txn, 0, "offline edit\n");
        }
    }
    // Reconnect with the same document, as a provider does: sync both ways.
    let mut back = YClient::connect(&url).await;
    back.awareness = yrs::sync::Awareness::new(offline_doc);
    let sv = yrs::ReadTxn::state_vector(&yrs::Transact::transact(back.doc()));
    back.send_raw(handoff_protocol::frame::encode_sync_step1(&sv)).await;
    back.wait_for("both edits merged on the reconnected client", |c| {
        c.text("a.txt").is_some_and(|t| t.contains("offline edit") && t.contains("online edit"))
    })
    .await;
    online
        .wait_for("the offline edit reached the online client", |c| {
            c.text("a.txt").is_some_and(|t| t.contains("offline edit"))
        })
        .await;
    assert_eq!(online.text("a.txt"), back.text("a.txt"));
    server.stop().await;
}

#[tokio::test]
async fn a_200_kib_paste_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "")]).await;
    let mut a = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut b = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    a.wait_synced().await;
    b.wait_synced().await;
    let paste: String = (0..200 * 1024 / 16).map(|i| format!("line {i:05} é🙂\n")).collect();
    assert!(paste.len() >= 200 * 1024);
    a.insert("main.py", Some(0), &paste).await;
    b.wait_for("the paste arrives whole", |c| c.text("main.py").as_deref() == Some(paste.as_str())).await;
    let mut late = YClient::connect(&TestServer::ws(&room, &room.tokens.observer)).await;
    late.wait_for("a late joiner gets the paste", |c| c.text("main.py").as_deref() == Some(paste.as_str()))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn awareness_is_shared_and_removed_when_a_client_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut a = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    let mut b = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    a.wait_synced().await;
    b.wait_synced().await;
    // Names come from the tokens ("Ivy Interviewer", "Cam Candidate"), whatever the clients claim.
    a.set_user("Ivy").await;
    b.set_user("Cam").await;
    a.wait_for("a sees Cam", |c| c.others() == ["Cam Candidate"]).await;
    b.wait_for("b sees Ivy", |c| c.others() == ["Ivy Interviewer"]).await;

    // A late joiner receives everyone's presence on join, and query-awareness answers again.
    let mut obs = YClient::connect(&TestServer::ws(&room, &room.tokens.observer)).await;
    obs.wait_for("observer sees both", |c| c.others() == ["Cam Candidate", "Ivy Interviewer"]).await;
    obs.wait_synced().await;
    let before = obs.awareness_frames;
    obs.send_raw(handoff_protocol::frame::encode_query_awareness()).await;
    obs.wait_for("query-awareness is answered", |c| c.awareness_frames > before).await;

    // Stock y-websocket clients re-send the states they hear; Ivy's client relaying Cam's presence must
    // not make the server think Cam's cursor belongs to Ivy's connection.
    let cam = a.awareness.iter().map(|(id, _)| id).find(|id| *id != a.doc().client_id()).unwrap();
    let relay = a.awareness.update_with_clients([cam]).unwrap();
    a.send_raw(handoff_protocol::frame::encode_awareness(&relay)).await;

    // Cam disconnects without saying goodbye: the server withdraws Cam's cursor for everyone.
    drop(b);
    a.wait_for("Cam's presence is removed", |c| c.others().is_empty()).await;
    obs.wait_for("observer sees Cam leave", |c| c.others() == ["Ivy Interviewer"]).await;
    server.stop().await;
}

#[tokio::test]
async fn observers_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "x = 1\n")]).await;
    let mut obs = YClient::connect(&TestServer::ws(&room, &room.tokens.observer)).await;
    let mut cand = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    obs.wait_synced().await;
    cand.wait_synced().await;

    obs.insert("main.py", Some(0), "OBSERVER WAS HERE\n").await;
    obs.wait_for("observer is told it is read-only", |c| c.denied.is_some()).await;
    assert!(obs.denied.as_deref().unwrap().contains("read-only"));

    // The room handled the observer's update before it sent the denial. A client joining now sees exactly
    // what the server holds; and its marker edit reaches the candidate after anything the observer's edit
    // could have caused (one outbox, in order).
    let mut ivy = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    ivy.wait_synced().await;
    assert!(!ivy.text("main.py").unwrap().contains("OBSERVER"), "the server never applied it");
    ivy.insert("main.py", None, "marker\n").await;
    cand.wait_for("candidate gets the marker", |c| c.text("main.py").unwrap().contains("marker")).await;
    assert!(!cand.text("main.py").unwrap().contains("OBSERVER"), "the server never broadcast it");
    obs.wait_for("observer still receives edits", |c| c.text("main.py").unwrap().contains("marker")).await;
    assert!(obs.closed.is_none(), "observer stays connected");
    server.stop().await;
}
