//! The room's durability: group commits of accepted updates (with snapshots), their retry after a
//! failure, the final flush, and rebuilding the document from the store.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::FutureExt;
use handoff_protocol::frame::{self, CLOSE_TRY_AGAIN};
use handoff_protocol::limits::SNAPSHOT_EVERY_UPDATES;
use tokio::time::Instant;
use yrs::sync::Awareness;
use yrs::{Doc, ReadTxn, StateVector, Transact};

use super::RoomActor;
use super::integrate::{Integrated, apply, encodes};
use crate::clock::now_ms;
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
    /// Whether the actor waits on `task` with its waker. A store whose commits complete without being
    /// polled (SQLite's writer thread) would otherwise wake every room once per group commit just to say
    /// so: at 200 typing rooms that was 400 wake-ups a second, most of them from the writer
    /// thread onto a parked worker. Such a commit is polled whenever the actor wakes anyway, and waited
    /// on only if it has not been seen landing by `look_by`.
    pub(super) watched: bool,
    /// When an unwatched commit starts being waited on: the room's next commit tick, so that a landing
    /// nobody noticed never holds back the next commit.
    pub(super) look_by: Instant,
}

/// Commit ticks per commit window. One tick per window woke every busy room at the same instant, twice
/// a second; four spread those wake-ups while the writer still takes a quarter of the rooms per
/// transaction.
const COMMIT_PHASES: u32 = 4;

/// The instant a room whose oldest uncommitted update arrived at `since` commits: the last tick of a
/// process-wide grid of `window / COMMIT_PHASES` within `window` of `since`. Rooms commit on shared ticks
/// and the writer takes each tick's rooms in one transaction: free-running windows spread 300 rooms'
/// commits over ~75 small transactions a second (an fsync each, and the same B-tree interior pages
/// written again for every one), which perf put at a fifth of the durable server's CPU.
pub(super) fn commit_tick(since: Instant, window: Duration) -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    phased_tick(*EPOCH.get_or_init(|| since), since, window)
}

/// [`commit_tick`] on the grid that starts at `epoch`.
fn phased_tick(epoch: Instant, since: Instant, window: Duration) -> Instant {
    let step = window / COMMIT_PHASES;
    tick_after(epoch, since + (window - step), step)
}

/// The first point of the grid `epoch + k × window` after `since`, and no later than `since + window`.
fn tick_after(epoch: Instant, since: Instant, window: Duration) -> Instant {
    let window_ns = window.as_nanos().max(1);
    let elapsed_ns = since.saturating_duration_since(epoch).as_nanos();
    let ticks = elapsed_ns / window_ns + 1;
    let at_ns = u64::try_from(ticks * window_ns).unwrap_or(u64::MAX);
    // The bound matters only for a `since` before the epoch (a retry's, or tests' paused clocks).
    (epoch + Duration::from_nanos(at_ns)).min(since + window)
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
            if !matches!(apply(&mut txn, update), Integrated::Applied) {
                return Err(StoreError::Corrupt(format!("log entry {seq} does not apply")));
            }
        }
        // Once for the whole log: checked per entry, a long log with a pending part would cost a walk of
        // every block per entry.
        if !encodes(&txn) {
            return Err(StoreError::Corrupt("the log leaves the document unencodable".into()));
        }
    }
    Ok(doc)
}

impl RoomActor {
    /// Starts a group commit of the pending log entries (and a snapshot when one is due or `final`).
    pub(super) fn take_off(&mut self, last: bool) -> Option<Flight> {
        // A distrusted document's state is not worth keeping: the log entries before it are.
        let due = !self.distrusted
            && (self.since_snapshot >= SNAPSHOT_EVERY_UPDATES || (last && self.since_snapshot > 0));
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
        let watched = !self.store.lands_unwatched();
        let task = Box::pin(async move {
            // Timed here only when watched: an unwatched commit is seen landing late by design.
            let timer = watched.then(|| METRICS.commit_seconds.start_timer());
            // A panic in the store fails this commit (retried like any failure), not the room.
            let result = AssertUnwindSafe(store.append(batch, snapshot))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(StoreError::Database("the store panicked".into())));
            if let Some(timer) = timer {
                timer.observe_duration();
            }
            result
        });
        let look_by = commit_tick(Instant::now(), self.settings.commit_window);
        Some(Flight { entries, snapshotted, task, watched, look_by })
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
    /// anything is not yet covered by one, or if one is due anyway). Returns whether that commit landed.
    pub(super) async fn flush_now(&mut self, flight: Option<Flight>, snapshot: bool) -> bool {
        if let Some(mut f) = flight {
            let joined = (&mut f.task).await;
            self.landed(f, joined);
        }
        let Some(f) = self.take_off(snapshot) else { return true };
        match f.task.await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, rows = f.entries.len(), "final flush failed");
                false
            }
        }
    }

    /// Rebuilds the distrusted document from the store (see [`super::integrate`]): the update that broke
    /// it was never logged, so the store holds the last good state. Everyone else stays connected, their
    /// cursors too. Returns false if the room could not be rebuilt: then everyone was closed, and the
    /// caller retires the room so that the next joiner loads it afresh.
    pub(super) async fn reload(&mut self, flight: Option<Flight>) -> bool {
        // Only the log: `take_off` snapshots nothing while the document is distrusted. Rebuilt without
        // updates the others already hold, the room would fork from them: then it must not serve either.
        let logged = self.flush_now(flight, false).await;
        let loaded = if logged { Some(self.store.load_room(&self.id).await) } else { None };
        let rebuilt = match loaded {
            Some(Ok(state)) => {
                tokio::task::spawn_blocking(move || rebuild(&state)).await.ok().and_then(Result::ok)
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "reload failed");
                None
            }
            None => None,
        };
        match rebuilt {
            Some(doc) => {
                METRICS.room_rebuilds.inc();
                let presence = self.awareness.update().ok();
                self.files_guard = super::FilesGuard::watch(&doc);
                self.clocks = doc.transact().state_vector();
                self.awareness = Awareness::new(doc);
                self.welcome = None;
                self.distrusted = false;
                if let Some(p) = presence {
                    let _ = self.awareness.apply_update(p);
                }
                true
            }
            None => {
                METRICS.room_rebuild_failures.inc();
                // Without a trustworthy document the room must not serve.
                self.kick_all(&CloseReason::new(CLOSE_TRY_AGAIN, "room is reloading, reconnect"));
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_that_leaves_the_document_unencodable_does_not_load() {
        let preload = handoff_protocol::schema::initial_update(&[handoff_protocol::api::FileEntry {
            path: "main.py".into(),
            content: "print(1)\n".into(),
        }]);
        let bad = include_bytes!("../../../tests/fixtures/unencodable-pending.update").to_vec();
        let good = RoomState { snapshot: None, tail: vec![(1, preload.clone())] };
        assert!(rebuild(&good).is_ok());
        // A log written before updates were checked: loading it must fail here, not panic later.
        let poisoned = RoomState { snapshot: None, tail: vec![(1, preload), (2, bad)] };
        assert!(matches!(rebuild(&poisoned), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn rooms_whose_updates_fall_in_one_phase_commit_together_and_within_the_window() {
        let window = Duration::from_millis(500);
        let step = window / COMMIT_PHASES;
        let base = Instant::now();
        let tick = |ms| phased_tick(base, base + Duration::from_millis(ms), window);
        assert_eq!(tick(0), base + window);
        for ms in [1, 60, 124] {
            assert_eq!(tick(ms), tick(0), "{ms} ms: the first phase's rooms share a tick");
        }
        assert_eq!(tick(125), tick(0) + step, "the next phase commits one step later");
        assert_eq!(tick(249), tick(125));
        for ms in [0, 1, 124, 125, 250, 499, 777, 1500] {
            let (since, at) = (base + Duration::from_millis(ms), tick(ms));
            assert!(at > since + (window - step) && at <= since + window, "{ms} ms");
        }
    }

    #[test]
    fn commit_ticks_are_shared_by_rooms_and_never_later_than_the_window() {
        let window = Duration::from_millis(500);
        let base = Instant::now();
        let commit_tick = |since| tick_after(base, since, window);
        let first = commit_tick(base);
        assert!(first > base && first <= base + window);
        // Rooms whose first pending update fell anywhere before that tick commit on it together.
        assert_eq!(first, base + window, "the grid starts at the epoch");
        for offset_ms in [1, 50, 250, 499] {
            let since = base + Duration::from_millis(offset_ms);
            assert_eq!(commit_tick(since), first, "offset {offset_ms} ms");
        }
        // An update arriving on or after the tick waits for the next one, a whole window later.
        assert_eq!(commit_tick(first), first + window);
        for offset_ms in [0, 1, 123, 499, 777, 1500] {
            let since = base + Duration::from_millis(offset_ms);
            let tick = commit_tick(since);
            assert!(tick > since && tick <= since + window, "offset {offset_ms} ms");
        }
    }
}
