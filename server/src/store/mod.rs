//! Durable storage behind one trait, so the embedded SQLite default and the PostgreSQL backend of a
//! cluster are interchangeable; `memory://` keeps everything in memory instead (benchmarks, demos). The
//! room log is append-only: it is both how a room is rebuilt and the session record (timeline, replay,
//! authorship).

mod memory;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use handoff_protocol::Role;
use handoff_protocol::api::{RoomStatus, SubmissionRequest};

pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    #[error("unsupported store url {0:?} (use sqlite://PATH or memory://)")]
    UnsupportedUrl(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A submission as stored: the integrator's body plus what the server assigned.
#[derive(Debug, Clone)]
pub struct SubmissionRecord {
    pub id: String,
    pub created_at_ms: u64,
    pub body: SubmissionRequest,
}

/// A room's durable metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: String,
    pub submission_id: String,
    pub status: RoomStatus,
    pub interviewer: String,
    pub voice: bool,
    pub created_at_ms: u64,
    /// When the room ended (`None` while live).
    pub ended_at_ms: Option<u64>,
}

impl RoomRecord {
    /// The id and status every API answer about this room carries.
    pub fn summary(&self) -> handoff_protocol::api::RoomSummary {
        handoff_protocol::api::RoomSummary { id: self.id.clone(), status: self.status }
    }
}

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

/// A webhook delivery waiting for its next attempt.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: i64,
    pub room_id: String,
    pub url: String,
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// What one webhook attempt came to.
#[derive(Debug, Clone)]
pub enum WebhookOutcome {
    Delivered { at_ms: u64 },
    Retry { next_at_ms: u64, error: String },
    Failed { error: String },
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
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip proving the store answers (readiness).
    async fn ping(&self) -> StoreResult<()>;

    async fn insert_submission(&self, rec: SubmissionRecord) -> StoreResult<()>;
    async fn get_submission(&self, id: &str) -> StoreResult<Option<SubmissionRecord>>;

    /// Creates `room` with `preload` as its first log entry, atomically — unless the submission already has
    /// a live room, which is returned instead (promote is idempotent even when two promotes race).
    async fn create_room(&self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord>;
    async fn get_room(&self, id: &str) -> StoreResult<Option<RoomRecord>>;
    async fn live_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>>;

    /// Appends accepted updates (any rooms, each room's in seq order) and optionally a snapshot, in one
    /// group commit. Returns once they are durable.
    async fn append(&self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()>;
    /// Whether an `append` future, once polled, completes without being polled again (its work is done
    /// elsewhere), and the store records `handoff_store_commit_seconds` itself. A room then looks at its
    /// commit only when it wakes anyway, instead of being woken for it (see `Flight::watched`). A store
    /// whose append is driven by its future's polls (a network client) must answer false.
    fn lands_unwatched(&self) -> bool {
        false
    }
    async fn load_room(&self, room_id: &str) -> StoreResult<RoomState>;

    /// Submissions newest first (at most `limit`), each with its live room, or else its latest room.
    async fn list_submissions(
        &self,
        limit: usize,
    ) -> StoreResult<Vec<(SubmissionRecord, Option<RoomRecord>)>>;
    /// Marks a live room ended at `at_ms`; returns the room as it now is (`None` if unknown).
    async fn end_room(&self, room_id: &str, at_ms: u64) -> StoreResult<Option<RoomRecord>>;
    /// Makes an ended room live again; fails if its submission has another live room meanwhile.
    async fn reopen_room(&self, room_id: &str) -> StoreResult<Option<RoomRecord>>;
    /// Submissions created before `cutoff_ms` with no live room and no room that ended after it.
    async fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> StoreResult<Vec<String>>;
    /// Live rooms with no logged edit, join or leave since `cutoff_ms` (and created before it).
    async fn idle_live_rooms(&self, cutoff_ms: u64) -> StoreResult<Vec<String>>;
    /// How many rooms are live (promoted and not ended), loaded on a node or not.
    async fn count_live_rooms(&self) -> StoreResult<u64>;
    /// A room's whole log, in seq order.
    async fn room_log(&self, room_id: &str) -> StoreResult<Vec<LogRow>>;
    /// Queues the room-ended webhook for delivery (kept across restarts).
    async fn enqueue_webhook(&self, room_id: &str, url: &str, body: String, now_ms: u64) -> StoreResult<()>;
    /// Pending deliveries whose next attempt is due.
    async fn due_webhooks(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<WebhookDelivery>>;
    async fn record_webhook_attempt(&self, id: i64, outcome: WebhookOutcome) -> StoreResult<()>;
    /// The newest delivery of a room's webhook.
    async fn webhook_status(
        &self,
        room_id: &str,
    ) -> StoreResult<Option<handoff_protocol::api::WebhookStatus>>;
    /// The interviewer's private notes for a room (empty when none were written).
    async fn notes(&self, room_id: &str) -> StoreResult<String>;
    async fn set_notes(&self, room_id: &str, notes: String, at_ms: u64) -> StoreResult<()>;
    /// Records a connection joining or leaving a room (part of the session timeline).
    async fn record_presence(
        &self,
        room_id: &str,
        event: handoff_protocol::api::PresenceEvent,
    ) -> StoreResult<()>;
    async fn presence(&self, room_id: &str) -> StoreResult<Vec<handoff_protocol::api::PresenceEvent>>;
    /// The interviewer's live scores for a room, as JSON (empty array when none).
    async fn scores(&self, room_id: &str) -> StoreResult<String>;
    async fn set_scores(&self, room_id: &str, scores_json: String, at_ms: u64) -> StoreResult<()>;
    /// Deletes everything stored for a submission: its rooms, their logs, snapshots, notes, scores and
    /// webhook deliveries. Returns the ids of the rooms removed, or `None` if the submission is unknown.
    async fn purge_submission(&self, submission_id: &str) -> StoreResult<Option<Vec<String>>>;
}

/// The URL of the in-memory store.
pub const MEMORY_URL: &str = "memory://";

/// Opens the store named by a URL: `sqlite://PATH` (the default, in the data dir) or `memory://`
/// (nothing survives a restart).
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url == MEMORY_URL {
        tracing::warn!("in-memory store: nothing is written to disk and nothing survives a restart");
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = SqliteStore::open(std::path::Path::new(path)).await?;
        return Ok(Arc::new(store));
    }
    Err(StoreError::UnsupportedUrl(url.to_owned()))
}
