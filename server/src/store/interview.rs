//! What a room keeps of the interview around the editor: the questions the interviewer pushed, in
//! order, and the candidate's notes on the integrity signals of their async session.

use async_trait::async_trait;
use handoff_protocol::interview::{IntegrityNote, Question};

use super::StoreResult;

#[async_trait]
pub trait Interview: Send + Sync + 'static {
    /// A room's questions, oldest first (`n` = 1, 2, …).
    async fn questions(&self, room_id: &str) -> StoreResult<Vec<Question>>;
    /// Appends a question as the room's next (`n` one past the last) and returns it. Fails with
    /// `NotFound(Room)` for an unknown room.
    async fn add_question(&self, room_id: &str, text: String, at_ms: u64) -> StoreResult<Question>;
    /// The candidate's notes on a room's integrity signals, in the order of the signals' `at_ms`.
    async fn integrity_notes(&self, room_id: &str) -> StoreResult<Vec<IntegrityNote>>;
    /// Sets the note on the signal `(kind, at_ms)`, replacing any earlier one. Fails with
    /// `NotFound(Room)` for an unknown room. An empty note removes the signal's note (removing none is
    /// no error, whatever the room).
    async fn set_integrity_note(&self, room_id: &str, note: IntegrityNote) -> StoreResult<()>;
}
