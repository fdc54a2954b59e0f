//! Migrations against real database files: one from before versions were recorded, one with an older
//! layout still, one from a newer build.

use std::path::Path;

use rusqlite::Connection;

use super::{STEPS, latest_version, migrate};
use crate::store::sqlite::SqliteStore;
use crate::store::{Catalog, Interview, Private, Recordings, RoomLog, StoreError, WebhookOutbox};

/// A database as the last build before versions left it, one row in every table.
const BEFORE_VERSIONS: &str = include_str!("../fixtures/before-versions.sql");

fn version(path: &Path) -> Option<u32> {
    let conn = Connection::open(path).unwrap();
    conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).ok()
}

#[tokio::test]
async fn a_database_from_before_versions_upgrades_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.db");
    Connection::open(&path).unwrap().execute_batch(BEFORE_VERSIONS).unwrap();
    assert_eq!(version(&path), None, "the fixture records no version");

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(version(&path), Some(latest_version()));
    let sub = store.get_submission("sub-1").await.unwrap().unwrap();
    assert_eq!(sub.body.files[0].content, "x = 1\n");
    let room = store.get_room("room-1").await.unwrap().unwrap();
    assert_eq!((room.options.duration_min, room.options.candidate_sees_integrity), (Some(45), true));
    assert!(!room.record_voice, "step 2 adds the column, off for rooms before it");
    assert!(store.recordings("room-1").await.unwrap().is_empty());
    let seqs: Vec<u64> = store.room_log("room-1").await.unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "the folded and the recent rows");
    let state = store.load_room("room-1").await.unwrap();
    assert_eq!(state.snapshot.map(|s| s.upto_seq), Some(2));
    assert_eq!(state.tail, [(3, vec![5, 6])]);
    assert_eq!(store.notes("room-1").await.unwrap(), "strong on design");
    assert_eq!(store.scores("room-1").await.unwrap()[0].score, 3.5);
    assert_eq!(store.questions("room-1").await.unwrap()[0].text, "Why a dict?");
    assert_eq!(store.integrity_notes("room-1").await.unwrap()[0].note, "from my own file");
    assert_eq!(store.presence("room-1").await.unwrap()[0].name, "Cam");
    assert_eq!(store.due_webhooks(2700, 10).await.unwrap()[0].id, 1);

    let next = crate::store::LogEntry {
        room_id: "room-1".into(),
        seq: 4,
        at_ms: 2800,
        author: "Cam".into(),
        role: None,
        conn_id: 7,
        update: bytes::Bytes::from_static(b"four"),
    };
    store.append(vec![next], None).await.unwrap();
    drop(store);
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.room_log("room-1").await.unwrap().len(), 4, "reopening migrates nothing twice");
    assert_eq!(version(&path), Some(latest_version()));
}

#[tokio::test]
async fn an_older_layout_gains_the_columns_it_lacked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.db");
    // Rooms as the first releases wrote them: no end time, no options.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE submissions (id TEXT PRIMARY KEY, created_at_ms INTEGER NOT NULL, body TEXT NOT NULL);
             CREATE TABLE rooms (id TEXT PRIMARY KEY, submission_id TEXT NOT NULL REFERENCES submissions(id),
                                 status TEXT NOT NULL, interviewer TEXT NOT NULL, voice INTEGER NOT NULL,
                                 created_at_ms INTEGER NOT NULL);
             INSERT INTO submissions VALUES ('s', 1, '{}');
             INSERT INTO rooms VALUES ('r', 's', 'live', 'Ivy', 1, 2);",
        )
        .unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    let room = store.get_room("r").await.unwrap().unwrap();
    assert_eq!((room.voice, room.ended_at_ms, room.options.duration_min), (true, None, None));
    let ended = store.end_room("r", 5).await.unwrap().unwrap();
    assert_eq!(ended.ended_at_ms, Some(5));
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.db");
    drop(SqliteStore::open(&path).await.unwrap());
    let newer = latest_version() + 1;
    Connection::open(&path).unwrap().execute("UPDATE schema_version SET version = ?1", [newer]).unwrap();

    let refused = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::SchemaTooNew { found, known } if found == newer && known == latest_version()),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("newer than this build knows"), "{refused}");
    assert_eq!(version(&path), Some(newer), "the refusal writes nothing");
}

#[test]
fn migrating_a_current_database_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("handoff.db")).unwrap();
    migrate(&mut conn).unwrap();
    migrate(&mut conn).unwrap();
    let rows: Vec<u32> = conn
        .prepare("SELECT version FROM schema_version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, [latest_version()], "one row, at the latest version");
}

#[tokio::test]
async fn a_database_at_version_1_gains_the_recordings_of_step_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.db");
    {
        // As the first build with versions left it: step 1 run, version 1 recorded.
        let conn = Connection::open(&path).unwrap();
        STEPS[0](&conn).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1, 1);
             INSERT INTO submissions VALUES ('s', 1, '{}');
             INSERT INTO rooms (id, submission_id, status, interviewer, voice, created_at_ms)
             VALUES ('r', 's', 'live', 'Ivy', 1, 2);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(version(&path), Some(latest_version()));
    let room = store.get_room("r").await.unwrap().unwrap();
    assert!(room.voice && !room.record_voice, "the new column reads false for an old room");
    assert!(store.recordings("r").await.unwrap().is_empty(), "the new table is there");
}

#[tokio::test]
async fn a_database_that_gained_recordings_before_versions_upgrades_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.db");
    {
        // A build between the recordings and the versions: both there, no version recorded.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(BEFORE_VERSIONS).unwrap();
        conn.execute_batch("ALTER TABLE rooms ADD COLUMN record_voice INTEGER NOT NULL DEFAULT 0;").unwrap();
        conn.execute_batch(super::RECORDINGS_2).unwrap();
        conn.execute_batch("UPDATE rooms SET record_voice = 1").unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(version(&path), Some(latest_version()));
    assert!(store.get_room("room-1").await.unwrap().unwrap().record_voice, "kept as it was");
}
