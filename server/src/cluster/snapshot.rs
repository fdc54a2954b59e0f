//! Snapshots in cluster mode. A room's live document cannot be snapshotted: it may hold entries past
//! what the store holds, and its own members' updates on their way to Redis, not numbered yet. So the
//! node that commits a room's log builds each snapshot from the store alone, once enough entries were
//! committed since the last one: the newest snapshot and the log after it, read in one transaction
//! (`RoomLog::load_room`), rebuild to a document holding exactly the entries up to the store's last
//! seq, and the snapshot is tagged with that seq. A load then reads that snapshot, the log after it, and
//! the stream after that. The log itself is never shortened: the session record reads it whole.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Link, Links};
use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::room::compact;
use crate::store::{RoomLog, Snapshot, StoreError, StoreResult};

/// After a commit that brought the store to `committed`: starts a snapshot of the room if
/// `links.snapshot_every` entries may follow its newest one (and none is being written already). The
/// commit loop does not wait for it.
pub(super) fn after_commit(
    store: &Arc<dyn RoomLog>,
    links: &Links,
    room: &Arc<str>,
    link: &Arc<Link>,
    committed: u64,
) {
    let every = links.snapshot_every;
    if committed < link.snapshotted.load(Ordering::Acquire).saturating_add(every) {
        return;
    }
    if link.snapshotting.swap(true, Ordering::AcqRel) {
        return;
    }
    let (store, room, link) = (store.clone(), room.clone(), link.clone());
    tokio::spawn(async move {
        let covered = match snapshot(store.as_ref(), &room, every).await {
            Ok(covered) => covered,
            Err(error) => {
                // Tried again once as many entries more are committed, not at every commit.
                tracing::warn!(room = %room, %error, "snapshotting the room failed");
                committed
            }
        };
        link.snapshotted.fetch_max(covered, Ordering::AcqRel);
        link.snapshotting.store(false, Ordering::Release);
    });
}

/// Writes a snapshot of what the store holds of the room if at least `every` entries follow its
/// newest one (another node may have written one meanwhile); returns the seq the newest snapshot covers.
async fn snapshot(store: &dyn RoomLog, room: &Arc<str>, every: u64) -> StoreResult<u64> {
    let state = store.load_room(room).await?;
    let covered = state.snapshot.as_ref().map_or(0, |s| s.upto_seq);
    if (state.tail.len() as u64) < every {
        return Ok(covered);
    }
    let upto = state.next_seq() - 1;
    let compacted = tokio::task::spawn_blocking(move || compact(&state))
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))??;
    let snapshot = Snapshot { room_id: room.clone(), upto_seq: upto, at_ms: now_ms(), state: compacted };
    store.append(Vec::new(), Some(snapshot)).await?;
    METRICS.cluster("snapshots", 1);
    tracing::debug!(room = %room, upto, "snapshot written");
    Ok(upto)
}
