//! The room's share of its log: accepted updates waiting for their group commit, the commit in flight
//! (kept so it can be retried), and when a snapshot is due. The driver hands a [`Commit`] to the store
//! and reports how it went.

use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::Role;

use super::Now;
use crate::store::{LogEntry, Snapshot};

/// Pause before retrying a failed group commit, so a struggling store is not hammered.
const COMMIT_RETRY_DELAY_MS: u64 = 500;

/// A log entry with the room clock at which the room accepted it. The store keeps the entry's wall-clock
/// `at_ms`; `room_ms` is the room's own monotonic time, which the room's other records (voice, later)
/// share, so they can be aligned with edits without trusting the wall clock.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) entry: LogEntry,
    pub(crate) room_ms: u64,
}

/// What to write to the store in one group commit.
#[derive(Debug)]
pub(crate) struct Commit {
    pub(crate) entries: Vec<LogEntry>,
    pub(crate) snapshot: Option<Snapshot>,
    /// Room time of the oldest entry: how long the commit's edits have waited, if it fails.
    pub(crate) oldest_room_ms: Option<u64>,
}

/// A commit handed to the store and not yet reported: its entries go back to the queue if it fails.
struct InFlight {
    entries: Vec<Recorded>,
    snapshotted: u64,
}

pub(super) struct Log {
    room_id: Arc<str>,
    next_seq: u64,
    pending: Vec<Recorded>,
    /// Room time at which the oldest pending entry arrived (or a failed commit may be retried).
    pending_since: Option<u64>,
    /// Accepted updates not yet covered by a snapshot, and how many make one due.
    since_snapshot: u64,
    snapshot_every: u64,
    in_flight: Option<InFlight>,
}

impl Log {
    pub(super) fn new(room_id: Arc<str>, next_seq: u64, since_snapshot: u64, snapshot_every: u64) -> Log {
        let pending = Vec::new();
        Log {
            room_id,
            next_seq,
            pending,
            pending_since: None,
            since_snapshot,
            snapshot_every,
            in_flight: None,
        }
    }

    /// Queues an accepted update under the next sequence number.
    pub(super) fn append(&mut self, author: Arc<str>, role: Role, conn_id: u64, update: Bytes, now: Now) {
        let entry = LogEntry {
            room_id: self.room_id.clone(),
            seq: self.next_seq,
            at_ms: now.wall_ms,
            author,
            role: Some(role),
            conn_id,
            update,
        };
        self.pending.push(Recorded { entry, room_ms: now.room_ms });
        self.next_seq += 1;
        self.since_snapshot += 1;
        self.pending_since.get_or_insert(now.room_ms);
    }

    /// An accepted update as a log entry without its place in the log (seq 0): the bus numbers it.
    pub(super) fn unnumbered(
        &self,
        author: Arc<str>,
        role: Role,
        conn_id: u64,
        update: Bytes,
        now: Now,
    ) -> LogEntry {
        LogEntry {
            room_id: self.room_id.clone(),
            seq: 0,
            at_ms: now.wall_ms,
            author,
            role: Some(role),
            conn_id,
            update,
        }
    }

    /// Room time since which something waits to be committed.
    pub(super) fn pending_since(&self) -> Option<u64> {
        self.pending_since
    }

    /// Entries accepted and not yet handed to the store.
    #[cfg(test)]
    pub(super) fn pending(&self) -> &[Recorded] {
        &self.pending
    }

    /// Whether the next commit carries a snapshot: every `snapshot_every` updates, and on a `last`
    /// commit whenever anything is not yet covered by one.
    pub(super) fn snapshot_due(&self, last: bool) -> bool {
        self.since_snapshot >= self.snapshot_every || (last && self.since_snapshot > 0)
    }

    /// Starts a commit of every pending entry, with a snapshot of `state` if given. `None` when there is
    /// nothing to write. The driver has reported the previous commit.
    pub(super) fn take(&mut self, state: Option<Vec<u8>>, now: Now) -> Option<Commit> {
        debug_assert!(self.in_flight.is_none(), "one commit at a time");
        self.pending_since = None;
        if self.pending.is_empty() && state.is_none() {
            return None;
        }
        let entries = std::mem::take(&mut self.pending);
        let snapshot = state.map(|state| Snapshot {
            room_id: self.room_id.clone(),
            upto_seq: self.next_seq - 1,
            at_ms: now.wall_ms,
            state,
        });
        let snapshotted = if snapshot.is_some() { std::mem::take(&mut self.since_snapshot) } else { 0 };
        let rows = entries.iter().map(|r| r.entry.clone()).collect();
        let oldest_room_ms = entries.first().map(|r| r.room_ms);
        self.in_flight = Some(InFlight { entries, snapshotted });
        Some(Commit { entries: rows, snapshot, oldest_room_ms })
    }

    /// The commit in flight is durable.
    pub(super) fn landed(&mut self) {
        self.in_flight = None;
    }

    /// The commit in flight failed: its entries go back to the front of the queue, retried after
    /// [`COMMIT_RETRY_DELAY_MS`].
    pub(super) fn failed(&mut self, now: Now) {
        let Some(flight) = self.in_flight.take() else { return };
        let mut entries = flight.entries;
        entries.append(&mut self.pending);
        self.pending = entries;
        self.since_snapshot += flight.snapshotted;
        self.pending_since = Some(now.room_ms + COMMIT_RETRY_DELAY_MS);
    }
}
