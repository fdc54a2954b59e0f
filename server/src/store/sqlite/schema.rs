//! The SQLite schema and the migrations that bring older databases up to it.

use rusqlite::Connection;

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

pub(super) const SCHEMA: &str = concat!(
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
    candidate_sees_integrity INTEGER NOT NULL DEFAULT 0,
    record_voice INTEGER NOT NULL DEFAULT 0
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

/// Brings a database created by an earlier version up to the current schema.
pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
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
    let has_record_voice: bool =
        conn.prepare("SELECT 1 FROM pragma_table_info('rooms') WHERE name = 'record_voice'")?.exists([])?;
    if !has_record_voice {
        conn.execute_batch("ALTER TABLE rooms ADD COLUMN record_voice INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}
