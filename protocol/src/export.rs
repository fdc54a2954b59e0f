//! The session record's bodies (DESIGN §4.2): the export, the timeline, the files at a moment, the
//! presence of connections and the room-ended webhook's body. They carry what [`crate::record`] computes
//! and name the room, candidate and scores with [`crate::api`]'s types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{Candidate, Exercise, LiveScore, RoomSummary};
use crate::attribution::{Authored, Edit, Source};
use crate::interview::IntegrityNote;
use crate::recording::RecordingEntry;
use crate::role::Role;

/// How a file of the room differs from the submitted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FileChangeKind {
    Added,
    Modified,
    Unchanged,
    Deleted,
}

impl FileChangeKind {
    /// Its wire name, for people reading a report.
    pub fn as_str(self) -> &'static str {
        match self {
            FileChangeKind::Added => "added",
            FileChangeKind::Modified => "modified",
            FileChangeKind::Unchanged => "unchanged",
            FileChangeKind::Deleted => "deleted",
        }
    }
}

/// Whether a connection joined or left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PresenceKind {
    Join,
    Leave,
}

impl PresenceKind {
    /// Its wire name, also how the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceKind::Join => "join",
            PresenceKind::Leave => "leave",
        }
    }

    /// Reads a wire name.
    pub fn parse(name: &str) -> Option<PresenceKind> {
        match name {
            "join" => Some(PresenceKind::Join),
            "leave" => Some(PresenceKind::Leave),
            _ => None,
        }
    }
}

/// `GET /api/v1/rooms/{id}/timeline`: every attributed change of the live session, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timeline {
    pub room: RoomSummary,
    /// When the room opened (its preload), ms since the Unix epoch; `at_ms` of edits is absolute.
    pub started_at_ms: u64,
    pub edits: Vec<Edit>,
    /// Joins and leaves of the room's connections, oldest first.
    pub presence: Vec<PresenceEvent>,
}

/// A connection joining or leaving a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresenceEvent {
    pub at_ms: u64,
    pub kind: PresenceKind,
    pub name: String,
    pub role: Role,
    pub conn_id: u64,
}

/// `GET /api/v1/rooms/{id}/replay?at_ms=`: the files at a moment of the live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replay {
    /// Milliseconds after the room opened (0 = the submission as preloaded).
    pub at_ms: u64,
    pub files: BTreeMap<String, String>,
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportFile {
    pub path: String,
    pub content: String,
    pub change: FileChangeKind,
    /// Unified diff against the submitted file (empty when unchanged).
    pub diff: String,
    pub authorship: Vec<Authored>,
}

/// `GET /api/v1/rooms/{id}/export`: the session record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Export {
    pub room: RoomSummary,
    pub submission_id: String,
    pub candidate: Candidate,
    pub exercise: Exercise,
    pub interviewer: String,
    pub started_at_ms: u64,
    /// When the room ended, ms since the Unix epoch (`None` while live).
    #[serde(default)]
    pub ended_at_ms: Option<u64>,
    /// From start to end (`None` while live).
    #[serde(default)]
    pub duration_ms: Option<u64>,
    pub files: Vec<ExportFile>,
    /// Every attributed change, one entry per change, for machines.
    pub timeline: Vec<Edit>,
    /// The timeline condensed for people: edits grouped into runs per author and file.
    #[serde(default)]
    pub runs: Vec<EditRun>,
    /// Joins and leaves of the room's connections, oldest first.
    #[serde(default)]
    pub presence: Vec<PresenceEvent>,
    pub notes: String,
    pub live_scores: Vec<LiveScore>,
    /// The candidate's notes on the integrity signals of their async session.
    #[serde(default)]
    pub integrity_notes: Vec<IntegrityNote>,
    /// Whether the room had a voice channel, and whether it recorded the speakers.
    #[serde(default)]
    pub voice: bool,
    #[serde(default)]
    pub record_voice: bool,
    /// Each speaker's recorded voice, oldest first, stamped on the room clock.
    #[serde(default)]
    pub recordings: Vec<RecordingEntry>,
}

/// Consecutive edits by one author in one file with no long pause between them (the record groups them;
/// `RUN_PAUSE_MS` there says how long).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditRun {
    pub author: String,
    pub source: Source,
    pub file: String,
    /// First and last edit, ms since the Unix epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    /// `seq` of the first and last edit (a score's citation names one of them).
    pub first_seq: u64,
    pub last_seq: u64,
    pub edits: usize,
    pub inserted_chars: u64,
    pub deleted_chars: u64,
    /// First and last line (1-based) the run touched, in the file as the run left it.
    pub lines: [u32; 2],
    /// The function or class around the run's first line, when a simple scan finds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// The body POSTed to the webhook when a room ends: a summary of the export, which the receiver fetches
/// in full from `export_url` with its API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomEndedEvent {
    /// Always `room.ended`.
    pub event: String,
    pub room: RoomSummary,
    pub submission_id: String,
    pub candidate: Candidate,
    pub exercise: Exercise,
    pub interviewer: String,
    pub started_at_ms: u64,
    pub ended_at_ms: u64,
    pub files: Vec<FileChange>,
    pub edits: usize,
    pub export_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileChange {
    pub path: String,
    pub change: FileChangeKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_wire_names() {
        let names: Vec<String> = [
            FileChangeKind::Added,
            FileChangeKind::Modified,
            FileChangeKind::Unchanged,
            FileChangeKind::Deleted,
        ]
        .iter()
        .map(|k| serde_json::to_string(k).unwrap())
        .collect();
        assert_eq!(names, ["\"added\"", "\"modified\"", "\"unchanged\"", "\"deleted\""]);
        assert_eq!(serde_json::to_string(&PresenceKind::Leave).unwrap(), "\"leave\"");
        assert_eq!(serde_json::from_str::<PresenceKind>("\"join\"").unwrap(), PresenceKind::Join);
        for kind in [PresenceKind::Join, PresenceKind::Leave] {
            assert_eq!(PresenceKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PresenceKind::parse("arrive"), None);
    }
}
