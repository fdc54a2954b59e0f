//! The catalog: submissions and the rooms promoted from them, and the sweeps over them (idle rooms,
//! expired submissions, purge).

use async_trait::async_trait;
use handoff_protocol::api::{RoomStatus, RoomSummary, SubmissionRequest};
use handoff_protocol::interview::RoomOptions;

use super::{LogEntry, StoreResult};

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
    /// Whether each speaker's voice is recorded (never without `voice`).
    pub record_voice: bool,
    pub created_at_ms: u64,
    /// When the room ended (`None` while live).
    pub ended_at_ms: Option<u64>,
    /// What promote set for the room's whole life (length, what the candidate sees).
    pub options: RoomOptions,
}

impl RoomRecord {
    /// The id and status every API answer about this room carries.
    pub fn summary(&self) -> RoomSummary {
        RoomSummary { id: self.id.clone(), status: self.status }
    }
}

#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// Fails with `Conflict(SubmissionId)` if the id is taken.
    async fn insert_submission(&self, rec: SubmissionRecord) -> StoreResult<()>;
    async fn get_submission(&self, id: &str) -> StoreResult<Option<SubmissionRecord>>;

    /// Creates `room` with `preload` as its first log entry, atomically — unless the submission already has
    /// a live room, which is returned instead (promote is idempotent even when two promotes race). Fails
    /// with `NotFound(Submission)` for an unknown submission and `Conflict(RoomId)` for a taken room id.
    async fn create_room(&self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord>;
    async fn get_room(&self, id: &str) -> StoreResult<Option<RoomRecord>>;
    async fn live_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>>;
    /// The submission's live room, or else its newest room (`None` before its first promote).
    async fn latest_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>>;

    /// Submissions newest first (at most `limit`), each with its live room, or else its latest room.
    async fn list_submissions(
        &self,
        limit: usize,
    ) -> StoreResult<Vec<(SubmissionRecord, Option<RoomRecord>)>>;
    /// Marks a live room ended at `at_ms`; returns the room as it now is (`None` if unknown).
    async fn end_room(&self, room_id: &str, at_ms: u64) -> StoreResult<Option<RoomRecord>>;
    /// Makes an ended room live again; fails with `Conflict(OneLiveRoom)` if its submission has another
    /// live room meanwhile.
    async fn reopen_room(&self, room_id: &str) -> StoreResult<Option<RoomRecord>>;
    /// Submissions created before `cutoff_ms` with no live room and no room that ended after it.
    async fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> StoreResult<Vec<String>>;
    /// Live rooms with no logged edit, join or leave since `cutoff_ms` (and created before it).
    async fn idle_live_rooms(&self, cutoff_ms: u64) -> StoreResult<Vec<String>>;
    /// How many rooms are live (promoted and not ended), loaded on a node or not.
    async fn count_live_rooms(&self) -> StoreResult<u64>;
    /// Deletes everything stored for a submission: its rooms, their logs, snapshots, presence, notes,
    /// scores, recordings' rows and webhook deliveries (the recordings' files are the caller's). Returns the ids of the rooms removed, or `None` if the submission
    /// is unknown.
    async fn purge_submission(&self, submission_id: &str) -> StoreResult<Option<Vec<String>>>;
}
