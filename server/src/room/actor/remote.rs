//! The actor's remote inputs (cluster mode): what the bus brings from other nodes, fed to the core.

use std::sync::atomic::Ordering;

use super::RoomActor;
use crate::bus::Remote;
use crate::room::ended_reason;

impl RoomActor {
    /// What another node did in the room (`None`: the bus let go of the room, which then rebuilds and
    /// attaches again).
    pub(super) fn remote(&mut self, remote: Option<Remote>) {
        match remote {
            Some(Remote::Update { update, payload, .. }) => self.core.remote_update(update, &payload),
            Some(Remote::Awareness(frame)) => self.core.remote_awareness(frame),
            Some(Remote::Ended) => {
                tracing::info!("interview ended on another node; closing every client");
                self.open.store(false, Ordering::Release);
                let now = self.now();
                self.core.end(ended_reason(), now);
            }
            Some(Remote::Reopened) => {
                self.core.reopen();
                self.open.store(true, Ordering::Release);
            }
            Some(Remote::Rebuild) | None => self.core.distrust(),
        }
        self.apply_events();
    }
}
