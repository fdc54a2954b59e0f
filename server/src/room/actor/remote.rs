//! The actor's remote inputs (cluster mode): what the bus brings from other nodes, fed to the core.

use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::RoomActor;
use crate::bus::Remote;
use crate::room::ended_reason;
use crate::room::{Extension, Fanout};

impl RoomActor {
    /// What another node did in the room (`None`: the bus let go of the room, which then rebuilds and
    /// attaches again).
    pub(super) fn remote(&mut self, remote: Option<Remote>) {
        // The fan-out of a remote update is timed from when this room took it off the bus.
        let at = Instant::now();
        match remote {
            Some(Remote::Update { update, payload, .. }) => self.core.remote_update(update, &payload),
            Some(Remote::Awareness { update, frame }) => {
                let now = self.now_at(at);
                self.core.remote_awareness(update, frame, now);
            }
            Some(Remote::AwarenessWanted) => self.core.awareness_wanted(),
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
            Some(Remote::RoomEvent { frame }) => self.core.send_extension(Extension::RoomEvents, frame),
            Some(Remote::Rebuild) | None => self.core.distrust(),
            Some(Remote::HoldOff) => {
                tracing::warn!("the bus cannot take more of the room for now; closing its clients (1013)");
                let now = self.now();
                self.core.hold_off(now);
            }
            Some(Remote::Resumed) => self.core.resume(),
        }
        let updates = self.apply_events();
        if updates > 0 {
            self.fanout = Some((Fanout { at: at.into_std(), updates }, None));
        }
    }
}
