//! The room log: what a room writes as it runs (accepted updates, snapshots, who joined and left) and
//! reads back to load. It is append-only: both how a room is rebuilt and the session record (timeline,
//! replay, authorship). The room needs this concern of the store and no other.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use handoff_protocol::Role;
use handoff_protocol::export::PresenceEvent;

use super::StoreResult;

/// One accepted document update, as recorded in the room log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub room_id: Arc<str>,
    /// Position in the room's log, from 1 (the submission's preload) upwards without gaps.
    pub seq: u64,
    /// Server time the update was accepted, milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub author: Arc<str>,
    /// `None` for updates the server itself wrote (the preload of the submission's files).
    pub role: Option<Role>,
    pub conn_id: u64,
    /// The Yjs v1 update, exactly as applied.
    pub update: Bytes,
}

impl LogEntry {
    /// Whether `other` records the same accepted update: what a retried append is told apart from a
    /// clash by (the room and seq aside, which the caller has matched).
    pub(crate) fn same_record(&self, other: &LogEntry) -> bool {
        self.at_ms == other.at_ms
            && self.author == other.author
            && self.role == other.role
            && self.conn_id == other.conn_id
            && self.update == other.update
    }
}

/// One row of a room's log as read back for the session record.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub seq: u64,
    pub at_ms: u64,
    pub author: String,
    pub role: Option<Role>,
    pub conn_id: u64,
    pub update: Vec<u8>,
}

/// A compacted room state: the whole document as one update, covering the log up to `upto_seq`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub room_id: Arc<str>,
    pub upto_seq: u64,
    pub at_ms: u64,
    pub state: Vec<u8>,
}

/// What loading a room reads: the newest snapshot and the log after it.
#[derive(Debug, Default)]
pub struct RoomState {
    pub snapshot: Option<Snapshot>,
    /// `(seq, update)` of every log entry after the snapshot, in order.
    pub tail: Vec<(u64, Vec<u8>)>,
}

impl RoomState {
    /// The sequence number the next accepted update gets.
    pub fn next_seq(&self) -> u64 {
        let last = self.tail.last().map(|(s, _)| *s).or(self.snapshot.as_ref().map(|s| s.upto_seq));
        last.unwrap_or(0) + 1
    }
}

#[async_trait]
pub trait RoomLog: Send + Sync + 'static {
    /// Appends accepted updates (any rooms, each room's in seq order) and optionally a snapshot, in one
    /// group commit. Returns once they are durable. Idempotent: an entry whose (room, seq) already holds
    /// that same entry (a retry of an append whose answer was lost, as a network store's can be) is
    /// stored once and counts as written. Fails with `Conflict(LogSeq)`, writing nothing, if an entry's
    /// (room, seq) holds a different entry, stored or earlier in the same append. A snapshot never
    /// replaces a newer one.
    async fn append(&self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()>;

    /// Whether an `append` future, once polled, completes without being polled again, because the work
    /// runs elsewhere (a writer thread) and wakes nobody; the store then records
    /// `handoff_store_commit_seconds` itself. A room then looks at its commit only when it wakes anyway,
    /// instead of being woken for each one: hundreds of rooms woken after every group commit cost more
    /// than the commit. A store whose append is driven by its future's polls (a network client) must
    /// answer false, or its commits would stall until the room's next tick.
    fn commits_complete_without_polling(&self) -> bool {
        false
    }

    /// The newest snapshot and the log after it (empty for a room with no log).
    async fn load_room(&self, room_id: &str) -> StoreResult<RoomState>;
    /// A room's whole log, in seq order.
    async fn room_log(&self, room_id: &str) -> StoreResult<Vec<LogRow>>;

    /// The seq of the room's last stored log entry (0 for none): where a cluster's commit of the room
    /// continues.
    async fn last_seq(&self, room_id: &str) -> StoreResult<u64> {
        Ok(self.room_log(room_id).await?.last().map_or(0, |r| r.seq))
    }

    /// Records a connection joining or leaving a room (part of the session timeline). Fails with
    /// `NotFound(Room)` for an unknown room.
    async fn record_presence(&self, room_id: &str, event: PresenceEvent) -> StoreResult<()>;
    /// A room's joins and leaves by time, those at the same time in the order recorded.
    async fn presence(&self, room_id: &str) -> StoreResult<Vec<PresenceEvent>>;
}
