//! The room's durability: group commits of accepted updates (with snapshots), their retry after a
//! failure, the final flush, and rebuilding the document from the store.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;
use handoff_protocol::frame::{self, CLOSE_TRY_AGAIN};
use handoff_protocol::limits::SNAPSHOT_EVERY_UPDATES;
use tokio::time::Instant;
use yrs::sync::Awareness;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use super::RoomActor;
use crate::auth::now_ms;
use crate::metrics::METRICS;
use crate::room::CloseReason;
use crate::store::{LogEntry, RoomState, Snapshot, StoreError, StoreResult};

/// Pause before retrying a failed group commit, so a struggling store is not hammered.
const FLUSH_RETRY_DELAY: Duration = Duration::from_millis(500);

/// A group commit on its way to the store, kept so it can be retried if it fails.
pub(super) struct Flight {
    entries: Vec<LogEntry>,
    snapshotted: u64,
    /// Polled by the actor itself: a task per commit (one per keystroke at typing speed) cost a spawn and
    /// an extra wake-up for every update.
    pub(super) task: Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>,
}

/// Rebuilds a document from its snapshot and log tail. CPU-bound: run it off the async threads.
pub(super) fn rebuild(state: &RoomState) -> Result<Doc, StoreError> {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        let parts = state.snapshot.iter().map(|s| (s.upto_seq, &s.state[..]));
        for (seq, bytes) in parts.chain(state.tail.iter().map(|(s, u)| (*s, &u[..]))) {
            let update = frame::decode_update(bytes)
                .map_err(|e| StoreError::Corrupt(format!("log entry {seq}: {e}")))?;
            let applied = catch_unwind(AssertUnwindSafe(|| txn.apply_update(update)));
            match applied {
                Ok(Ok(())) => {}
                _ => return Err(StoreError::Corrupt(format!("log entry {seq} does not apply"))),
            }
        }
    }
    Ok(doc)
}

impl RoomActor {
    /// Starts a group commit of the pending log entries (and a snapshot when one is due or `final`).
    pub(super) fn take_off(&mut self, last: bool) -> Option<Flight> {
        let due = self.since_snapshot >= SNAPSHOT_EVERY_UPDATES || (last && self.since_snapshot > 0);
        if self.pending.is_empty() && !due {
            self.pending_since = None;
            return None;
        }
        let entries = std::mem::take(&mut self.pending);
        self.pending_since = None;
        let snapshot = due.then(|| Snapshot {
            room_id: self.id.clone(),
            upto_seq: self.next_seq - 1,
            at_ms: now_ms(),
            state: self.awareness.doc().transact().encode_state_as_update_v1(&StateVector::default()),
        });
        let snapshotted = if due { std::mem::take(&mut self.since_snapshot) } else { 0 };
        let store = self.store.clone();
        let batch = entries.clone();
        let task = Box::pin(async move {
            let timer = METRICS.commit_seconds.start_timer();
            // A panic in the store fails this commit (retried like any failure), not the room.
            let result = AssertUnwindSafe(store.append(batch, snapshot))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(StoreError::Database("the store panicked".into())));
            timer.observe_duration();
            result
        });
        Some(Flight { entries, snapshotted, task })
    }

    /// A group commit finished. On failure its entries go back to the front of the queue for a retry.
    pub(super) fn landed(&mut self, flight: Flight, result: StoreResult<()>) {
        let Err(error) = result else { return };
        tracing::error!(%error, rows = flight.entries.len(), "group commit failed; will retry");
        let mut entries = flight.entries;
        entries.append(&mut self.pending);
        self.pending = entries;
        self.since_snapshot += flight.snapshotted;
        self.pending_since = Some(Instant::now() + FLUSH_RETRY_DELAY);
    }

    /// Waits for the commit in flight, then commits everything left with a snapshot.
    pub(super) async fn final_flush(&mut self, flight: Option<Flight>) {
        self.flush_now(flight, true).await;
    }

    /// Waits for the commit in flight, then commits everything left (with a snapshot if `snapshot` and
    /// anything is not yet covered by one, or if one is due anyway).
    pub(super) async fn flush_now(&mut self, flight: Option<Flight>, snapshot: bool) {
        if let Some(mut f) = flight {
            let joined = (&mut f.task).await;
            self.landed(f, joined);
        }
        if let Some(f) = self.take_off(snapshot) {
            if let Err(e) = f.task.await {
                tracing::error!(error = %e, rows = f.entries.len(), "final flush failed");
            }
        }
    }

    /// Rebuilds the document from the store after yrs panicked mid-apply (the document may be
    /// inconsistent). The offending update was never logged, so the store holds the last good state.
    pub(super) async fn reload(&mut self) {
        self.final_flush(None).await;
        let rebuilt = match self.store.load_room(&self.id).await {
            Ok(state) => tokio::task::spawn_blocking(move || rebuild(&state)).await.ok().and_then(Result::ok),
            Err(e) => {
                tracing::error!(error = %e, "reload failed");
                None
            }
        };
        match rebuilt {
            Some(doc) => {
                let presence = self.awareness.update().ok();
                self.awareness = Awareness::new(doc);
                self.welcome = None;
                if let Some(p) = presence {
                    let _ = self.awareness.apply_update(p);
                }
            }
            None => {
                // Without a trustworthy document the room must not serve: close everyone; the next join
                // loads it afresh.
                self.kick_all(&CloseReason::new(CLOSE_TRY_AGAIN, "room is reloading, reconnect"));
            }
        }
    }
}
