//! What only the PostgreSQL store has to show: the database's own errors kept as causes, appends that a
//! retry cannot double (counted in the table itself), and migrations run once by nodes starting
//! together or refused when newer.

use std::error::Error as _;
use std::sync::Arc;

use bytes::Bytes;

use super::schema::latest_version;
use super::test_db::TestDatabase;
use super::*;
use crate::store::conformance::submission;
use crate::store::{Catalog, LogEntry, Private, RoomLog};

fn entry(seq: u64) -> LogEntry {
    LogEntry {
        room_id: Arc::from("room"),
        seq,
        at_ms: seq,
        author: Arc::from("Cam"),
        role: None,
        conn_id: 7,
        update: Bytes::from(format!("update {seq}")),
    }
}

async fn with_room(store: &PgStore) {
    store.insert_submission(submission("sub", 1)).await.unwrap();
    let room = RoomRecord {
        id: "room".into(),
        submission_id: "sub".into(),
        status: RoomStatus::Live,
        interviewer: "Ivy".into(),
        voice: false,
        record_voice: false,
        created_at_ms: 1,
        ended_at_ms: None,
        options: Default::default(),
    };
    store.create_room(room, entry(1)).await.unwrap();
}

async fn schema_version(db: &TestDatabase) -> i32 {
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client.query_one("SELECT version FROM schema_version", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_refused_write_keeps_what_postgres_said() {
    let db = TestDatabase::create().await;
    let store = PgStore::open(&db.url).await.unwrap();
    store.insert_submission(submission("sub", 1)).await.unwrap();
    let err = store.insert_submission(submission("sub", 2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { constraint: Constraint::SubmissionId, .. }), "{err:?}");
    let cause = err.source().and_then(|e| e.downcast_ref::<tokio_postgres::Error>());
    let said = cause.and_then(|e| e.as_db_error()).map(|db| db.constraint().unwrap_or_default().to_owned());
    assert_eq!(said.as_deref(), Some("submissions_pkey"), "{err:?}");

    let err = store.set_notes("nowhere", "n".into(), 1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { missing: Missing::Room, .. }), "{err:?}");
}

#[tokio::test]
async fn a_retry_of_a_landed_append_succeeds_and_a_clash_writes_nothing() {
    let db = TestDatabase::create().await;
    let store = PgStore::open(&db.url).await.unwrap();
    with_room(&store).await;
    store.append(vec![entry(2), entry(3)], None).await.unwrap();
    // The first try committed but its answer was lost: the retry is told so and writes nothing.
    store.append(vec![entry(2), entry(3)], None).await.unwrap();
    let mut clash = entry(4);
    clash.seq = 3;
    let refused = store.append(vec![entry(4), clash], None).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { constraint: Constraint::LogSeq, .. })),
        "{refused:?}"
    );
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows: i64 = client.query_one("SELECT COUNT(*) FROM room_log", &[]).await.unwrap().get(0);
    assert_eq!(rows, 3, "each entry once, and nothing of the refused append");
}

#[tokio::test]
async fn nodes_starting_together_migrate_the_database_once() {
    let db = TestDatabase::create().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { PgStore::open(&url).await.map(|_| ()) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    assert_eq!(schema_version(&db).await, latest_version() as i32);
    let store = PgStore::open(&db.url).await.unwrap();
    with_room(&store).await;
    drop(store);
    let reopened = PgStore::open(&db.url).await.unwrap();
    assert_eq!(reopened.room_log("room").await.unwrap().len(), 1, "reopening keeps the data");
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_and_left_untouched() {
    let db = TestDatabase::create().await;
    drop(PgStore::open(&db.url).await.unwrap());
    let newer = latest_version() as i32 + 1;
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client.execute("UPDATE schema_version SET version = $1", &[&newer]).await.unwrap();

    let refused = PgStore::open(&db.url).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::SchemaTooNew { found, known }
            if found as i32 == newer && known == latest_version()),
        "{refused:?}"
    );
    assert_eq!(schema_version(&db).await, newer, "the refusal writes nothing");
}

#[tokio::test]
async fn a_backend_error_shows_what_the_server_said() {
    let db = TestDatabase::create().await;
    let store = PgStore::open(&db.url).await.unwrap();
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client.batch_execute("DROP TABLE room_notes").await.unwrap();
    let err = store.notes("room").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("room_notes"), "the message names the table: {err}");
}

#[tokio::test]
async fn a_database_at_version_1_gains_the_recordings_of_step_2() {
    let db = TestDatabase::create().await;
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    // As the first build with versions left it: step 1 run, version 1 recorded, a room in it.
    client.batch_execute(super::schema::STEPS[0]).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1, 1);
             INSERT INTO submissions VALUES ('s', 1, '{}');
             INSERT INTO rooms (id, submission_id, status, interviewer, voice, created_at_ms)
             VALUES ('r', 's', 'live', 'Ivy', TRUE, 2);",
        )
        .await
        .unwrap();
    let store = PgStore::open(&db.url).await.unwrap();
    assert_eq!(schema_version(&db).await, latest_version() as i32);
    let room = store.get_room("r").await.unwrap().unwrap();
    assert!(room.voice && !room.record_voice, "the new column reads false for an old room");
    assert!(crate::store::Recordings::recordings(&store, "r").await.unwrap().is_empty());
}
