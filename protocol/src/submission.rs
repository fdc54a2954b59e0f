//! The async session a submission carries: its files and the events of the session that wrote them.
//! The REST bodies ([`crate::api`]) embed these, and the modules that read a session (replay,
//! integrity, the document's preload) take them without depending on the API.

use serde::{Deserialize, Serialize};

/// One file of a submission: its path (relative, `/`-separated) and its UTF-8 content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileEntry {
    pub path: String,
    pub content: String,
}

/// One event of the async session. Kind-specific fields are kept as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AsyncEvent {
    /// Milliseconds since the async session started.
    pub at_ms: u64,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}
