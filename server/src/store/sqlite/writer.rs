//! The writer thread: every write of the embedded store goes through it, drained into one transaction
//! per group commit, each write in its own savepoint so one failure fails alone.

use std::sync::Arc;

use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use super::log::LogWriter;
use super::tuning::{GROUP_COMMIT_GATHER_MS, GROUP_COMMIT_MAX_ROWS};
use super::{db_error, live_room};
use crate::metrics::METRICS;
use crate::store::{LogEntry, Missing, RoomRecord, Snapshot, StoreError, StoreResult, SubmissionRecord};

/// A write the writer thread runs as given.
pub(super) type Statement = Box<dyn FnOnce(&Connection) -> rusqlite::Result<()> + Send>;

pub(super) enum Write {
    Submission(SubmissionRecord, oneshot::Sender<StoreResult<()>>),
    Room(RoomRecord, LogEntry, oneshot::Sender<StoreResult<RoomRecord>>),
    /// The instant is when the append was queued: the writer times commits itself
    /// (`commits_complete_without_polling`).
    Append(Vec<LogEntry>, Option<Snapshot>, std::time::Instant, oneshot::Sender<StoreResult<()>>),
    /// Any other write: one closure run inside the group's transaction.
    Exec(Statement, oneshot::Sender<StoreResult<()>>),
}

impl Write {
    fn rows(&self) -> usize {
        match self {
            Write::Append(entries, ..) => entries.len().max(1),
            _ => 1,
        }
    }
}

/// The writer thread: take one write, then everything already queued behind it (up to
/// `GROUP_COMMIT_MAX_ROWS` rows), and commit them as one transaction. Each write runs in its own
/// savepoint so one failing write fails alone. Between groups, the log's recent rows are folded when due.
pub(super) fn writer_loop(mut conn: Connection, mut log: LogWriter, mut rx: mpsc::Receiver<Write>) {
    let gather = std::time::Duration::from_millis(GROUP_COMMIT_GATHER_MS);
    // When the last group began, if it held more than one write (the writer is busy).
    let mut last_busy_commit: Option<std::time::Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        // Under load a commit follows the previous one at once, so every fsync carries only what queued
        // during the last one. Spacing commits by at least `gather` lets more writes join each group:
        // fewer fsyncs for the same rows (perf showed the block device's notifications near 8 % of the
        // server's CPU at 1000 rooms). A writer whose last group was a lone write is idle and commits at
        // once: a promote right after its submission must not wait out the spacing.
        if let Some(since) = last_busy_commit.map(|t| t.elapsed())
            && since < gather
        {
            std::thread::sleep(gather - since);
        }
        let mut rows = first.rows();
        let mut batch = vec![first];
        while rows < GROUP_COMMIT_MAX_ROWS {
            match rx.try_recv() {
                Ok(w) => {
                    rows += w.rows();
                    batch.push(w);
                }
                Err(_) => break,
            }
        }
        last_busy_commit = (batch.len() > 1).then(std::time::Instant::now);
        commit_batch(&mut conn, &mut log, batch);
        log.fold_if_due(&mut conn);
    }
    tracing::debug!("sqlite writer stopped");
}

enum Done {
    Unit(oneshot::Sender<StoreResult<()>>, StoreResult<()>),
    Room(oneshot::Sender<StoreResult<RoomRecord>>, StoreResult<RoomRecord>),
}

fn commit_batch(conn: &mut Connection, log: &mut LogWriter, batch: Vec<Write>) {
    let mut done = Vec::with_capacity(batch.len());
    let mut appends_queued = Vec::new();
    let txn = match conn.transaction() {
        Ok(t) => t,
        Err(e) => {
            let err = Arc::new(e);
            for w in batch {
                fail(w, &err);
            }
            return;
        }
    };
    // A broken foreign key means a missing room, except in a write that inserts a room, whose one
    // foreign key is its submission's.
    let refers_to_room = |e| db_error(e, Missing::Room);
    for w in batch {
        match w {
            Write::Submission(rec, reply) => {
                let inserted = in_savepoint(&txn, |c| insert_submission(c, &rec)).map_err(refers_to_room);
                done.push(Done::Unit(reply, inserted))
            }
            Write::Room(room, preload, reply) => {
                let created = in_savepoint(&txn, |c| create_room(c, log, &room, &preload))
                    .map_err(|e| db_error(e, Missing::Submission));
                done.push(Done::Room(reply, created))
            }
            Write::Append(entries, snapshot, queued, reply) => {
                let appended = in_savepoint(&txn, |c| log.append(c, &entries, snapshot.as_ref()))
                    .map_err(refers_to_room);
                // A refused append (its savepoint rolled back) is no commit to time.
                if appended.is_ok() {
                    appends_queued.push(queued);
                }
                done.push(Done::Unit(reply, appended))
            }
            Write::Exec(f, reply) => {
                done.push(Done::Unit(reply, in_savepoint(&txn, f).map_err(refers_to_room)))
            }
        }
    }
    // Shared: every write of the group fails with the one error, each keeping it as its cause.
    let committed = txn.commit().map_err(Arc::new);
    if committed.is_ok() {
        for queued in appends_queued {
            METRICS.commit_seconds.observe(queued.elapsed().as_secs_f64());
        }
    }
    for d in done {
        match (d, &committed) {
            (Done::Unit(reply, result), Ok(())) => drop(reply.send(result)),
            (Done::Room(reply, result), Ok(())) => drop(reply.send(result)),
            (Done::Unit(reply, _), Err(e)) => drop(reply.send(Err(shared(e)))),
            (Done::Room(reply, _), Err(e)) => drop(reply.send(Err(shared(e)))),
        }
    }
}

/// One failure of a whole group, as the error of each write in it.
fn shared(e: &Arc<rusqlite::Error>) -> StoreError {
    StoreError::backend(Arc::clone(e))
}

fn fail(w: Write, err: &Arc<rusqlite::Error>) {
    let e = || shared(err);
    match w {
        Write::Submission(_, r) | Write::Append(.., r) | Write::Exec(_, r) => drop(r.send(Err(e()))),
        Write::Room(_, _, r) => drop(r.send(Err(e()))),
    }
}

fn in_savepoint<T>(
    txn: &rusqlite::Transaction<'_>,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    // Cached statements: one savepoint per write, thousands a second under load, would otherwise each
    // be parsed anew.
    txn.prepare_cached("SAVEPOINT w").and_then(|mut s| s.execute([]))?;
    match f(txn) {
        Ok(v) => {
            txn.prepare_cached("RELEASE w").and_then(|mut s| s.execute([]))?;
            Ok(v)
        }
        Err(e) => {
            // Undo this write only; the rest of the group still commits.
            let _ = txn.execute_batch("ROLLBACK TO w; RELEASE w");
            Err(e)
        }
    }
}

fn insert_submission(c: &Connection, rec: &SubmissionRecord) -> rusqlite::Result<()> {
    let body =
        serde_json::to_string(&rec.body).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    c.execute(
        "INSERT INTO submissions (id, created_at_ms, body) VALUES (?1, ?2, ?3)",
        params![rec.id, rec.created_at_ms as i64, body],
    )?;
    Ok(())
}

fn create_room(
    c: &Connection,
    log: &mut LogWriter,
    room: &RoomRecord,
    preload: &LogEntry,
) -> rusqlite::Result<RoomRecord> {
    if let Some(existing) = live_room(c, &room.submission_id)? {
        return Ok(existing);
    }
    c.execute(
        "INSERT INTO rooms (id, submission_id, status, interviewer, voice, created_at_ms, duration_min,
                            candidate_sees_integrity, record_voice)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            room.id,
            room.submission_id,
            room.status.as_str(),
            room.interviewer,
            room.voice,
            room.created_at_ms as i64,
            room.options.duration_min,
            room.options.candidate_sees_integrity,
            room.record_voice
        ],
    )?;
    log.append(c, std::slice::from_ref(preload), None)?;
    Ok(room.clone())
}
