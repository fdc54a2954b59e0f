//! Committing a room from its stream: the entries after where the store ends are read back (XRANGE)
//! and appended. The committer does it when what the publisher and the reader handed over does not
//! follow on from the store (`committer.rs`, `pending.rs`), and any node does it on demand before an
//! export reads the log (`Bus::flush`).

use std::sync::Arc;

use redis::aio::ConnectionManager;

use super::entries::Entries;
use super::message::{Incoming, Keys, decode};
use crate::metrics::METRICS;
use crate::store::{LogEntry, RoomLog, StoreError, StoreResult};

/// Entries committed per store append at most.
const COMMIT_BATCH: usize = 1_000;

/// Commits the room's updates from the stream after `from` (the store's last seq, read from the
/// store when `None`) and returns the seq the store now holds to.
pub(super) async fn commit(
    conn: &mut ConnectionManager,
    store: &dyn RoomLog,
    room: &Arc<str>,
    from: Option<u64>,
) -> StoreResult<u64> {
    let mut committed = match from {
        Some(seq) => seq,
        None => store.last_seq(room).await?,
    };
    loop {
        let Entries(range) = redis::cmd("XRANGE")
            .arg(Keys::stream(room))
            .arg(format!("{}-0", committed + 1))
            .arg("+")
            .arg("COUNT")
            .arg(COMMIT_BATCH)
            .query_async(conn)
            .await
            .map_err(|e| StoreError::backend(format!("reading the room's stream: {e}")))?;
        let read = range.len();
        let mut entries = Vec::new();
        for item in range {
            let (seq, 0) = item.id else { continue };
            let Ok(Incoming::Update(entry)) = decode(room, seq, item) else { continue };
            if seq != committed + 1 + entries.len() as u64 {
                // Below it the stream was trimmed (the store has those) or lost: stop at what is whole.
                if entries.is_empty() && seq > committed + 1 {
                    return Err(StoreError::backend(format!(
                        "the stream lacks entries {}..{seq}; they cannot be committed",
                        committed + 1
                    )));
                }
                break;
            }
            entries.push(entry);
        }
        let Some(last) = entries.last().map(|e: &LogEntry| e.seq) else { return Ok(committed) };
        store.append(entries, None).await?;
        METRICS.cluster("committed", last - committed);
        committed = last;
        if read < COMMIT_BATCH {
            return Ok(committed);
        }
    }
}
