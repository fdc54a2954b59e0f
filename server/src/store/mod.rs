//! Durable storage, split by concern so each caller depends on what it uses:
//!
//! - [`Catalog`]: submissions and their rooms (promote, end, reopen, list, sweeps, purge).
//! - [`RoomLog`]: what a room writes as it runs and reads to load (updates, snapshots, presence). The
//!   room depends on this alone.
//! - [`Private`]: the interviewer's notes and live scores.
//! - [`Interview`]: the questions pushed to a room and the candidate's notes on the integrity signals.
//! - [`Recordings`]: the rows of the voice recordings (who, when on the room clock, anchors, file).
//! - [`WebhookOutbox`]: room-ended webhook deliveries.
//!
//! [`Store`] is all of them behind one `Arc<dyn Store>`, which coerces to any one of them. The embedded
//! SQLite default and the PostgreSQL backend of a cluster are interchangeable behind it; `memory://`
//! keeps everything in memory instead (benchmarks, demos). `conformance.rs` holds every backend to the
//! same contract; `migrations.rs` is how both databases' schemas are versioned.

mod catalog;
#[cfg(test)]
mod conformance;
mod error;
mod interview;
mod memory;
mod migrations;
mod postgres;
mod private;
mod recordings;
mod room_log;
mod sqlite;
mod url;
mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;

pub use catalog::{Catalog, RoomRecord, SubmissionRecord};
pub(crate) use error::{Constraint, Missing};
pub use error::{StoreError, StoreResult};
pub(crate) use interview::Interview;
pub(crate) use memory::MemoryStore;
pub(crate) use postgres::PgStore;
pub(crate) use postgres::probe as postgres_probe;
#[cfg(test)]
pub(crate) use postgres::test_db::TestDatabase;
pub(crate) use private::Private;
pub use recordings::{RecordingRecord, Recordings};
pub use room_log::{LogEntry, LogRow, RoomLog, RoomState, Snapshot};
pub use sqlite::SqliteStore;
pub(crate) use sqlite::backup as sqlite_backup;
pub(crate) use url::redact as redact_url;
pub(crate) use webhooks::{WebhookDelivery, WebhookOutbox, WebhookOutcome};

/// Every concern of the store, from one backend.
#[async_trait]
pub trait Store: Catalog + RoomLog + Private + Interview + Recordings + WebhookOutbox {
    /// Cheap round trip proving the store answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
}

/// The URL of the in-memory store.
pub(crate) const MEMORY_URL: &str = "memory://";

/// Opens the store named by a URL: `sqlite://PATH` (the default, in the data dir), `postgres://…`
/// (`postgresql://…` too: the shared store of a cluster) or `memory://` (nothing survives a restart).
/// The URL is only ever shown with its password hidden.
pub(crate) async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url == MEMORY_URL {
        tracing::warn!("in-memory store: nothing is written to disk and nothing survives a restart");
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let store = SqliteStore::open(std::path::Path::new(path)).await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::open(url).await?;
        tracing::info!(store = %url::redact(url), "postgres store opened");
        return Ok(Arc::new(store));
    }
    Err(StoreError::UnsupportedUrl(url::redact(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_selects_the_store_by_url() {
        let memory = open("memory://").await.unwrap();
        memory.ping().await.unwrap();
        memory.insert_submission(conformance::submission("sub", 1)).await.unwrap();
        let fresh = open("memory://").await.unwrap();
        assert!(fresh.get_submission("sub").await.unwrap().is_none(), "every memory store starts empty");
        let refused = open("mysql://app:s3cret@db/handoff").await.err().unwrap().to_string();
        assert!(refused.contains("sqlite://PATH") && refused.contains("postgres://"), "{refused}");
        assert!(refused.contains("app:***@db") && !refused.contains("s3cret"), "{refused}");
    }
}
