//! The interviewer's private data about a room: notes and live rubric scores. Neither is shown to the
//! candidate; both are replaced whole on every write.

use async_trait::async_trait;
use handoff_protocol::api::LiveScore;

use super::StoreResult;

#[async_trait]
pub trait Private: Send + Sync + 'static {
    /// The interviewer's notes for a room (empty when none were written).
    async fn notes(&self, room_id: &str) -> StoreResult<String>;
    /// Replaces a room's notes. Fails with `NotFound(Room)` for an unknown room.
    async fn set_notes(&self, room_id: &str, notes: String, at_ms: u64) -> StoreResult<()>;
    /// The interviewer's live scores for a room (empty when none were given).
    async fn scores(&self, room_id: &str) -> StoreResult<Vec<LiveScore>>;
    /// Replaces a room's live scores. Fails with `NotFound(Room)` for an unknown room.
    async fn set_scores(&self, room_id: &str, scores: Vec<LiveScore>, at_ms: u64) -> StoreResult<()>;
}
