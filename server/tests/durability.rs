//! What survives a stop: a graceful restart keeps every edit; `kill -9` keeps every edit older than the
//! group-commit window (with SQLite, and with PostgreSQL in a fresh database). Rooms are rebuilt from snapshot + log.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{TestServer, YClient, file};
use handoff_protocol::api::PromoteResponse;
use handoff_protocol::limits::{GROUP_COMMIT_WINDOW_MS, SNAPSHOT_EVERY_UPDATES};
use handoff_server::test_support::store::SqliteStore;

/// The API key the spawned binary is started with (at least `MIN_API_KEY_CHARS` long).
const API_KEY: &str = "durability-test-api-key";

fn ws_url(server_ws: &str, room: &PromoteResponse, token: &str) -> String {
    format!("{server_ws}/{}?token={token}", room.room.id)
}

#[tokio::test]
async fn a_graceful_restart_keeps_every_edit_through_snapshots_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "start\n")]).await;
    let mut a = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut b = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    a.wait_synced().await;
    b.wait_synced().await;
    // Enough edits to cross a snapshot, so the reload reads snapshot + log tail.
    let edits = SNAPSHOT_EVERY_UPDATES as usize + 40;
    for i in 0..edits {
        a.insert("main.py", None, &format!("{i},")).await;
        if i % 200 == 199 {
            // Let the reader keep up so nobody becomes a slow consumer.
            let want = format!("{i},");
            b.wait_for("reader keeps up", |c| c.text("main.py").unwrap().ends_with(&want)).await;
        }
    }
    let expected = a.text("main.py").unwrap();
    b.wait_for("all edits applied on the server", |c| c.text("main.py").as_deref() == Some(&expected)).await;
    server.stop().await;

    let server = TestServer::start(dir.path()).await;
    let url = ws_url(&server.running.state.urls.ws, &room, &room.tokens.candidate);
    let mut again = YClient::connect(&url).await;
    again.wait_synced().await;
    assert_eq!(again.text("main.py").as_deref(), Some(expected.as_str()));
    server.stop().await;
}

/// The `handoff` binary as a child process, so it can be killed with SIGKILL.
struct Process {
    child: Child,
    base: String,
}

fn spawn_server(dir: &std::path::Path, extra: &[&str]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", API_KEY, "--log", "warn", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("handoff binary starts");
    let base = common::binary::listening_url(&mut child);
    Process { child, base }
}

/// Submits one file to the server at `base` (API key [`API_KEY`]), promotes it, and connects a synced candidate
/// and interviewer.
async fn room_on(base: &str, content: &str) -> (PromoteResponse, YClient, YClient) {
    let http = reqwest::Client::new();
    let sub: serde_json::Value = http
        .post(format!("{base}/api/v1/submissions"))
        .bearer_auth(API_KEY)
        .json(&common::submission(&[file("main.py", content)]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room: PromoteResponse = http
        .post(format!("{base}/api/v1/submissions/{}/promote", sub["id"].as_str().unwrap()))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"interviewer": {"name": "Ivy"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut a = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut b = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    a.wait_synced().await;
    b.wait_synced().await;
    (room, a, b)
}

#[tokio::test]
async fn kill_9_keeps_edits_older_than_the_commit_window() {
    let dir = tempfile::tempdir().unwrap();
    kill_9_keeps_an_edit_older_than_the_window(dir.path(), &[]).await;
}

#[tokio::test]
async fn kill_9_keeps_edits_older_than_the_commit_window_on_postgres() {
    let db = common::postgres::Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    kill_9_keeps_an_edit_older_than_the_window(dir.path(), &["--store", &db.url]).await;
}

/// The server started with `extra` arguments types an edit, waits out the commit window, is killed with
/// SIGKILL, and a server started again the same way has the edit.
async fn kill_9_keeps_an_edit_older_than_the_window(dir: &std::path::Path, extra: &[&str]) {
    let mut proc = spawn_server(dir, extra);
    let (room, mut a, mut b) = room_on(&proc.base, "base\n").await;
    a.insert("main.py", None, "typed before the crash\n").await;
    b.wait_for("the server accepted the edit", |c| c.text("main.py").unwrap().contains("before the crash"))
        .await;

    // The guarantee is about age: an edit older than the window (plus a commit) is on disk. Waiting out
    // that window is the scenario under test, not synchronisation.
    tokio::time::sleep(Duration::from_millis(
        (GROUP_COMMIT_WINDOW_MS + SqliteStore::COMMIT_GATHER_MS) * 2 + 500,
    ))
    .await;
    proc.child.kill().unwrap(); // SIGKILL: no flush, no goodbye
    proc.child.wait().unwrap();
    drop((a, b));

    assert_eq!(restarted_text(dir, &room, extra).await.as_deref(), Some("base\ntyped before the crash\n"));
}

#[tokio::test]
async fn sigterm_flushes_rooms_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = spawn_server(dir.path(), &["--commit-window-ms", "1000"]);
    let (room, mut a, mut b) = room_on(&proc.base, "").await;
    a.insert("main.py", None, "last words").await;
    b.wait_for("the server accepted the edit", |c| c.text("main.py").unwrap() == "last words").await;

    // The window is the longest allowed and SIGTERM follows at once: only the shutdown flush can have
    // written the edit.
    let status = Command::new("kill").args(["-TERM", &proc.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let (code, _) = b.wait_closed().await;
    assert_eq!(code, handoff_protocol::frame::CLOSE_GOING_AWAY, "clients are told the server is going away");
    let exit = proc.child.wait().unwrap();
    assert!(exit.success(), "clean exit on SIGTERM: {exit}");

    assert_eq!(restarted_text(dir.path(), &room, &[]).await.as_deref(), Some("last words"));
}

/// Starts a fresh server on `dir` (with `extra` arguments), joins `room` as the candidate and returns
/// `main.py` as it synced.
async fn restarted_text(dir: &std::path::Path, room: &PromoteResponse, extra: &[&str]) -> Option<String> {
    let mut proc = spawn_server(dir, extra);
    let ws = format!("{}/ws", proc.base.replacen("http://", "ws://", 1));
    let mut again = YClient::connect(&ws_url(&ws, room, &room.tokens.candidate)).await;
    again.wait_synced().await;
    let text = again.text("main.py");
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
    text
}
