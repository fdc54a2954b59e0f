//! What another node did in the room (cluster mode): its updates and awareness, which the bus brings in
//! log order and the room applies and forwards to its own members, never logging or publishing them.

use bytes::Bytes;
use handoff_protocol::frame::{self, CLOSE_TRY_AGAIN};
use yrs::Update;
use yrs::sync::AwarenessUpdate;

use super::document::Applied;
use super::{CloseReason, Event, Now, RoomCore};
use crate::metrics::METRICS;
use crate::room::presence::Relay;

impl<S> RoomCore<S> {
    /// An update another node accepted, in log order: applied and forwarded to every member here,
    /// never logged or published again (the bus has it). One that does not apply (the stream or the
    /// other node is broken) makes the room rebuild itself from the store; nobody here is to blame.
    pub(crate) fn remote_update(&mut self, update: Update, payload: &[u8]) {
        if self.distrusted {
            return;
        }
        match self.document.apply(update, payload) {
            Applied::Yes => {
                self.applied = self.applied.saturating_add(1);
                METRICS.updates_out.inc_by(self.members.len() as u64);
                self.members.broadcast_all(Bytes::from(frame::encode_update(payload)));
            }
            Applied::Refused(why) | Applied::Missing(why) => {
                tracing::warn!(why, "a remote update does not apply; rebuilding the room");
                self.distrusted = true;
            }
            Applied::Broke(why) => {
                tracing::warn!(why, "a remote update broke the document; rebuilding the room");
                self.distrusted = true;
            }
        }
    }

    /// An awareness message relayed by another node (vetted there): kept for later joiners, and
    /// forwarded to every member here as far as it is news.
    pub(crate) fn remote_awareness(&mut self, update: AwarenessUpdate, frame: Bytes, now: Now) {
        match self.presence.remote(update, now.room_ms) {
            Relay::Nothing => {}
            Relay::Verbatim => self.members.broadcast_all(frame),
            Relay::Encoded(fixed) => self.members.broadcast_all(fixed),
        }
    }

    /// Another node loaded the room and asks for everyone's presence: this node's members' states go
    /// to the bus (each node answers for its own connections only).
    pub(crate) fn awareness_wanted(&mut self) {
        if let Some(frame) = self.presence.local_snapshot() {
            self.events.push(Event::Awareness(frame));
        }
    }

    /// The room must be rebuilt from the store before its next input (the bus lost its place).
    pub(crate) fn distrust(&mut self) {
        self.distrusted = true;
    }

    /// The bus holds too much of this room that is not yet safe (in Redis or the store): every member
    /// is closed with 1013 and joins are refused until [`Self::resume`], so the backlog stops growing.
    /// The clients keep their edits and send them again (sync step 2) when they reconnect.
    pub(crate) fn hold_off(&mut self, now: Now) {
        let reason =
            CloseReason::new(CLOSE_TRY_AGAIN, "the room's edits cannot be stored now, reconnect later");
        self.held_off = Some(reason.clone());
        self.close_all(&reason, now);
    }

    /// The backlog is gone: joins are taken again.
    pub(crate) fn resume(&mut self) {
        self.held_off = None;
    }
}
