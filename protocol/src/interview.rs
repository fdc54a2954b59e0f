//! The interview around the editor: what promote sets for a room (its length, whether the candidate
//! sees the integrity signals), the questions the interviewer pushes during the call, the candidate's
//! notes on the integrity signals, and where a room stands (live, ended, reopenable until when).

use serde::{Deserialize, Serialize};

use crate::integrity::Flag;

/// What promote sets for a room's whole life.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomOptions {
    /// The interview's planned length in minutes; the room shows the time left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_min: Option<u32>,
    /// The candidate sees the integrity signals recorded about their async session and may add a
    /// note to each. Off unless the platform turns it on.
    #[serde(default)]
    pub candidate_sees_integrity: bool,
}

/// What promote does when the submission's latest room has ended (`on_ended` in the promote body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OnEnded {
    /// Open a new follow-up room (the default: what a client that does not send `on_ended` gets).
    #[default]
    New,
    /// Reopen the ended room, within the reopen window.
    Reopen,
}

/// What a promote did (`outcome` in its answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PromoteOutcome {
    /// A new room was opened.
    Opened,
    /// The submission's live room was returned with fresh links.
    Live,
    /// The submission's ended room was reopened.
    Reopened,
}

/// A question the interviewer pushed to the room, shown to everyone in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Question {
    /// 1 for the room's first question, then 2, 3, …
    pub n: u32,
    /// Server time it was pushed, ms since the Unix epoch.
    pub at_ms: u64,
    pub text: String,
}

/// `POST /api/v1/rooms/{id}/questions` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionBody {
    pub text: String,
}

/// `GET /api/v1/rooms/{id}/questions`, and the payload of the `question` room event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Questions {
    pub questions: Vec<Question>,
}

/// A room event sent to the members that announced `events` (message `EXT_ROOM_EVENT`, then this as
/// JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RoomEvent {
    Question(Question),
}

/// The candidate's note on one integrity signal, naming the signal by its kind and moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrityNote {
    /// The signal's `kind` (`paste`, `focus_lost`, …) as the summary names it.
    pub kind: String,
    /// The signal's `at_ms` in the async session.
    pub at_ms: u64,
    pub note: String,
    /// When the candidate wrote it, ms since the Unix epoch.
    pub written_at_ms: u64,
}

/// `PUT /api/v1/rooms/{id}/integrity/notes` body: the candidate's note on one signal (an empty note
/// removes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrityNoteBody {
    pub kind: String,
    pub at_ms: u64,
    pub note: String,
}

/// `GET /api/v1/rooms/{id}/integrity`: the signals about the candidate's own async session, with their
/// notes. The candidate reads it only where promote set `candidate_sees_integrity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CandidateIntegrity {
    pub flags: Vec<Flag>,
    pub notes: Vec<IntegrityNote>,
}
