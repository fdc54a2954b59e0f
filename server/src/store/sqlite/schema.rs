//! The SQLite schema as numbered steps (`store/migrations.rs`), and the runner that brings a database up
//! to the last of them when the store opens.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::store::migrations::{SchemaVersion, latest, steps_after};
use crate::store::{StoreError, StoreResult};

/// The columns of a log row. `room_log` and `room_log_recent` both hold them: the fold copies rows from
/// one to the other, so the two tables must not drift apart.
macro_rules! log_row_columns {
    () => {
        "
    room_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    author TEXT NOT NULL,
    role TEXT NOT NULL,
    conn_id INTEGER NOT NULL,
    update_v1 BLOB NOT NULL"
    };
}

/// Step 1: the layout every database had when versions began to be recorded. Each statement is
/// `IF NOT EXISTS`, so the step is harmless on such a database, which records no version.
const LAYOUT_1: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    created_at_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions(id),
    status TEXT NOT NULL,
    interviewer TEXT NOT NULL,
    voice INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER,
    duration_min INTEGER,
    candidate_sees_integrity INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS rooms_one_live_per_submission ON rooms(submission_id) WHERE status = 'live';
CREATE TABLE IF NOT EXISTS room_log (",
    log_row_columns!(),
    ",
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
-- Appends land here, side by side, and the writer folds them into room_log (sqlite/log.rs).
CREATE TABLE IF NOT EXISTS room_log_recent (",
    log_row_columns!(),
    "
);
CREATE TABLE IF NOT EXISTS room_notes (
    room_id TEXT PRIMARY KEY REFERENCES rooms(id),
    notes TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS room_presence (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    conn_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS room_presence_by_room ON room_presence(room_id, at_ms);
CREATE TABLE IF NOT EXISTS room_scores (
    room_id TEXT PRIMARY KEY REFERENCES rooms(id),
    scores TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS room_questions (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    n INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (room_id, n)
);
CREATE TABLE IF NOT EXISTS room_integrity_notes (
    room_id TEXT NOT NULL REFERENCES rooms(id),
    kind TEXT NOT NULL,
    flag_at_ms INTEGER NOT NULL,
    note TEXT NOT NULL,
    written_at_ms INTEGER NOT NULL,
    PRIMARY KEY (room_id, kind, flag_at_ms)
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL REFERENCES rooms(id),
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    delivered_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(status, next_attempt_ms);
CREATE TABLE IF NOT EXISTS room_snapshots (
    room_id TEXT PRIMARY KEY,
    upto_seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    state_v1 BLOB NOT NULL
);
",
);

/// Every table keyed by `room_id`: what purging a room deletes. A new per-room table belongs here.
pub(super) const ROOM_TABLES: [&str; 10] = [
    "webhook_deliveries",
    "room_recordings",
    "room_questions",
    "room_integrity_notes",
    "room_presence",
    "room_scores",
    "room_notes",
    "room_snapshots",
    "room_log",
    "room_log_recent",
];

/// One step of the schema: brings a database from the version before it to its own.
type Step = fn(&Connection) -> rusqlite::Result<()>;

/// The schema, step by step; a step's version is its place in the list, from 1. A released step never
/// changes: a change to the schema is a new step at the end.
const STEPS: &[Step] = &[step_1_layout, step_2_recordings];

/// The version this build brings every database to.
pub(super) fn latest_version() -> SchemaVersion {
    latest(STEPS)
}

/// Records the one version of the database. `id` is always 1: the table holds one row.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)";

/// Brings the database up to [`latest_version`] in one transaction, or fails with
/// `StoreError::SchemaTooNew` (changing nothing) if it is at a version this build does not know. The
/// transaction takes the write lock at once, so two processes opening one file migrate it one at a time.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let db = |e| super::db_err(e);
    let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    txn.execute_batch(VERSION_TABLE).map_err(db)?;
    let found: Option<SchemaVersion> = txn
        .query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map_err(db)?;
    let steps = steps_after(found.unwrap_or(0), latest_version())?;
    if steps.is_empty() {
        return Ok(());
    }
    for version in steps.clone() {
        let step = STEPS[version as usize - 1];
        step(&txn).map_err(|e| StoreError::backend(format!("schema step {version}: {e}")))?;
    }
    txn.execute(
        "INSERT INTO schema_version (id, version) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        [steps.end()],
    )
    .map_err(db)?;
    txn.commit().map_err(db)?;
    tracing::info!(from = found.unwrap_or(0), to = steps.end(), "sqlite schema migrated");
    Ok(())
}

/// The layout of step 1, plus the columns databases from before it lacked (they predate both
/// versions and this step, so the step adds them when missing).
fn step_1_layout(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(LAYOUT_1)?;
    let has_ended_at: bool =
        conn.prepare("SELECT 1 FROM pragma_table_info('rooms') WHERE name = 'ended_at_ms'")?.exists([])?;
    if !has_ended_at {
        conn.execute_batch("ALTER TABLE rooms ADD COLUMN ended_at_ms INTEGER")?;
    }
    let has_options: bool =
        conn.prepare("SELECT 1 FROM pragma_table_info('rooms') WHERE name = 'duration_min'")?.exists([])?;
    if !has_options {
        conn.execute_batch(
            "ALTER TABLE rooms ADD COLUMN duration_min INTEGER;
             ALTER TABLE rooms ADD COLUMN candidate_sees_integrity INTEGER NOT NULL DEFAULT 0;",
        )?;
    }
    Ok(())
}

/// Step 2: voice recordings, whether a room records its speakers and one row per recorded file (the
/// audio is a file in the data dir). Written to be harmless where a build without versions already
/// added them: the column is looked for, the table and index are `IF NOT EXISTS`.
fn step_2_recordings(conn: &Connection) -> rusqlite::Result<()> {
    let has_record_voice: bool =
        conn.prepare("SELECT 1 FROM pragma_table_info('rooms') WHERE name = 'record_voice'")?.exists([])?;
    if !has_record_voice {
        conn.execute_batch("ALTER TABLE rooms ADD COLUMN record_voice INTEGER NOT NULL DEFAULT 0")?;
    }
    conn.execute_batch(RECORDINGS_2)
}

/// The table of step 2.
const RECORDINGS_2: &str = "
CREATE TABLE IF NOT EXISTS room_recordings (
    id TEXT PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES rooms(id),
    member INTEGER NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    path TEXT NOT NULL,
    anchors TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS room_recordings_by_room ON room_recordings(room_id, started_at_ms);
";

#[cfg(test)]
mod tests;
