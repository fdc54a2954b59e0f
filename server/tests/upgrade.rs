//! Upgrades as an operator meets them, with the real binary: started on a data dir an earlier build
//! left (the committed fixture of the last layout before schema versions), it migrates the store at
//! start and serves what was there; started on a store a newer build migrated, it refuses to start,
//! saying so, and changes nothing.

mod common;

use std::path::Path;

use common::binary::{API_KEY, Server, handoff};

/// A database as the last build before schema versions left it (`store/sqlite/fixtures`).
const BEFORE_VERSIONS: &str = include_str!("../src/store/sqlite/fixtures/before-versions.sql");

/// A data dir holding the fixture's database, as the earlier build left it.
fn old_data_dir(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("data");
    std::fs::create_dir(&dir).unwrap();
    rusqlite::Connection::open(dir.join("handoff.db")).unwrap().execute_batch(BEFORE_VERSIONS).unwrap();
    dir
}

fn version(data_dir: &Path) -> Option<u32> {
    let conn = rusqlite::Connection::open(data_dir.join("handoff.db")).unwrap();
    conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).ok()
}

#[tokio::test]
async fn a_newer_binary_migrates_an_older_data_dir_at_start_and_serves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = old_data_dir(tmp.path());
    assert_eq!(version(&data), None, "the fixture predates versions");
    let server = Server::start(&data);
    let submission = server.call(reqwest::Method::GET, "/api/v1/submissions/sub-1", None).await;
    assert_eq!(submission["files"][0]["content"], "x = 1\n", "{submission}");
    let private = server.call(reqwest::Method::GET, "/api/v1/rooms/room-1/private", None).await;
    assert_eq!(private["notes"], "strong on design", "{private}");
    drop(server);
    let migrated = version(&data).expect("a version is recorded");
    assert!(migrated >= 2, "migrated to this build's version, {migrated}");
}

#[test]
fn an_older_binary_refuses_a_newer_schema_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let data = old_data_dir(tmp.path());
    // A newer build migrated this store: one version past what this binary knows.
    let conn = rusqlite::Connection::open(data.join("handoff.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
         INSERT INTO schema_version VALUES (1, 1000);",
    )
    .unwrap();
    let out = handoff(&["serve", "--listen", "127.0.0.1:0", "--log", "warn", "--api-key", API_KEY])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("handoff runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a newer schema was served");
    assert!(
        stderr.contains("version 1000") && stderr.contains("newer than this build knows"),
        "the refusal says why and what to do: {stderr}"
    );
    assert_eq!(version(&data), Some(1000), "the refusal changes nothing");

    let check = handoff(&["check", "--listen", "127.0.0.1:0", "--api-key", API_KEY])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("handoff check runs");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{report}");
    assert!(
        report.lines().any(|l| l.starts_with("FAIL") && l.contains("newer than this build knows")),
        "{report}"
    );
}
