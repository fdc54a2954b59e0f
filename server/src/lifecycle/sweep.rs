//! The timers that end and purge without a caller: idle rooms end by themselves, and submissions whose
//! retention ran out are purged. Each runs as a task started with the server until the stop signal.

use std::sync::Arc;
use std::time::Duration;

use super::{Lifecycle, LifecycleError};
use crate::clock::now_ms;
use crate::shutdown::Trigger;

/// Sweeps run this many times per period (idle or retention), so a room or submission outlives its
/// period by at most a fraction of it.
const SWEEPS_PER_PERIOD: u32 = 4;
/// Shortest and longest pause between two idle sweeps; within them, a quarter of the idle period.
const SWEEP_MIN: Duration = Duration::from_millis(100);
const SWEEP_MAX: Duration = Duration::from_secs(30);
/// Longest pause between two retention sweeps.
const RETENTION_SWEEP_MAX: Duration = Duration::from_secs(3600);
/// Submissions purged per retention sweep at most; the rest wait for the next one.
const RETENTION_BATCH: usize = 100;

impl Lifecycle {
    /// Purges submissions whose retention ran out — created more than `keep` ago with every room ended
    /// more than `keep` ago — until `stop` fires.
    pub async fn sweep_retention(self: Arc<Self>, keep: Duration, stop: Trigger) {
        let every = (keep / SWEEPS_PER_PERIOD).clamp(SWEEP_MIN, RETENTION_SWEEP_MAX);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.fired() => return,
            }
            let cutoff = now_ms().saturating_sub(keep.as_millis() as u64);
            match self.store.expired_submissions(cutoff, RETENTION_BATCH).await {
                Ok(ids) => {
                    for id in ids {
                        tracing::info!(submission = %id, "retention period over; purging");
                        if let Err(e) = self.purge(&id).await {
                            tracing::error!(submission = %id, error = %e, "retention purge failed");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "retention sweep failed"),
            }
        }
    }

    /// Ends live rooms idle longer than `idle`, until `stop` fires.
    pub async fn sweep_idle(self: Arc<Self>, idle: Duration, stop: Trigger) {
        let every = (idle / SWEEPS_PER_PERIOD).clamp(SWEEP_MIN, SWEEP_MAX);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.fired() => return,
            }
            let cutoff = now_ms().saturating_sub(idle.as_millis() as u64);
            let ids = match self.store.idle_live_rooms(cutoff).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::error!(error = %e, "idle sweep failed");
                    continue;
                }
            };
            for id in ids {
                if self.rooms.connected_everywhere(&id).await > 0 {
                    continue;
                }
                if let Err(e) = self.end_idle(&id).await {
                    tracing::error!(room = %id, error = %e, "ending an idle room failed");
                }
            }
        }
    }

    async fn end_idle(&self, id: &str) -> Result<(), LifecycleError> {
        let Some(room) = self.store.get_room(id).await? else { return Ok(()) };
        let Some(sub) = self.store.get_submission(&room.submission_id).await? else { return Ok(()) };
        tracing::info!(room = %id, "ending an idle room");
        self.end(room, sub).await.map(|_| ())
    }
}
