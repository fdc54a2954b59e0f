//! Who wrote what: an attributed edit of the live session and an authored range of a final file. The
//! session record ([`crate::record`]) produces them and the REST bodies ([`crate::api`]) carry them;
//! both depend on this module, and it on neither.

use serde::{Deserialize, Serialize};

use crate::role::Role;

/// Where a piece of text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The async submission (the room's preload).
    Submission,
    Candidate,
    Interviewer,
}

impl Source {
    pub(crate) fn of(role: Option<Role>) -> Source {
        match role {
            None => Source::Submission,
            Some(Role::Interviewer) => Source::Interviewer,
            // Observers cannot write; anything else attributed to a participant is the candidate's.
            Some(Role::Candidate | Role::Observer) => Source::Candidate,
        }
    }
}

/// One attributed change in the live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Edit {
    pub seq: u64,
    pub at_ms: u64,
    pub author: String,
    pub source: Source,
    pub file: String,
    /// UTF-16 offset in the file before this change.
    pub position: u32,
    pub inserted: String,
    pub deleted: String,
}

/// A range of a final file and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Authored {
    /// UTF-16 offsets, end exclusive.
    pub start: u32,
    pub end: u32,
    /// 1-based lines the range touches.
    pub lines: [u32; 2],
    pub source: Source,
    pub author: String,
}
