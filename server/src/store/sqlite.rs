//! The embedded store: one SQLite file in the data dir, WAL mode.
//!
//! All writes go through one writer thread that drains its queue into a single transaction (group
//! commit): while one commit is on disk, the next batch gathers. Reads run on a small pool of read
//! connections in `spawn_blocking`, which WAL lets proceed alongside the writer. No blocking SQLite call
//! ever runs on an async worker thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod log;
mod schema;
mod writer;

use async_trait::async_trait;
use handoff_protocol::Role;
use handoff_protocol::api::{PresenceEvent, RoomStatus, WebhookStatus};
use log::{ACTIVE_SINCE_SQL, LOG_SQL, LogWriter, TAIL_SQL};
use rusqlite::{Connection, OptionalExtension, params};
use schema::{ROOM_TABLES, SCHEMA, migrate};
use tokio::sync::{Semaphore, mpsc, oneshot};
use writer::{Write, writer_loop};

use super::{
    LogEntry, LogRow, RoomRecord, RoomState, Snapshot, Store, StoreError, StoreResult, SubmissionRecord,
    WebhookDelivery, WebhookOutcome,
};

/// Writes queued for the writer thread. Callers wait (backpressure) when it is full.
const WRITE_QUEUE: usize = 1024;
/// Idle read connections kept open.
/// Also the most reads run at once: a join storm's hundred handshakes each check their room, and without
/// the bound each opened (and parsed the schema on) a connection of its own on a blocking thread.
const READ_POOL: usize = 4;
/// How long a connection waits on a lock held by another before failing.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// SQLite's page cache per reader connection, in KiB. With its default (2,000 KiB) on every connection a
/// soak's RSS kept climbing for 30 minutes, past that mark; this size cost no measurable CPU, join or
/// promote time (docs/PERFORMANCE.md, sixth run). The OS page cache holds the file anyway: a miss here is a `pread`,
/// not a disk read.
const PAGE_CACHE_KIB: u32 = 256;
/// The writer's page cache, in KiB: every fold of the recent log (`sqlite/log.rs`) rewrites the last log
/// page of each room in it, and with the readers' 256 KiB those pages (about 1.2 MiB at 300 typing rooms)
/// were read back with `pread` each time. Measured when every group commit rewrote them: at 300 rooms
/// this size cut the writer thread's CPU by a fifth and the server's per update by 6 %
/// (docs/PERFORMANCE.md, seventh run). One connection, so still bounded.
const WRITER_PAGE_CACHE_KIB: u32 = 2048;

pub struct SqliteStore {
    path: PathBuf,
    writes: mpsc::Sender<Write>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per pooled connection: a read waits for one rather than opening another.
    read_permits: Arc<Semaphore>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
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
    /// Opens (creating if needed) the database file and starts the writer thread.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let path = path.to_owned();
        let writer = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || -> StoreResult<(Connection, LogWriter)> {
                crate::private_fs::prepare_sqlite(&path).map_err(|e| StoreError::Database(e.to_string()))?;
                let mut conn = connect(&path, WRITER_PAGE_CACHE_KIB)?;
                conn.execute_batch(SCHEMA).map_err(db_err)?;
                migrate(&conn).map_err(db_err)?;
                let log = LogWriter::open(&mut conn);
                Ok((conn, log))
            })
            .await
            .map_err(|e| StoreError::Database(e.to_string()))??
        };
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        std::thread::Builder::new()
            .name("handoff-sqlite-writer".into())
            .spawn(move || writer_loop(writer.0, writer.1, rx))
            .map_err(|e| StoreError::Database(e.to_string()))?;
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
        .map_err(|e| StoreError::Database(e.to_string()))?
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
    })
}

/// The columns `room_from_row` reads, as a macro so queries are string literals (no `format!` per
/// WebSocket handshake, which looks its room up).
macro_rules! room_columns {
    () => {
        "id, submission_id, status, interviewer, voice, created_at_ms, ended_at_ms"
    };
}

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

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    async fn insert_submission(&self, rec: SubmissionRecord) -> StoreResult<()> {
        self.write(|tx| Write::Submission(rec, tx)).await
    }

    async fn get_submission(&self, id: &str) -> StoreResult<Option<SubmissionRecord>> {
        let id = id.to_owned();
        let row = self
            .read(move |c| {
                c.query_row("SELECT id, created_at_ms, body FROM submissions WHERE id = ?1", [&id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
                })
                .optional()
            })
            .await?;
        row.map(|(id, at, body)| {
            let body = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("submission {id}: {e}")))?;
            Ok(SubmissionRecord { id, created_at_ms: at as u64, body })
        })
        .transpose()
    }

    async fn create_room(&self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord> {
        self.write(|tx| Write::Room(room, preload, tx)).await
    }

    async fn get_room(&self, id: &str) -> StoreResult<Option<RoomRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.prepare_cached(concat!("SELECT ", room_columns!(), " FROM rooms WHERE id = ?1"))?
                .query_row([&id], room_from_row)
                .optional()
        })
        .await
    }

    async fn live_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
        let id = submission_id.to_owned();
        self.read(move |c| live_room(c, &id)).await
    }

    async fn append(&self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()> {
        let queued = std::time::Instant::now();
        self.write(|tx| Write::Append(entries, snapshot, queued, tx)).await
    }

    /// The writer thread does the work and times it; the future only waits for its answer.
    fn lands_unwatched(&self) -> bool {
        true
    }

    async fn list_submissions(
        &self,
        limit: usize,
    ) -> StoreResult<Vec<(SubmissionRecord, Option<RoomRecord>)>> {
        let rows = self
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, created_at_ms, body FROM submissions ORDER BY created_at_ms DESC, id LIMIT ?1",
                )?;
                let subs = stmt
                    .query_map([limit as i64], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut out = Vec::with_capacity(subs.len());
                let mut room_stmt = c.prepare_cached(concat!(
                    "SELECT ",
                    room_columns!(),
                    " FROM rooms WHERE submission_id = ?1
                     ORDER BY status = 'live' DESC, created_at_ms DESC LIMIT 1"
                ))?;
                for (id, at, body) in subs {
                    let room = room_stmt.query_row([&id], room_from_row).optional()?;
                    out.push((id, at, body, room));
                }
                Ok(out)
            })
            .await?;
        rows.into_iter()
            .map(|(id, at, body, room)| {
                let body = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("submission {id}: {e}")))?;
                Ok((SubmissionRecord { id, created_at_ms: at as u64, body }, room))
            })
            .collect()
    }

    async fn end_room(&self, room_id: &str, at_ms: u64) -> StoreResult<Option<RoomRecord>> {
        let id = room_id.to_owned();
        self.exec(move |c| {
            c.execute(
                "UPDATE rooms SET status = 'ended', ended_at_ms = ?2 WHERE id = ?1 AND status = 'live'",
                params![id, at_ms as i64],
            )?;
            Ok(())
        })
        .await?;
        self.get_room(room_id).await
    }

    async fn reopen_room(&self, room_id: &str) -> StoreResult<Option<RoomRecord>> {
        let id = room_id.to_owned();
        self.exec(move |c| {
            c.execute("UPDATE rooms SET status = 'live', ended_at_ms = NULL WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await?;
        self.get_room(room_id).await
    }

    async fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.id FROM submissions s WHERE s.created_at_ms < ?1
                   AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.submission_id = s.id
                                   AND (r.status = 'live' OR r.ended_at_ms IS NULL OR r.ended_at_ms >= ?1))
                 ORDER BY s.created_at_ms LIMIT ?2",
            )?;
            stmt.query_map(params![cutoff_ms as i64, limit as i64], |r| r.get::<_, String>(0))?.collect()
        })
        .await
    }

    async fn idle_live_rooms(&self, cutoff_ms: u64) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT r.id FROM rooms r WHERE r.status = 'live' AND r.created_at_ms < ?1
                   AND NOT EXISTS (SELECT 1 FROM room_log l WHERE l.room_id = r.id AND l.at_ms >= ?1)
                   AND r.id NOT IN ({ACTIVE_SINCE_SQL})
                   AND NOT EXISTS (SELECT 1 FROM room_presence p WHERE p.room_id = r.id AND p.at_ms >= ?1)",
            ))?;
            stmt.query_map([cutoff_ms as i64], |r| r.get::<_, String>(0))?.collect()
        })
        .await
    }

    async fn count_live_rooms(&self) -> StoreResult<u64> {
        self.read(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM rooms WHERE status = 'live'")?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        })
        .await
    }

    async fn room_log(&self, room_id: &str) -> StoreResult<Vec<LogRow>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(LOG_SQL)?;
            stmt.query_map([&id], |r| {
                Ok(LogRow {
                    seq: r.get::<_, i64>(0)? as u64,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    author: r.get(2)?,
                    role: Role::parse(&r.get::<_, String>(3)?),
                    conn_id: r.get::<_, i64>(4)? as u64,
                    update: r.get(5)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn enqueue_webhook(&self, room_id: &str, url: &str, body: String, now_ms: u64) -> StoreResult<()> {
        let (id, url) = (room_id.to_owned(), url.to_owned());
        self.exec(move |c| {
                    c.execute(
                        "INSERT INTO webhook_deliveries (room_id, url, body, status, attempts, next_attempt_ms, created_at_ms)
                         VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4)",
                        params![id, url, body, now_ms as i64],
                    )?;
                    Ok(())
        })
        .await
    }

    async fn due_webhooks(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<WebhookDelivery>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, room_id, url, body, attempts FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms LIMIT ?2",
            )?;
            stmt.query_map(params![now_ms as i64, limit as i64], |r| {
                Ok(WebhookDelivery {
                    id: r.get(0)?,
                    room_id: r.get(1)?,
                    url: r.get(2)?,
                    body: r.get(3)?,
                    attempts: r.get::<_, i64>(4)? as u32,
                })
            })?
            .collect()
        })
        .await
    }

    async fn record_webhook_attempt(&self, id: i64, outcome: WebhookOutcome) -> StoreResult<()> {
        self.exec(move |c| {
            match outcome {
                WebhookOutcome::Delivered { at_ms } => c.execute(
                    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,
                             delivered_at_ms = ?2, last_error = NULL WHERE id = ?1",
                    params![id, at_ms as i64],
                )?,
                WebhookOutcome::Retry { next_at_ms, error } => c.execute(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = ?2,
                             last_error = ?3 WHERE id = ?1",
                    params![id, next_at_ms as i64, error],
                )?,
                WebhookOutcome::Failed { error } => c.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1,
                             last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?,
            };
            Ok(())
        })
        .await
    }

    async fn webhook_status(&self, room_id: &str) -> StoreResult<Option<WebhookStatus>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT status, attempts, last_error, delivered_at_ms FROM webhook_deliveries
                 WHERE room_id = ?1 ORDER BY id DESC LIMIT 1",
                [&id],
                |r| {
                    Ok(WebhookStatus {
                        status: r.get(0)?,
                        attempts: r.get::<_, i64>(1)? as u32,
                        last_error: r.get(2)?,
                        delivered_at_ms: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn record_presence(&self, room_id: &str, e: PresenceEvent) -> StoreResult<()> {
        let id = room_id.to_owned();
        self.exec(move |c| {
                    // Cached: every join and leave writes one, a hundred at once in a join storm.
                    c.prepare_cached(
                        "INSERT INTO room_presence (room_id, at_ms, kind, name, role, conn_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![id, e.at_ms as i64, e.kind, e.name, e.role.as_str(), e.conn_id as i64])?;
                    Ok(())
        })
        .await
    }

    async fn presence(&self, room_id: &str) -> StoreResult<Vec<PresenceEvent>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT at_ms, kind, name, role, conn_id FROM room_presence WHERE room_id = ?1 ORDER BY at_ms, rowid",
            )?;
            stmt.query_map([&id], |r| {
                Ok(PresenceEvent {
                    at_ms: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    role: Role::parse(&r.get::<_, String>(3)?).unwrap_or(Role::Observer),
                    conn_id: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect()
        })
        .await
    }

    async fn scores(&self, room_id: &str) -> StoreResult<String> {
        let id = room_id.to_owned();
        let scores = self
            .read(move |c| {
                c.query_row("SELECT scores FROM room_scores WHERE room_id = ?1", [&id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
            })
            .await?;
        Ok(scores.unwrap_or_else(|| "[]".into()))
    }

    async fn set_scores(&self, room_id: &str, scores_json: String, at_ms: u64) -> StoreResult<()> {
        let id = room_id.to_owned();
        self.exec(move |c| {
                    c.execute(
                        "INSERT INTO room_scores (room_id, scores, updated_at_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (room_id) DO UPDATE SET scores = excluded.scores, updated_at_ms = excluded.updated_at_ms",
                        params![id, scores_json, at_ms as i64],
                    )?;
                    Ok(())
        })
        .await
    }

    async fn purge_submission(&self, submission_id: &str) -> StoreResult<Option<Vec<String>>> {
        let id = submission_id.to_owned();
        let rooms = self
            .read({
                let id = id.clone();
                move |c| {
                    let exists = c
                        .query_row("SELECT 1 FROM submissions WHERE id = ?1", [&id], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if !exists {
                        return Ok(None);
                    }
                    let mut stmt = c.prepare_cached("SELECT id FROM rooms WHERE submission_id = ?1")?;
                    let rooms = stmt
                        .query_map([&id], |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(Some(rooms))
                }
            })
            .await?;
        let Some(rooms) = rooms else { return Ok(None) };
        let doomed = rooms.clone();
        self.exec(move |c| {
            for room in &doomed {
                for table in ROOM_TABLES {
                    c.execute(&format!("DELETE FROM {table} WHERE room_id = ?1"), [room])?;
                }
            }
            c.execute("DELETE FROM rooms WHERE submission_id = ?1", [&id])?;
            c.execute("DELETE FROM submissions WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await?;
        Ok(Some(rooms))
    }

    async fn notes(&self, room_id: &str) -> StoreResult<String> {
        let id = room_id.to_owned();
        let notes = self
            .read(move |c| {
                c.query_row("SELECT notes FROM room_notes WHERE room_id = ?1", [&id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
            })
            .await?;
        Ok(notes.unwrap_or_default())
    }

    async fn set_notes(&self, room_id: &str, notes: String, at_ms: u64) -> StoreResult<()> {
        let id = room_id.to_owned();
        self.exec(move |c| {
                    c.execute(
                        "INSERT INTO room_notes (room_id, notes, updated_at_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (room_id) DO UPDATE SET notes = excluded.notes, updated_at_ms = excluded.updated_at_ms",
                        params![id, notes, at_ms as i64],
                    )?;
                    Ok(())
        })
        .await
    }

    async fn load_room(&self, room_id: &str) -> StoreResult<RoomState> {
        let id = room_id.to_owned();
        self.read(move |c| {
            let snapshot = c
                .query_row(
                    "SELECT upto_seq, at_ms, state_v1 FROM room_snapshots WHERE room_id = ?1",
                    [&id],
                    |r| {
                        Ok(Snapshot {
                            room_id: Arc::from(id.as_str()),
                            upto_seq: r.get::<_, i64>(0)? as u64,
                            at_ms: r.get::<_, i64>(1)? as u64,
                            state: r.get(2)?,
                        })
                    },
                )
                .optional()?;
            let after = snapshot.as_ref().map_or(0, |s| s.upto_seq) as i64;
            let mut stmt = c.prepare_cached(TAIL_SQL)?;
            let tail = stmt
                .query_map(params![id, after], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(RoomState { snapshot, tail })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
