//! The voice recordings of a room: one row per speaker's file, written by the recording service when
//! the file opens, every few seconds of audio, and when it is finished. The audio itself lives in files in the data dir; the
//! row says whose it is, where it starts on the room clock and how the file maps onto that clock.

use async_trait::async_trait;
use handoff_protocol::Role;
use handoff_protocol::recording::Anchor;

use super::StoreResult;

/// One speaker's recording, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRecord {
    pub id: String,
    pub room_id: String,
    /// The server's id of the speaker's connection (the `member` of voice signalling).
    pub member: u64,
    pub name: String,
    pub role: Role,
    /// The room-clock ms of the file's first sample.
    pub started_at_ms: u64,
    pub duration_ms: u64,
    /// The file, relative to the recordings directory in the data dir.
    pub path: String,
    /// Room clock ↔ sample position, oldest first.
    pub anchors: Vec<Anchor>,
}

#[async_trait]
pub trait Recordings: Send + Sync + 'static {
    /// Inserts a recording, or updates the duration and anchors of the one with its id unless the
    /// stored one is longer (saves of a growing file may land out of order). Fails with
    /// `NotFound(Room)` for an unknown room (a room purged while it was recorded keeps no row).
    async fn save_recording(&self, rec: RecordingRecord) -> StoreResult<()>;
    /// A room's recordings, oldest first (then by id).
    async fn recordings(&self, room_id: &str) -> StoreResult<Vec<RecordingRecord>>;
    /// One recording of a room; `None` when the room has no recording with that id.
    async fn recording(&self, room_id: &str, id: &str) -> StoreResult<Option<RecordingRecord>>;
}
