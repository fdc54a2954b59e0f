//! A group commit on its way to the store, polled by the room's task itself, and the process-wide grid
//! of instants on which rooms commit.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use crate::metrics::METRICS;
use crate::room::core::Commit;
use crate::store::{RoomLog, StoreError, StoreResult};

/// A commit the store is writing. It is polled by the actor itself: a task per commit (one per keystroke
/// at typing speed) would cost a spawn and an extra wake-up for every update.
pub(super) struct CommitInFlight {
    pub(super) rows: usize,
    /// Room time of its oldest entry, for the log line if it fails.
    pub(super) oldest_room_ms: Option<u64>,
    pub(super) write: Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>,
    /// Whether the actor waits on `write` with its waker. A store whose commits complete without being
    /// polled (SQLite's writer thread) would otherwise wake every room once per group commit just to say
    /// so: at 200 typing rooms, 400 wake-ups a second, most of them from the writer thread onto a parked
    /// worker. Such a commit is polled whenever the actor wakes anyway, and awaited only if it has not
    /// been seen landing by `await_from`.
    pub(super) awaited: bool,
    /// When an unawaited commit starts being awaited: the room's next commit tick, so that a landing
    /// nobody noticed never holds back the next commit.
    pub(super) await_from: Instant,
}

impl CommitInFlight {
    pub(super) fn start(store: &Arc<dyn RoomLog>, commit: Commit, window: Duration) -> CommitInFlight {
        let rows = commit.entries.len();
        let oldest_room_ms = commit.oldest_room_ms;
        let store = store.clone();
        let awaited = !store.commits_complete_without_polling();
        let write = Box::pin(async move {
            // Timed here only when awaited: an unawaited commit is seen landing late by design.
            let timer = awaited.then(|| METRICS.commit_seconds.start_timer());
            // A panic in the store fails this commit (retried like any failure), not the room.
            let result = AssertUnwindSafe(store.append(commit.entries, commit.snapshot))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(StoreError::backend("the store panicked")));
            if let Some(timer) = timer {
                timer.observe_duration();
            }
            result
        });
        let await_from = commit_tick(Instant::now(), window);
        CommitInFlight { rows, oldest_room_ms, write, awaited, await_from }
    }
}

/// Commit ticks per commit window. One tick per window would wake every busy room at the same instant,
/// twice a second; four spread those wake-ups while the writer still takes a quarter of the rooms per
/// transaction.
const COMMIT_PHASES: u32 = 4;

/// The instant a room whose oldest uncommitted update arrived at `since` commits: the last tick of a
/// process-wide grid of `window / COMMIT_PHASES` within `window` of `since`. Rooms commit on shared ticks
/// and the writer takes each tick's rooms in one transaction: free-running windows would spread 300
/// rooms' commits over ~75 small transactions a second (an fsync each, and the same B-tree interior
/// pages written again for every one), a fifth of the durable server's CPU in a profile. The grid is the
/// process's, not a room's, which is why the driver and not the room core (whose clock is the room's)
/// places the commit.
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

#[cfg(test)]
mod tests {
    use super::*;

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
