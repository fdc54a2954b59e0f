//! The embedded store: one SQLite file in the data dir, WAL mode.
//!
//! All writes go through one writer thread that drains its queue into a single transaction (group
//! commit): while one commit is on disk, the next batch gathers. Reads run on a small pool of read
//! connections in `spawn_blocking`, which WAL lets proceed alongside the writer. No blocking SQLite call
//! ever runs on an async worker thread. Each concern of the store is implemented in its own file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub(crate) mod backup;
mod catalog;
mod interview;
mod log;
mod private;
mod recordings;
mod room_log;
mod schema;
mod tuning;
mod webhooks;
mod writer;

use async_trait::async_trait;
use handoff_protocol::api::RoomStatus;
use handoff_protocol::interview::RoomOptions;
use log::LogWriter;
use rusqlite::{Connection, OptionalExtension};
use schema::migrate;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tuning::{BUSY_TIMEOUT_MS, PAGE_CACHE_KIB, READ_POOL, WRITE_QUEUE, WRITER_PAGE_CACHE_KIB};
use writer::{Write, writer_loop};

use super::{Constraint, Missing, RoomRecord, Store, StoreError, StoreResult};

#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writes: mpsc::Sender<Write>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per pooled connection: a read waits for one rather than opening another.
    read_permits: Arc<Semaphore>,
}

/// A SQLite error as the store reports it, the error kept as its cause: a broken unique key is the
/// `Conflict` its columns stand for, and a broken foreign key a `NotFound` of what the write refers to.
/// Every foreign key but one references `rooms(id)`; the one in `rooms` references `submissions(id)`, so
/// a write that inserts a room passes `Missing::Submission`, and every other `Missing::Room`.
fn db_error(e: rusqlite::Error, refers_to: Missing) -> StoreError {
    use rusqlite::ffi;
    let rusqlite::Error::SqliteFailure(failure, message) = &e else { return StoreError::backend(e) };
    match failure.extended_code {
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            StoreError::NotFound { missing: refers_to, source: Some(Box::new(e)) }
        }
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            // SQLite names the key's columns: "UNIQUE constraint failed: rooms.id".
            let columns = message.as_deref().and_then(|m| m.rsplit_once(": ")).map(|(_, c)| c);
            let constraint = match columns {
                Some("submissions.id") => Constraint::SubmissionId,
                Some("rooms.id") => Constraint::RoomId,
                Some("rooms.submission_id") => Constraint::OneLiveRoom,
                Some("room_log.room_id, room_log.seq") => Constraint::LogSeq,
                _ => return StoreError::backend(e),
            };
            StoreError::Conflict { constraint, source: Some(Box::new(e)) }
        }
        _ => StoreError::backend(e),
    }
}

/// A SQLite error from a statement that references no other row (a read, a pragma).
fn db_err(e: rusqlite::Error) -> StoreError {
    db_error(e, Missing::Room)
}

fn connect(path: &Path, cache_kib: u32) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(db_err)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(db_err)?;
    // WAL: readers never block the writer. synchronous=FULL: a committed group is on disk, so an
    // acknowledged update survives a power cut, not only a process kill.
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(db_err)?;
    // Negative: the size is in KiB rather than pages.
    conn.pragma_update(None, "cache_size", -i64::from(cache_kib)).map_err(db_err)?;
    Ok(conn)
}

impl SqliteStore {
    /// How much longer than the room's commit window an accepted edit may wait for its commit to start
    /// (see `tuning::GROUP_COMMIT_GATHER_MS`): part of what `kill -9` can lose.
    pub const COMMIT_GATHER_MS: u64 = tuning::GROUP_COMMIT_GATHER_MS;

    /// Opens (creating if needed) the database file and starts the writer thread.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_owned();
        let writer = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> StoreResult<(Connection, LogWriter)> {
                crate::private_fs::prepare_sqlite(&path).map_err(StoreError::backend)?;
                let mut conn = connect(&path, WRITER_PAGE_CACHE_KIB)?;
                migrate(&mut conn)?;
                let log = LogWriter::open(&mut conn);
                Ok((conn, log))
            })
            .await
            .map_err(StoreError::backend)??
        };
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("handoff-sqlite-writer".into())
            .spawn(move || writer_loop(writer.0, writer.1, rx))
            .map_err(StoreError::backend)?;
        Ok(SqliteStore {
            path,
            writes: tx,
            readers: Arc::new(Mutex::new(Vec::new())),
            read_permits: Arc::new(Semaphore::new(READ_POOL)),
        })
    }

    async fn write<T>(&self, make: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Write) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        self.writes.send(make(tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` inside the writer thread's next group commit.
    async fn exec(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) -> StoreResult<()> {
        self.write(|tx| Write::Exec(Box::new(f), tx)).await
    }

    /// Runs `f` on a pooled read connection off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let permit = self.read_permits.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = readers.lock().map_err(|_| StoreError::Closed)?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => connect(&path, PAGE_CACHE_KIB)?,
            };
            let out = f(&conn).map_err(db_err);
            let mut pool = readers.lock().map_err(|_| StoreError::Closed)?;
            if pool.len() < READ_POOL {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(StoreError::backend)?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

fn room_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RoomRecord> {
    let status: String = row.get(2)?;
    Ok(RoomRecord {
        id: row.get(0)?,
        submission_id: row.get(1)?,
        status: RoomStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                "unknown room status".into(),
            )
        })?,
        interviewer: row.get(3)?,
        voice: row.get(4)?,
        created_at_ms: row.get::<_, i64>(5)? as u64,
        ended_at_ms: row.get::<_, Option<i64>>(6)?.map(|v| v as u64),
        options: RoomOptions {
            duration_min: row.get::<_, Option<u32>>(7)?,
            candidate_sees_integrity: row.get(8)?,
        },
        record_voice: row.get(9)?,
    })
}

/// The columns `room_from_row` reads, as a macro so queries are string literals (no `format!` per
/// WebSocket handshake, which looks its room up).
macro_rules! room_columns {
    () => {
        "id, submission_id, status, interviewer, voice, created_at_ms, ended_at_ms, duration_min, \
         candidate_sees_integrity, record_voice"
    };
}
use room_columns;

fn live_room(c: &Connection, submission_id: &str) -> rusqlite::Result<Option<RoomRecord>> {
    // Cached: the per-connection checks run for every WebSocket handshake.
    c.prepare_cached(concat!(
        "SELECT ",
        room_columns!(),
        " FROM rooms WHERE submission_id = ?1 AND status = 'live'"
    ))?
    .query_row([submission_id], room_from_row)
    .optional()
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use handoff_protocol::api::LiveScore;

    use super::*;
    use crate::store::conformance::submission;
    use crate::store::{Catalog, Private};

    #[test]
    fn every_connection_gets_its_bounded_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.db");
        // The writer and each pooled reader open their connection through `connect`; the size is a
        // per-connection setting, so each must set it.
        for kib in [WRITER_PAGE_CACHE_KIB, PAGE_CACHE_KIB, PAGE_CACHE_KIB] {
            let conn = connect(&path, kib).unwrap();
            let cache: i64 = conn.query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap();
            assert_eq!(cache, -i64::from(kib));
        }
    }

    #[tokio::test]
    async fn a_refused_write_keeps_what_sqlite_said() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("handoff.db")).await.unwrap();
        store.insert_submission(submission("sub", 1)).await.unwrap();
        let err = store.insert_submission(submission("sub", 2)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { constraint: Constraint::SubmissionId, .. }), "{err:?}");
        let cause = err.source().and_then(|e| e.downcast_ref::<rusqlite::Error>());
        let text = cause.map(ToString::to_string).unwrap_or_default();
        assert!(text.contains("UNIQUE constraint failed: submissions.id"), "{err:?}");

        let err = store.set_notes("nowhere", "n".into(), 1).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound { missing: Missing::Room, .. }), "{err:?}");
        assert!(err.source().is_some_and(|e| e.is::<rusqlite::Error>()), "{err:?}");
    }

    #[tokio::test]
    async fn scores_read_back_from_the_json_text_a_database_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.insert_submission(submission("sub", 1)).await.unwrap();
        let room = crate::store::RoomRecord {
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
        let preload = crate::store::LogEntry {
            room_id: Arc::from("room"),
            seq: 1,
            at_ms: 1,
            author: Arc::from("handoff"),
            role: None,
            conn_id: 0,
            update: bytes::Bytes::from_static(b"preload"),
        };
        store.create_room(room, preload).await.unwrap();
        // The text as it is stored: the API body's `scores`, serialised as JSON.
        let stored = r#"[{"dimension":"design","score":3.5,"max":5.0,"evidence":[{"seq":4,"note":"n"}]}]"#;
        let conn = connect(&path, PAGE_CACHE_KIB).unwrap();
        conn.execute(
            "INSERT INTO room_scores (room_id, scores, updated_at_ms) VALUES ('room', ?1, 1)",
            [stored],
        )
        .unwrap();
        let scores: Vec<LiveScore> = serde_json::from_str(stored).unwrap();
        assert_eq!(store.scores("room").await.unwrap(), scores);

        store.set_scores("room", scores.clone(), 2).await.unwrap();
        let text: String = conn
            .query_row("SELECT scores FROM room_scores WHERE room_id = 'room'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(text, stored, "written back in the same form");

        conn.execute("UPDATE room_scores SET scores = 'not json'", []).unwrap();
        assert!(matches!(store.scores("room").await, Err(StoreError::Corrupt(_))));
    }
}
