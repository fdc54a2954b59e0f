//! REST request and response bodies (DESIGN §4.2). Unknown fields in requests are ignored so platforms
//! can send richer payloads than we read.

use serde::{Deserialize, Serialize};

use crate::async_replay::Warning;
use crate::integrity::IntegritySummary;
use crate::interview::{IntegrityNote, OnEnded, PromoteOutcome, RoomOptions};
use crate::role::Role;
/// The async session's content, defined below the modules that read it and part of this API's bodies.
pub use crate::submission::{AsyncEvent, FileEntry};

/// `POST /api/v1/submissions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmissionRequest {
    pub candidate: Candidate,
    pub exercise: Exercise,
    pub files: Vec<FileEntry>,
    /// The async event stream (edit, paste, focus_lost, focus_gained, run, prompt, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<AsyncEvent>,
    /// Integrity signals as the platform computed them; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<Scorecard>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Exercise {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The task as the candidate reads it, in Markdown (at most `MAX_BRIEF_BYTES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brief: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scorecard {
    pub rubric: Vec<RubricItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RubricItem {
    pub dimension: String,
    pub score: f64,
    pub max: f64,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// A cited moment: where in the async session or the code a score comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// First and last line (1-based, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<[u32; 2]>,
    pub note: String,
}

/// `201` answer to a new submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Created {
    pub id: String,
    /// Findings that did not stop the submission (e.g. `replay_mismatch`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// `GET /api/v1/submissions/{id}/replay?at_ms=`: the async session's files at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AsyncReplay {
    pub at_ms: u64,
    pub files: std::collections::BTreeMap<String, String>,
}

/// `GET /api/v1/submissions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmissionView {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    #[serde(flatten)]
    pub submission: SubmissionRequest,
    /// The submission's live room, or else its latest ended one; absent until it is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomState>,
    /// Computed by the server from `events`, alongside the platform's own `integrity`.
    pub integrity_summary: IntegritySummary,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// `POST /api/v1/submissions/{id}/promote` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromoteRequest {
    pub interviewer: Interviewer,
    #[serde(default)]
    pub voice: bool,
    /// Whether each speaker's voice is recorded (default: `voice`). Recording needs voice: with
    /// `voice: false` nothing is recorded, whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_voice: Option<bool>,
    /// Lifetime of the links in seconds (default one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_s: Option<u64>,
    /// The interview's length and what the candidate sees; set when a room opens, kept on reopen.
    #[serde(flatten)]
    pub options: RoomOptions,
    /// What to do when the submission's latest room has ended: `new` (default) or `reopen`.
    #[serde(default)]
    pub on_ended: OnEnded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interviewer {
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoomStatus {
    Live,
    Ended,
}

impl RoomStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomStatus::Live => "live",
            RoomStatus::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<RoomStatus> {
        [RoomStatus::Live, RoomStatus::Ended].into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSummary {
    pub id: String,
    pub status: RoomStatus,
}

/// Where a room stands, as the submission and the dashboard show it: a [`RoomSummary`] with its times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomState {
    pub id: String,
    pub status: RoomStatus,
    /// When the room opened, ms since the Unix epoch.
    pub started_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<u64>,
    /// Until when an ended room may be reopened (absent while live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopen_until_ms: Option<u64>,
}

/// One token or link per role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerRole {
    pub interviewer: String,
    pub candidate: String,
    pub observer: String,
}

/// Answer to promote: everything needed to open the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromoteResponse {
    pub room: RoomSummary,
    /// `opened` (a new room), `live` (the submission's live room) or `reopened` (its ended room).
    pub outcome: PromoteOutcome,
    /// Base WebSocket URL for `WebsocketProvider(ws_url, room.id, doc, { params: { token } })`.
    pub ws_url: String,
    pub tokens: PerRole,
    /// Browser URLs that open the room in each role.
    pub links: PerRole,
    /// When the tokens and links expire, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

/// `GET /api/v1/rooms/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomView {
    pub id: String,
    pub submission_id: String,
    pub status: RoomStatus,
    pub interviewer: String,
    pub voice: bool,
    /// Whether each speaker's voice is recorded (the export lists the recordings).
    pub record_voice: bool,
    pub created_at_ms: u64,
    /// Clients connected to this room on this node right now.
    pub connected: usize,
    /// The room-ended webhook, once the room has ended and a webhook URL is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookStatus>,
}

/// Every API error body: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `GET /api/v1/submissions`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmissionList {
    pub submissions: Vec<SubmissionListItem>,
}

/// One row of the dashboard's submissions list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmissionListItem {
    pub id: String,
    pub created_at_ms: u64,
    pub candidate: Candidate,
    pub exercise: Exercise,
    pub file_count: usize,
    /// Flags in the computed integrity summary.
    pub integrity_flags: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorecard: Option<ScoreTotal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomState>,
}

/// A scorecard reduced to its totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreTotal {
    pub score: f64,
    pub max: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl ScoreTotal {
    pub fn of(card: &Scorecard) -> ScoreTotal {
        ScoreTotal {
            score: card.rubric.iter().map(|r| r.score).sum(),
            max: card.rubric.iter().map(|r| r.max).sum(),
            summary: card.summary.clone(),
        }
    }
}

/// The caller of a room-scoped call, from its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct You {
    pub role: Role,
    pub name: String,
}

/// `GET /api/v1/rooms/{id}/session`: what every participant needs to open the room. Holds nothing
/// interviewer-private: the candidate's own files and names only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSession {
    pub room: RoomSummary,
    pub you: You,
    pub exercise: Exercise,
    pub candidate: CandidateName,
    /// The files as submitted, frozen: the base of the diff view.
    pub submission_files: Vec<FileEntry>,
    pub voice: bool,
    /// Whether joining voice means being recorded: the candidate is told so before joining.
    pub record_voice: bool,
    pub ws_url: String,
    /// Where the room stands: when it opened and, once ended, until when it may be reopened.
    pub state: RoomState,
    /// The interview's planned length in minutes, when promote gave one. (Whether the candidate sees
    /// the integrity signals is not said here: `GET …/integrity` answers the candidate or refuses.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_min: Option<u32>,
    /// The server's clock when it answered, ms since the Unix epoch: the room's clock counts from
    /// `state.started_at_ms` on this clock, whatever the browser's clock says.
    pub now_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CandidateName {
    pub name: String,
}

/// `GET /api/v1/rooms/{id}/private`: the interviewer-only panel. Never sent to another role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrivatePanel {
    pub integrity: Option<serde_json::Value>,
    pub integrity_summary: IntegritySummary,
    pub scorecard: Option<Scorecard>,
    pub events: Vec<AsyncEvent>,
    pub notes: String,
    /// The interviewer's live rubric scores (empty until scored).
    #[serde(default)]
    pub live_scores: Vec<LiveScore>,
    /// The candidate's notes on the integrity signals, shown beside each flag.
    #[serde(default)]
    pub integrity_notes: Vec<IntegrityNote>,
}

/// One live rubric score by the interviewer, citing moments of the live session (`seq` of a timeline
/// edit, or `at_ms`) or of the async session (`async_at_ms`), and code (`file`, `lines`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveScore {
    pub dimension: String,
    pub score: f64,
    pub max: f64,
    #[serde(default)]
    pub evidence: Vec<Moment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Moment {
    /// A live timeline edit (`seq` of the room log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Server time of a live moment, ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    /// A moment of the async session (`at_ms` of its event stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<[u32; 2]>,
    #[serde(default)]
    pub note: String,
}

/// `PUT /api/v1/rooms/{id}/scores` body: replaces the room's live scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoresBody {
    pub scores: Vec<LiveScore>,
}

/// `PUT /api/v1/rooms/{id}/notes` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotesBody {
    pub notes: String,
}

/// Answer to `POST /api/v1/rooms/{id}/end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ended {
    pub room: RoomSummary,
}

/// Where the room-ended webhook stands (`GET /api/v1/rooms/{id}` → `webhook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookStatus {
    pub status: DeliveryState,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at_ms: Option<u64>,
}

/// Where one webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet; another attempt is due.
    Pending,
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryState {
    /// Its wire name, also how the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Reads a wire name.
    pub fn parse(name: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}
