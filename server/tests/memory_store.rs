//! The in-memory store (`--store memory://`) under the real server: a room's whole life through the HTTP
//! API and a Yjs client, run against the memory store and the SQLite default alike.

mod common;

use common::room_life::a_room_from_submission_to_purge;
use common::{TestServer, file};
use handoff_server::config::Config;
use reqwest::Method;

fn memory_config(dir: &std::path::Path) -> Config {
    let mut config = common::config(dir);
    config.store = Some("memory://".into());
    config
}

#[tokio::test]
async fn memory_store_serves_a_room_from_submission_to_purge() {
    let dir = tempfile::tempdir().unwrap();
    a_room_from_submission_to_purge(memory_config(dir.path())).await;
}

#[tokio::test]
async fn sqlite_store_serves_the_same_flow() {
    let dir = tempfile::tempdir().unwrap();
    a_room_from_submission_to_purge(common::config(dir.path())).await;
}

#[tokio::test]
async fn nothing_in_the_memory_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(memory_config(dir.path())).await;
    let sub = server.submit(&[file("main.py", "x = 1\n")]).await;
    assert_eq!(server.call(Method::GET, &format!("/api/v1/submissions/{sub}"), None).await.0, 200);
    server.stop().await;
    assert!(!dir.path().join("handoff.db").exists(), "no database file is written");

    let server = TestServer::start_with(memory_config(dir.path())).await;
    assert_eq!(server.call(Method::GET, &format!("/api/v1/submissions/{sub}"), None).await.0, 404);
    server.stop().await;
}
