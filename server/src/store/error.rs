//! What a store call can fail with. Every backend reports the same rule broken with the same variant, and
//! keeps the backend's own error as the cause, so a caller can tell a conflict from an outage and the
//! log still shows what the database said.

use std::fmt;

/// A backend's own error, kept as the cause (a SQLite error, an I/O error, a failed blocking task).
pub(crate) type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write would break a rule the store keeps; nothing of it was written.
    #[error("conflict: {constraint}")]
    Conflict {
        constraint: Constraint,
        /// What the backend said, when it was the backend that refused (the in-memory store checks the
        /// rules itself and has no cause to keep).
        #[source]
        source: Option<Cause>,
    },
    /// A write refers to a row that is not stored (a room for an unknown submission, notes for an
    /// unknown room); nothing of it was written.
    #[error("{missing} not found")]
    NotFound {
        missing: Missing,
        #[source]
        source: Option<Cause>,
    },
    /// The backend failed. Its message is shown too: callers log errors with their display alone.
    #[error("database error: {0}")]
    Backend(#[source] Cause),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
    /// The database was migrated by a newer build (`migrations.rs`): this one refuses to open it rather
    /// than misread or overwrite what the newer schema means.
    #[error(
        "the database schema is at version {found}, newer than this build knows (version {known}); \
         run the newer handoff that migrated it, or restore a backup taken before"
    )]
    SchemaTooNew { found: u32, known: u32 },
    /// The URL it holds is redacted (`url.rs`): a store URL may carry a password.
    #[error("unsupported store url {0:?} (use sqlite://PATH, postgres://USER@HOST/DB or memory://)")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// A backend failure from anything that is an error (or a message, for a failure with no error value).
    pub fn backend(cause: impl Into<Cause>) -> StoreError {
        StoreError::Backend(cause.into())
    }
}

/// The rules a store keeps for every writer, whichever backend holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// A submission id is stored once.
    SubmissionId,
    /// A room id is stored once.
    RoomId,
    /// A submission has at most one live room (reopening a room while another is live breaks it).
    OneLiveRoom,
    /// A room's log holds each seq once.
    LogSeq,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Constraint::SubmissionId => "the submission id is taken",
            Constraint::RoomId => "the room id is taken",
            Constraint::OneLiveRoom => "the submission already has a live room",
            Constraint::LogSeq => "the room's log already holds that seq",
        })
    }
}

/// What a write referred to that is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Submission,
    Room,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Missing::Submission => "submission",
            Missing::Room => "room",
        })
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
