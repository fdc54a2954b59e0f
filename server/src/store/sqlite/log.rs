//! The room log on disk, written in two steps.
//!
//! A group commit appends its rows to `room_log_recent`, a rowid table with no index: the rows of one
//! commit sit side by side at the table's end, so the commit writes a few pages however many rooms it
//! holds. Written straight into `room_log`, keyed by room, each room in a commit cost a 4 KiB page of
//! its own, written to the WAL, synced and checkpointed; at 300 typing rooms that was most of the writer
//! thread's CPU (docs/PERFORMANCE.md, eighth run). Every [`LOG_FOLD_ROWS`] rows, or
//! [`LOG_FOLD_INTERVAL_MS`] after the first, the writer folds the recent rows into `room_log` in one
//! transaction, sorted by room, so each room's page is written once per fold instead of once per commit.
//! An update of [`DIRECT_ROW_BYTES`] or more (a submission's preload, a large paste) goes straight into
//! `room_log`.
//!
//! Readers query both tables in one statement, which SQLite answers from one snapshot, so a fold is
//! never seen half done. A reader scans the recent table (no index), which the fold bounds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handoff_protocol::Role;
use rusqlite::{Connection, OptionalExtension, params};

use super::tuning::{DIRECT_ROW_BYTES, LOG_FOLD_INTERVAL_MS, LOG_FOLD_ROWS};
use crate::store::{LogEntry, Snapshot};

/// The columns of a log row, in the order both tables hold them (see `schema.rs`).
macro_rules! log_row {
    () => {
        "room_id, seq, at_ms, author, role, conn_id, update_v1"
    };
}

/// Inserts one log row (`?1`…`?7` in [`log_row`]'s order) into the table named in front of it.
macro_rules! insert_row {
    ($table:literal) => {
        concat!("INSERT INTO ", $table, " (", log_row!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
    };
}

/// One room's log after a seq, both tables, in seq order: `?1` room, `?2` seq.
pub(super) const TAIL_SQL: &str = "SELECT seq, update_v1 FROM room_log WHERE room_id = ?1 AND seq > ?2
    UNION ALL SELECT seq, update_v1 FROM room_log_recent WHERE room_id = ?1 AND seq > ?2 ORDER BY seq";

/// One room's whole log with authorship, both tables, in seq order: `?1` room.
pub(super) const LOG_SQL: &str =
    "SELECT seq, at_ms, author, role, conn_id, update_v1 FROM room_log WHERE room_id = ?1
    UNION ALL SELECT seq, at_ms, author, role, conn_id, update_v1 FROM room_log_recent WHERE room_id = ?1
    ORDER BY seq";

/// Rooms with a log row at or after `?1`, both tables; the recent table is read once, not per room.
pub(super) const ACTIVE_SINCE_SQL: &str = "SELECT room_id FROM room_log_recent WHERE at_ms >= ?1";

/// The writer thread's side of the log: appends, the check that a seq is written once, and folds.
pub(super) struct LogWriter {
    /// The highest seq appended per room since the last fold. Rooms missing here have no recent rows
    /// (while `complete`), so their newest seq is `room_log`'s, found through its key. A rolled-back
    /// append leaves an entry too high, which only sends a later append to the exact check.
    newest: HashMap<Arc<str>, u64>,
    /// False while the recent table may hold rows `newest` does not know: a fold at start-up failed.
    complete: bool,
    /// Rows appended since the last fold (a rolled-back append leaves the count high: an early fold).
    recent_rows: usize,
    /// When the next fold is due by time: the interval after the first row since the last fold.
    fold_at: Option<Instant>,
    /// After a failed fold, when to try again.
    retry_at: Option<Instant>,
}

impl LogWriter {
    /// Folds whatever an earlier run left in the recent table, so the writer starts knowing every row.
    pub(super) fn open(conn: &mut Connection) -> LogWriter {
        let mut log = LogWriter {
            newest: HashMap::new(),
            complete: false,
            recent_rows: 0,
            fold_at: None,
            retry_at: None,
        };
        log.fold(conn, Instant::now());
        log
    }

    /// Appends entries (any rooms, any order) and a snapshot. An entry already stored as given (a retry,
    /// or a twin earlier in the append) is skipped. Fails, writing nothing the caller's savepoint keeps,
    /// if an entry's (room, seq) holds a different entry.
    pub(super) fn append(
        &mut self,
        c: &Connection,
        entries: &[LogEntry],
        snapshot: Option<&Snapshot>,
    ) -> rusqlite::Result<()> {
        let mut recent = c.prepare_cached(insert_row!("room_log_recent"))?;
        // Taken from the statement cache only for a large row: a typing room's append has none, and each
        // look-up hashes the SQL text.
        let mut direct = None;
        for e in entries {
            if !self.claim(c, e)? {
                continue;
            }
            let large = e.update.len() >= DIRECT_ROW_BYTES;
            let insert = if large {
                match &mut direct {
                    Some(stmt) => stmt,
                    None => direct.insert(c.prepare_cached(insert_row!("room_log"))?),
                }
            } else {
                &mut recent
            };
            insert.execute(params![
                &*e.room_id,
                e.seq as i64,
                e.at_ms as i64,
                &*e.author,
                e.role.map_or("system", Role::as_str),
                e.conn_id as i64,
                &e.update[..]
            ])?;
            if !large {
                self.recent_rows += 1;
            }
        }
        if self.recent_rows > 0 && self.fold_at.is_none() {
            self.fold_at = Some(Instant::now() + Duration::from_millis(LOG_FOLD_INTERVAL_MS));
        }
        if let Some(s) = snapshot {
            c.execute(
                "INSERT INTO room_snapshots (room_id, upto_seq, at_ms, state_v1) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (room_id) DO UPDATE SET upto_seq = excluded.upto_seq, at_ms = excluded.at_ms, state_v1 = excluded.state_v1
                 WHERE excluded.upto_seq > room_snapshots.upto_seq",
                params![&*s.room_id, s.upto_seq as i64, s.at_ms as i64, s.state],
            )?;
        }
        Ok(())
    }

    /// Whether `e` is still to be written (false: that very entry is stored), and records its seq as
    /// the room's newest; fails if its seq holds another entry. A seq above the room's newest (every
    /// append in order) costs a map look-up; only one at or below it (a retry, or a clash) is looked for
    /// in both tables.
    fn claim(&mut self, c: &Connection, e: &LogEntry) -> rusqlite::Result<bool> {
        // Updated in place: a room already known costs no key clone and no second hash.
        if let Some(newest) = self.newest.get_mut(&e.room_id) {
            let (after, new) = unwritten(c, e, *newest)?;
            *newest = after;
            return Ok(new);
        }
        let (newest, new) = unwritten(c, e, self.newest_written(c, &e.room_id)?)?;
        self.newest.insert(e.room_id.clone(), newest);
        Ok(new)
    }

    fn newest_written(&self, c: &Connection, room: &str) -> rusqlite::Result<u64> {
        let sql = if self.complete {
            "SELECT max(seq) FROM room_log WHERE room_id = ?1"
        } else {
            "SELECT max(seq) FROM (SELECT seq FROM room_log WHERE room_id = ?1
                                   UNION ALL SELECT seq FROM room_log_recent WHERE room_id = ?1)"
        };
        let max: Option<i64> = c.prepare_cached(sql)?.query_row([room], |r| r.get(0))?;
        Ok(max.map_or(0, |m| m as u64))
    }

    /// Whether a fold is due at `now`: enough rows, or the interval is up, unless a failed fold's retry
    /// is still ahead (the row count would otherwise retry it after every commit).
    fn due(&self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|t| now < t) {
            return false;
        }
        self.recent_rows >= LOG_FOLD_ROWS || self.fold_at.is_some_and(|t| now >= t)
    }

    /// Folds if due; called by the writer after each group commit, outside its transaction.
    pub(super) fn fold_if_due(&mut self, conn: &mut Connection) {
        let now = Instant::now();
        if self.due(now) {
            self.fold(conn, now);
        }
    }

    /// Moves every recent row into `room_log` in one transaction. On failure the rows stay where they
    /// are, still read and still durable, and the fold is retried an interval later.
    fn fold(&mut self, conn: &mut Connection, now: Instant) {
        match fold(conn) {
            Ok(moved) => {
                tracing::debug!(moved, ms = now.elapsed().as_millis() as u64, "room log folded");
                self.newest.clear();
                self.complete = true;
                self.recent_rows = 0;
                self.fold_at = None;
                self.retry_at = None;
            }
            Err(error) => {
                tracing::error!(%error, "folding the recent room log failed; will retry");
                self.retry_at = Some(now + Duration::from_millis(LOG_FOLD_INTERVAL_MS));
            }
        }
    }
}

/// Moves the recent rows into `room_log`, sorted by its key so each room's page is written once.
fn fold(conn: &mut Connection) -> rusqlite::Result<usize> {
    let txn = conn.transaction()?;
    let moved = txn.execute(
        concat!(
            "INSERT INTO room_log (",
            log_row!(),
            ") SELECT ",
            log_row!(),
            " FROM room_log_recent ORDER BY room_id, seq"
        ),
        [],
    )?;
    // No WHERE: SQLite empties the table wholesale instead of deleting row by row.
    txn.execute("DELETE FROM room_log_recent", [])?;
    txn.commit()?;
    Ok(moved)
}

/// For `e` in a room whose newest seq is `newest`: the newest after it, and whether `e` is still to be
/// written (false when that very entry is stored). Fails if its seq holds a different entry.
fn unwritten(c: &Connection, e: &LogEntry, newest: u64) -> rusqlite::Result<(u64, bool)> {
    let after = newest.max(e.seq);
    if e.seq > newest {
        return Ok((after, true));
    }
    match stored_alike(c, e)? {
        None => Ok((after, true)),
        Some(true) => Ok((after, false)),
        Some(false) => Err(clash()),
    }
}

/// Whether the entry stored at `e`'s (room, seq), in either table, is `e` itself (`None`: none is).
fn stored_alike(c: &Connection, e: &LogEntry) -> rusqlite::Result<Option<bool>> {
    c.prepare_cached(
        "SELECT at_ms, author, role, conn_id, update_v1 FROM room_log WHERE room_id = ?1 AND seq = ?2
         UNION ALL SELECT at_ms, author, role, conn_id, update_v1 FROM room_log_recent
         WHERE room_id = ?1 AND seq = ?2 LIMIT 1",
    )?
    .query_row(params![&*e.room_id, e.seq as i64], |r| {
        Ok(r.get::<_, i64>(0)? == e.at_ms as i64
            && r.get_ref(1)?.as_str()? == &*e.author
            && r.get_ref(2)?.as_str()? == e.role.map_or("system", Role::as_str)
            && r.get::<_, i64>(3)? == e.conn_id as i64
            && r.get_ref(4)?.as_blob()? == &e.update[..])
    })
    .optional()
}

/// The error `room_log`'s key gives for a seq written twice, so callers see one error either way.
fn clash() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY),
        Some("UNIQUE constraint failed: room_log.room_id, room_log.seq".into()),
    )
}

#[cfg(test)]
mod tests;
