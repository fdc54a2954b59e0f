//! The store contract, checked against every backend: each scenario runs against the in-memory store, a
//! SQLite store in a fresh temporary directory, a PostgreSQL store in a fresh database (created on the
//! server `HANDOFF_TEST_POSTGRES_URL` names, by default 127.0.0.1:5432 as user postgres, and dropped
//! afterwards; the test fails when there is none), and the store named by [`TEST_STORE_URL_VAR`] if set
//! (`HANDOFF_TEST_STORE_URL=sqlite:///tmp/handoff-test.db cargo test -p handoff-server --lib conformance`).
//! A new backend joins by being named there; nothing here lists it. A backend is only right if it
//! behaves as the others do, constraint failures included.

mod catalog;
mod interview;
mod private;
mod recordings;
mod room_log;
mod webhooks;

use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::Role;
use handoff_protocol::api::RoomStatus;
use handoff_protocol::export::{PresenceEvent, PresenceKind};
use serde_json::json;

use super::{LogEntry, MemoryStore, PgStore, RoomRecord, SqliteStore, Store, SubmissionRecord, TestDatabase};

/// Names a further store every scenario runs against, as `--store` would (`sqlite://PATH`,
/// `postgres://…`). The suite empties it before each scenario and runs the
/// scenarios against it one at a time: never name a store whose data you want to keep.
pub(crate) const TEST_STORE_URL_VAR: &str = "HANDOFF_TEST_STORE_URL";

/// Submissions the named store lists per round while it is emptied.
const EMPTY_BATCH: usize = 1000;

/// Held while a scenario runs against the named store, which every test of this process shares.
static NAMED_STORE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `scenario` against every backend, each empty at the start; the name goes into its assertion
/// messages.
pub(super) async fn each_backend(scenario: impl AsyncFn(Arc<dyn Store>, &str)) {
    scenario(Arc::new(MemoryStore::new()), "memory").await;

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("handoff.db")).await.unwrap();
    scenario(Arc::new(sqlite), "sqlite").await;

    let db = TestDatabase::create().await;
    let postgres = PgStore::open(&db.url).await.unwrap_or_else(|e| panic!("postgres store: {e}"));
    scenario(Arc::new(postgres), "postgres").await;
    drop(db);

    if let Ok(url) = std::env::var(TEST_STORE_URL_VAR) {
        let _one_at_a_time = NAMED_STORE.lock().await;
        let store = crate::store::open(&url).await.unwrap_or_else(|e| panic!("{TEST_STORE_URL_VAR}: {e}"));
        empty(&*store).await;
        scenario(store, &url).await;
    }
}

/// Removes everything from a store through the contract itself: all of it belongs to some submission.
async fn empty(store: &dyn Store) {
    loop {
        let listed = store.list_submissions(EMPTY_BATCH).await.unwrap();
        if listed.is_empty() {
            return;
        }
        for (sub, _) in listed {
            store.purge_submission(&sub.id).await.unwrap();
        }
    }
}

pub(super) fn submission(id: &str, at_ms: u64) -> SubmissionRecord {
    let body = json!({
        "candidate": {"name": "Cam"},
        "exercise": {"title": "LRU cache"},
        "files": [{"path": "main.py", "content": "x = 1\n"}],
    });
    SubmissionRecord { id: id.into(), created_at_ms: at_ms, body: serde_json::from_value(body).unwrap() }
}

fn room(id: &str, submission_id: &str, at_ms: u64) -> RoomRecord {
    RoomRecord {
        id: id.into(),
        submission_id: submission_id.into(),
        status: RoomStatus::Live,
        interviewer: "Ivy".into(),
        voice: false,
        record_voice: false,
        created_at_ms: at_ms,
        ended_at_ms: None,
        options: Default::default(),
    }
}

/// A log entry; the store never decodes updates, so the bytes only need to be told apart.
fn entry(room_id: &str, seq: u64, at_ms: u64) -> LogEntry {
    LogEntry {
        room_id: Arc::from(room_id),
        seq,
        at_ms,
        author: Arc::from(if seq == 1 { "handoff" } else { "Cam" }),
        role: (seq > 1).then_some(Role::Candidate),
        conn_id: seq,
        update: Bytes::from(format!("update {seq}")),
    }
}

/// A submission with one live room whose log holds the preload (seq 1).
async fn promoted(store: &dyn Store, sub: &str, room_id: &str, at_ms: u64) -> RoomRecord {
    store.insert_submission(submission(sub, at_ms)).await.unwrap();
    store.create_room(room(room_id, sub, at_ms), entry(room_id, 1, at_ms)).await.unwrap()
}

fn joined(at_ms: u64, name: &str) -> PresenceEvent {
    PresenceEvent { at_ms, kind: PresenceKind::Join, name: name.into(), role: Role::Candidate, conn_id: 7 }
}

async fn seqs(store: &dyn Store, room_id: &str) -> Vec<u64> {
    store.room_log(room_id).await.unwrap().iter().map(|r| r.seq).collect()
}
