//! The real server on a PostgreSQL store (`--store postgres://…`): a room's document and its export
//! survive a restart (typed by the Rust client, and by stock y-websocket clients under Node), a room's
//! whole life (the same flow memory and SQLite serve), a schema newer than
//! the build is refused at start, and the password in the URL never reaches the output. Each test creates a fresh database on the PostgreSQL server
//! `HANDOFF_TEST_POSTGRES_URL` names (default 127.0.0.1:5432 as user postgres, trust auth) and drops it
//! afterwards. Without PostgreSQL these tests fail, never skip: `.ci/run` installs and starts it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::postgres::{Database, connect};
use common::{TestServer, YClient, config, file};
use handoff_protocol::limits::SNAPSHOT_EVERY_UPDATES;
use reqwest::Method;
use serde_json::Value;

async fn start(dir: &std::path::Path, db: &Database) -> TestServer {
    let mut c = config(dir);
    c.store = Some(db.url.clone());
    TestServer::start_with(c).await
}

/// A room's WebSocket URL on this server (a restarted server listens on a new port).
fn ws(server: &TestServer, room: &str, token: &str) -> String {
    format!("{}/{room}?token={token}", server.running.state.urls.ws)
}

async fn export(server: &TestServer, room: &str) -> Value {
    let (status, body) = server.call(Method::GET, &format!("/api/v1/rooms/{room}/export"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_room_and_its_export_survive_a_restart_on_postgres() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &db).await;
    let room = server.room_with(&[file("main.py", "start\n")]).await;
    let id = room.room.id.clone();
    let mut cand = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut ivy = YClient::synced(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    // Past a snapshot, so the reload reads a snapshot and the log after it.
    let edits = SNAPSHOT_EVERY_UPDATES as usize + 40;
    for i in 0..edits {
        cand.insert("main.py", None, &format!("{i},")).await;
        if i % 200 == 199 {
            let want = format!("{i},");
            ivy.wait_for("the reader keeps up", |c| c.text("main.py").unwrap().ends_with(&want)).await;
        }
    }
    let typed = cand.text("main.py").unwrap();
    ivy.wait_for("every edit applied", |c| c.text("main.py").as_deref() == Some(&typed)).await;
    cand.close().await;
    ivy.close().await;
    server.stop().await;

    assert!(!dir.path().join("handoff.db").exists(), "the store is PostgreSQL, not a SQLite file");
    let pg = connect(&db.url).await;
    let logged: i64 = pg.query_one("SELECT COUNT(*) FROM room_log", &[]).await.unwrap().get(0);
    assert!(logged > edits as i64, "every edit is in PostgreSQL's log: {logged}");
    let snapshots: i64 = pg.query_one("SELECT COUNT(*) FROM room_snapshots", &[]).await.unwrap().get(0);
    assert_eq!(snapshots, 1, "the room was compacted");

    let server = start(dir.path(), &db).await;
    let mut again = YClient::synced(&ws(&server, &id, &room.tokens.candidate)).await;
    assert_eq!(again.text("main.py").as_deref(), Some(typed.as_str()), "the document survived");
    again.insert("main.py", None, "after").await;
    let mut ivy = YClient::synced(&ws(&server, &id, &room.tokens.interviewer)).await;
    ivy.wait_for("the edit after the restart", |c| c.text("main.py").unwrap().ends_with("after")).await;
    again.close().await;
    ivy.close().await;
    let (status, body) = server.call(Method::POST, &format!("/api/v1/rooms/{id}/end"), None).await;
    assert_eq!(status, 200, "{body}");
    let before = export(&server, &id).await;
    assert_eq!(before["files"][0]["content"].as_str(), Some(format!("{typed}after").as_str()), "{before}");
    assert!(before["timeline"].as_array().is_some_and(|t| t.len() > edits), "authored edits: {before}");
    server.stop().await;

    let server = start(dir.path(), &db).await;
    assert_eq!(export(&server, &id).await, before, "the export reads the same from PostgreSQL");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_y_websocket_clients_edit_a_room_that_survives_a_restart_on_postgres() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &db).await;
    let files = common::interop::files();
    let room = server.room_with(&files).await;
    let checks = common::interop::run(&room, &files, &room.ws_url, &[]).await;
    assert_eq!(checks, common::interop::CHECKS, "every interop check ran and passed");
    let id = room.room.id.clone();
    let edited = YClient::synced(&TestServer::ws(&room, &room.tokens.interviewer)).await.files();
    assert!(
        edited.values().any(|text| text.contains("# candidate")),
        "the clients typed: {:?}",
        edited.keys()
    );
    let exported = export(&server, &id).await["files"].clone();
    server.stop().await;

    let server = start(dir.path(), &db).await;
    let again = YClient::synced(&ws(&server, &id, &room.tokens.interviewer)).await.files();
    assert_eq!(again, edited, "what the stock clients typed came back from PostgreSQL");
    assert_eq!(export(&server, &id).await["files"], exported, "and the export's files read the same");
    server.stop().await;
}

#[tokio::test]
async fn postgres_store_serves_a_room_from_submission_to_purge() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.store = Some(db.url.clone());
    common::room_life::a_room_from_submission_to_purge(c).await;
}

#[tokio::test]
async fn a_node_refuses_a_postgres_schema_newer_than_it_knows() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    start(dir.path(), &db).await.stop().await;
    let pg = connect(&db.url).await;
    pg.execute("UPDATE schema_version SET version = version + 1", &[]).await.unwrap();

    let mut c = config(dir.path());
    c.store = Some(db.url.clone());
    let Err(refused) = handoff_server::app::start(c).await else { panic!("a newer schema is refused") };
    let message = format!("{refused:#}");
    assert!(message.contains("newer than this build knows"), "{message}");
}

/// Runs the binary against `store` until it prints its banner (or exits); returns what it printed on
/// both streams and whether it started.
fn run_binary(dir: &std::path::Path, store: &str) -> (String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--api-key", "postgres-test-api-key", "--log", "debug"])
        .arg("--data-dir")
        .arg(dir)
        .env("HANDOFF_STORE", store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the handoff binary starts");
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut printed = String::new();
    let mut started = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("handoff is listening on") {
            started = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    printed.push_str(&errors.join().unwrap_or_default());
    (printed, started)
}

#[tokio::test]
async fn the_password_in_the_store_url_never_reaches_the_output() {
    let db = Database::create().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter2-never-shown";
    let url = db.url_with_password(secret);
    assert!(url.contains(secret), "{url}");
    let (printed, started) = run_binary(dir.path(), &url);
    assert!(started, "the server starts on PostgreSQL: {printed}");
    assert!(printed.contains("postgres:***@"), "the store is named, redacted: {printed}");
    assert!(!printed.contains(secret), "{printed}");

    // A server that cannot reach the database fails to start, and says so without the password.
    let unreachable = format!("postgres://postgres:{secret}@127.0.0.1:1/{}", db.name);
    let (printed, started) = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run_binary(&dir, &unreachable)
    })
    .await
    .unwrap();
    assert!(!started, "{printed}");
    assert!(printed.contains("error connecting to server"), "the failure is explained: {printed}");
    assert!(!printed.contains(secret), "{printed}");
}
