//! The PostgreSQL schema as numbered steps (`store/migrations.rs`), the same layout as SQLite's in
//! PostgreSQL's types, and the runner that brings a database up to the last step when a node starts.
//!
//! Several nodes may start against one database at once: the runner holds a transaction-scoped advisory
//! lock, so one of them migrates and the others, once it commits, find the schema current.

use deadpool_postgres::Client;

use crate::store::migrations::{SchemaVersion, latest, steps_after};
use crate::store::{StoreError, StoreResult};

use super::db_err;

/// Step 1: the layout of SQLite's step 1. Integers are `BIGINT` (times in milliseconds, seqs and
/// connection ids are `u64` stored as `i64`, as SQLite stores them). Constraint names are PostgreSQL's
/// defaults, which `db_error` maps to the store's rules. `room_log` and `room_snapshots` have no foreign
/// key, as in SQLite. Presence rows get an id, which keeps joins at one moment in recording order.
const LAYOUT_1: &str = "
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    created_at_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX submissions_by_time ON submissions (created_at_ms DESC, id);
CREATE TABLE rooms (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions(id),
    status TEXT NOT NULL,
    interviewer TEXT NOT NULL,
    voice BOOLEAN NOT NULL,
    created_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT,
    duration_min BIGINT,
    candidate_sees_integrity BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX rooms_one_live_per_submission ON rooms (submission_id) WHERE status = 'live';
CREATE INDEX rooms_by_submission ON rooms (submission_id, created_at_ms);
CREATE TABLE room_log (
    room_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    author TEXT NOT NULL,
    role TEXT NOT NULL,
    conn_id BIGINT NOT NULL,
    update_v1 BYTEA NOT NULL,
    PRIMARY KEY (room_id, seq)
);
CREATE TABLE room_snapshots (
    room_id TEXT PRIMARY KEY,
    upto_seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    state_v1 BYTEA NOT NULL
);
CREATE TABLE room_notes (
    room_id TEXT PRIMARY KEY REFERENCES rooms(id),
    notes TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE room_presence (
    id BIGSERIAL PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id),
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    conn_id BIGINT NOT NULL
);
CREATE INDEX room_presence_by_room ON room_presence (room_id, at_ms, id);
CREATE TABLE room_scores (
    room_id TEXT PRIMARY KEY REFERENCES rooms(id),
    scores TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE room_questions (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    n BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (room_id, n)
);
CREATE TABLE room_integrity_notes (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    kind TEXT NOT NULL,
    flag_at_ms BIGINT NOT NULL,
    note TEXT NOT NULL,
    written_at_ms BIGINT NOT NULL,
    PRIMARY KEY (room_id, kind, flag_at_ms)
);
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id),
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    last_error TEXT,
    delivered_at_ms BIGINT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_by_room ON webhook_deliveries (room_id, id);
";

/// Step 2: voice recordings, as SQLite's step 2: whether a room records its speakers, and one row per
/// recorded file (the audio is a file in the node's data dir), its anchors as JSON text.
const RECORDINGS_2: &str = "
ALTER TABLE rooms ADD COLUMN record_voice BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE room_recordings (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id),
    member BIGINT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    path TEXT NOT NULL,
    anchors TEXT NOT NULL
);
CREATE INDEX room_recordings_by_room ON room_recordings (room_id, started_at_ms, id);
";

/// The schema, step by step; a step's version is its place in the list, from 1. A released step never
/// changes: a change to the schema is a new step at the end, beside the same step of SQLite's list.
pub(super) const STEPS: &[&str] = &[LAYOUT_1, RECORDINGS_2];

/// Every table keyed by `room_id`: what purging a room deletes, those referencing `rooms` included. A
/// new per-room table belongs here.
pub(super) const ROOM_TABLES: [&str; 9] = [
    "webhook_deliveries",
    "room_recordings",
    "room_questions",
    "room_integrity_notes",
    "room_presence",
    "room_scores",
    "room_notes",
    "room_snapshots",
    "room_log",
];

/// The version this build brings every database to.
pub(super) fn latest_version() -> SchemaVersion {
    latest(STEPS)
}

/// The advisory lock key the migration runner holds: any fixed number that no other user of the
/// database takes (the bytes of "handoff" plus one).
const MIGRATION_LOCK: i64 = 0x6861_6e64_6f66_6601;

/// Brings the database up to [`latest_version`] in one transaction, or fails with
/// `StoreError::SchemaTooNew` (changing nothing) if it is at a version this build does not know.
pub(super) async fn migrate(client: &mut Client) -> StoreResult<()> {
    let txn = client.transaction().await.map_err(db_err)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_err)?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             version INTEGER NOT NULL
         )",
    )
    .await
    .map_err(db_err)?;
    let found = txn
        .query_opt("SELECT version FROM schema_version WHERE id = 1", &[])
        .await
        .map_err(db_err)?
        .map(|row| row.get::<_, i32>(0));
    let found = SchemaVersion::try_from(found.unwrap_or(0))
        .map_err(|_| StoreError::Corrupt(format!("schema_version holds {found:?}")))?;
    let steps = steps_after(found, latest_version())?;
    if steps.is_empty() {
        return Ok(());
    }
    for version in steps.clone() {
        let step = STEPS[version as usize - 1];
        txn.batch_execute(step)
            .await
            .map_err(|e| StoreError::backend(format!("schema step {version}: {}", super::Described(e))))?;
    }
    let to = *steps.end() as i32;
    txn.execute(
        "INSERT INTO schema_version (id, version) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        &[&to],
    )
    .await
    .map_err(db_err)?;
    txn.commit().await.map_err(db_err)?;
    tracing::info!(from = found, to, "postgres schema migrated");
    Ok(())
}
