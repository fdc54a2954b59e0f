//! The room as a state machine, without I/O: no tokio, no sockets, no clock reads (time comes in with
//! each input, as [`Now`]). Inputs are method calls: a member joins or leaves, its messages arrive, a
//! commit landed or failed, the interview ends. Outputs are read back by the driver (`actor`): frames
//! queued per member ([`RoomCore::outgoing`]), [`Event`]s (a member to close, a join or leave to record,
//! an update for the bus), the next [`Commit`] and the room-time [`Deadlines`] of its timers.
//! Unit tests (`core/tests.rs`) drive it deterministically.
//!
//! A member's sink (`S`) is carried, never called: the driver delivers the frames through it.

mod document;
mod integrate;
mod log;
mod members;
mod remote;
pub(super) mod schema;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use handoff_protocol::export::{PresenceEvent, PresenceKind};
use handoff_protocol::frame::{self, CLOSE_INVALID_PAYLOAD, CLOSE_SLOW_CONSUMER, CLOSE_TRY_AGAIN};
use handoff_protocol::limits::MAX_CLIENTS_PER_ROOM;
use yrs::sync::AwarenessUpdate;
use yrs::{Doc, Update};

use super::presence::{Presence, Relay};
use super::{ClientMessage, CloseReason, Extension, Extensions, Identity, Undelivered};
use crate::metrics::METRICS;
use crate::store::LogEntry;
use document::{Applied, Document};
pub(crate) use document::{compact, rebuild};
pub(crate) use log::Commit;
use log::Log;
#[cfg(test)]
use log::Recorded;
use members::{Member, Members};

/// Reason sent to an observer the first time it tries to write.
const READ_ONLY_REASON: &str = "read-only: observers cannot edit this room";

/// The time of an input, read once by the driver. `room_ms` is the room clock: milliseconds since the
/// room opened, monotonic, what the room stamps its records with. `wall_ms` is the Unix time the store's
/// records keep (`LogEntry::at_ms`, presence events).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Now {
    pub(crate) room_ms: u64,
    pub(crate) wall_ms: u64,
}

/// What the driver must do besides delivering frames.
pub(crate) enum Event<S> {
    /// A member is out of the room: its sink is handed back, to be closed with `reason` if there is one
    /// (there is none for a member that left or whose connection is gone).
    Removed { conn_id: u64, sink: S, reason: Option<CloseReason> },
    /// A join or leave for the session timeline, with the room time it happened at.
    Moved { event: PresenceEvent, room_ms: u64 },
    /// An update the room accepted from one of its members, for the bus to order and carry to the
    /// other nodes (only when the bus orders the log; `seq` is the bus's to assign).
    Accepted(LogEntry),
    /// An awareness message relayed from a member, for the other nodes (only when the bus orders).
    Awareness(Bytes),
}

/// Who gives accepted updates their place in the room's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogOrder {
    /// The room itself (single node): it numbers and commits its log.
    Room,
    /// The bus (a cluster): accepted updates leave as [`Event::Accepted`]; the bus numbers them and
    /// commits the log, so the room queues no commits and takes no snapshots (its document also holds
    /// updates the log has not numbered yet).
    Bus,
}

/// When the room's timers are due, in room time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// Entries wait to be committed since then; the driver commits them within its commit window.
    pub(crate) commit_since: Option<u64>,
    /// Nobody is connected: the room unloads at this time.
    pub(crate) idle_at: Option<u64>,
}

pub(crate) struct RoomCore<S> {
    document: Document,
    members: Members<S>,
    /// The awareness states the room relays.
    presence: Presence,
    log: Log,
    ordering: LogOrder,
    /// Set when the interview ended: joins are refused with this reason.
    ended: Option<CloseReason>,
    /// Set while the bus holds too much of the room (`remote.rs`): joins are refused with this reason.
    held_off: Option<CloseReason>,
    /// A malformed update broke the document: the driver rebuilds it from the store before anything
    /// else, and nothing snapshots it meanwhile.
    distrusted: bool,
    /// Room time since which nobody is connected.
    idle_since: u64,
    idle_evict_ms: u64,
    events: Vec<Event<S>>,
    /// Updates applied since the driver last asked (`take_applied`), its own members' and other nodes'.
    applied: u32,
}

impl<S> RoomCore<S> {
    /// A room over `doc` whose log continues at `next_seq`, `since_snapshot` entries of it not covered
    /// by a snapshot, snapshotted every `snapshot_every` updates; it unloads after `idle_evict` without
    /// members. Its clock starts at 0.
    pub(crate) fn new(
        id: Arc<str>,
        doc: Doc,
        next_seq: u64,
        since_snapshot: u64,
        snapshot_every: u64,
        idle_evict: Duration,
        ordering: LogOrder,
    ) -> RoomCore<S> {
        RoomCore {
            document: Document::new(doc),
            members: Members::default(),
            presence: Presence::default(),
            log: Log::new(id, next_seq, since_snapshot, snapshot_every),
            ordering,
            ended: None,
            held_off: None,
            distrusted: false,
            idle_since: 0,
            idle_evict_ms: u64::try_from(idle_evict.as_millis()).unwrap_or(u64::MAX),
            events: Vec::new(),
            applied: 0,
        }
    }

    /// Admits a member, greeting it with the document's state vector and everyone's presence.
    pub(crate) fn join(
        &mut self,
        who: Identity,
        extensions: Extensions,
        sink: S,
        now: Now,
    ) -> Result<(), CloseReason> {
        if let Some(reason) = self.ended.as_ref().or(self.held_off.as_ref()) {
            return Err(reason.clone());
        }
        if self.members.len() >= MAX_CLIENTS_PER_ROOM {
            let why = format!("room is full ({MAX_CLIENTS_PER_ROOM} clients)");
            return Err(CloseReason::new(CLOSE_TRY_AGAIN, why));
        }
        let conn_id = who.conn_id;
        tracing::info!(conn = conn_id, role = %who.role, name = %who.name, "joined");
        self.moved(PresenceKind::Join, &who, now);
        self.members.push(Member::new(who, extensions, sink));
        // y-websocket order: our state vector first (the client answers with what we lack), then presence.
        self.members.send_to(conn_id, self.document.greeting());
        if let Some(frame) = self.presence.snapshot(now.room_ms) {
            self.members.send_to(conn_id, frame);
        }
        Ok(())
    }

    /// The member's connection ended.
    pub(crate) fn leave(&mut self, conn_id: u64, now: Now) {
        self.remove(conn_id, None, now);
    }

    /// What one member's connection read at once, handled in order. Stops at an update that broke the
    /// document: the rest waits for the rebuild, which the driver does before its next input.
    pub(crate) fn receive(&mut self, conn_id: u64, msgs: Vec<ClientMessage>, now: Now) {
        for msg in msgs {
            if self.distrusted {
                break;
            }
            match msg {
                ClientMessage::SyncStep1(sv) => {
                    let answer = self.document.answer(&sv);
                    self.members.send_to(conn_id, answer);
                }
                ClientMessage::Update { update, payload, message, step2 } => {
                    self.on_update(conn_id, update, payload, message, step2, now)
                }
                ClientMessage::Awareness { update, message, conforming } => {
                    self.on_awareness(conn_id, update, message, conforming)
                }
                ClientMessage::QueryAwareness => {
                    if let Some(frame) = self.presence.snapshot(now.room_ms) {
                        self.members.send_to(conn_id, frame);
                    }
                }
            }
        }
    }

    fn on_update(
        &mut self,
        conn_id: u64,
        update: Update,
        payload: Bytes,
        message: Bytes,
        step2: bool,
        now: Now,
    ) {
        let Some(member) = self.members.get_mut(conn_id) else { return };
        if update.is_empty() {
            return;
        }
        if !member.who.role.can_edit() {
            if !member.told_read_only {
                member.told_read_only = true;
                let denied = Bytes::from(frame::encode_permission_denied(READ_ONLY_REASON));
                self.members.send_to(conn_id, denied);
            }
            return;
        }
        let (author, role, resyncing) = (member.who.name.clone(), member.who.role, member.resyncing);
        if step2 {
            member.resyncing = false;
        }
        match self.document.apply(update, &payload) {
            Applied::Yes => {}
            // Sent before the member saw the rebuild; its answer to the resync carries this too.
            Applied::Missing(_) if resyncing => {
                tracing::debug!(
                    conn = conn_id,
                    step2,
                    "an update from before the rebuild; its resync carries it"
                );
                return;
            }
            Applied::Refused(reason) | Applied::Missing(reason) => {
                self.remove(conn_id, Some(CloseReason::new(CLOSE_INVALID_PAYLOAD, reason)), now);
                return;
            }
            Applied::Broke(why) => {
                tracing::warn!(conn = conn_id, why, "an update broke the document; reloading the room");
                self.remove(conn_id, Some(CloseReason::new(CLOSE_INVALID_PAYLOAD, why)), now);
                self.distrusted = true;
                return;
            }
        }
        match self.ordering {
            LogOrder::Room => self.log.append(author, role, conn_id, payload.clone(), now),
            LogOrder::Bus => {
                let entry = self.log.unnumbered(author, role, conn_id, payload.clone(), now);
                self.events.push(Event::Accepted(entry));
            }
        }
        METRICS.updates_in.inc();
        self.applied = self.applied.saturating_add(1);
        // A sync-step-2 answer is re-framed as an update; a plain update is forwarded byte for byte.
        let out = if step2 { Bytes::from(frame::encode_update(&payload)) } else { message };
        METRICS.updates_out.inc_by(self.members.len() as u64 - 1);
        self.members.broadcast(out, conn_id);
    }

    /// Relays what the presence rules take of a member's awareness message (`presence.rs`).
    fn on_awareness(&mut self, conn_id: u64, update: AwarenessUpdate, message: Bytes, conforming: bool) {
        let Some(member) = self.members.get(conn_id) else { return };
        let frame = match self.presence.apply(&member.who, update, conforming) {
            Relay::Nothing => return,
            Relay::Verbatim => message,
            Relay::Encoded(frame) => frame,
        };
        if self.ordering == LogOrder::Bus {
            self.events.push(Event::Awareness(frame.clone()));
        }
        self.members.broadcast(frame, conn_id);
    }

    /// Sends an extension message (its first byte is `ext`'s message number) to the members that
    /// announced `ext`; nobody else ever receives one.
    pub(crate) fn send_extension(&mut self, ext: Extension, frame: Bytes) {
        debug_assert_eq!(frame.first(), Some(&ext.message_type()));
        self.members.broadcast_extension(ext, frame);
    }

    /// Sends an extension message to one member (a voice offer, candidate or state is for one member
    /// only); nothing if it left or never announced `ext`.
    pub(crate) fn send_extension_to(&mut self, conn_id: u64, ext: Extension, frame: Bytes) {
        debug_assert_eq!(frame.first(), Some(&ext.message_type()));
        self.members.send_extension_to(conn_id, ext, frame);
    }

    /// The interview ended: every member is closed with `reason` and joins are refused until a reopen.
    pub(crate) fn end(&mut self, reason: CloseReason, now: Now) {
        self.ended = Some(reason.clone());
        self.close_all(&reason, now);
        self.idle_since = now.room_ms;
    }

    /// The interview was reopened: joins are taken again.
    pub(crate) fn reopen(&mut self) {
        self.ended = None;
    }

    /// Closes every member with `reason`. Each leaves the timeline like any departure, and its cursor
    /// goes: nobody is left to be told, and a reopened room must not show the departed.
    pub(crate) fn close_all(&mut self, reason: &CloseReason, now: Now) {
        for m in self.members.take_all() {
            self.moved(PresenceKind::Leave, &m.who, now);
            let reason = Some(reason.clone());
            self.events.push(Event::Removed { conn_id: m.who.conn_id, sink: m.sink, reason });
        }
        self.presence.clear();
    }

    /// The driver could not hand a member its frames: a full outbox closes it as a slow consumer (never
    /// a silent drop); a gone connection is removed.
    pub(crate) fn undeliverable(&mut self, conn_id: u64, why: Undelivered, now: Now) {
        let reason = match why {
            Undelivered::Full => {
                METRICS.slow_consumers.inc();
                Some(CloseReason::new(CLOSE_SLOW_CONSUMER, "slow consumer: outbox full, reconnect to resync"))
            }
            Undelivered::Gone => None,
        };
        self.remove(conn_id, reason, now);
    }

    /// Removes a member (to be closed with `reason`, if any), withdraws its awareness states and
    /// announces that to the others.
    fn remove(&mut self, conn_id: u64, reason: Option<CloseReason>, now: Now) {
        let Some(member) = self.members.remove(conn_id) else { return };
        self.moved(PresenceKind::Leave, &member.who, now);
        if self.members.is_empty() {
            self.idle_since = now.room_ms;
        }
        match &reason {
            Some(r) => tracing::info!(conn = conn_id, code = r.code, reason = %r.reason, "closing client"),
            None => tracing::info!(conn = conn_id, "left"),
        }
        self.events.push(Event::Removed { conn_id, sink: member.sink, reason });
        if let Some(withdrawn) = self.presence.leave(conn_id) {
            if self.ordering == LogOrder::Bus {
                self.events.push(Event::Awareness(withdrawn.clone()));
            }
            self.members.broadcast(withdrawn, conn_id);
        }
    }

    fn moved(&mut self, kind: PresenceKind, who: &Identity, now: Now) {
        let event = PresenceEvent {
            at_ms: now.wall_ms,
            kind,
            name: who.name.to_string(),
            role: who.role,
            conn_id: who.conn_id,
        };
        self.events.push(Event::Moved { event, room_ms: now.room_ms });
    }

    /// The next group commit: every pending entry, with a snapshot when one is due (or, if `last`,
    /// whenever anything is not yet covered by one). A distrusted document is never snapshotted: the
    /// log entries before it are worth keeping, its state is not. Report the outcome with
    /// [`Self::commit_landed`] or [`Self::commit_failed`] before taking the next.
    pub(crate) fn take_commit(&mut self, now: Now, last: bool) -> Option<Commit> {
        if self.ordering == LogOrder::Bus {
            return None;
        }
        let due = !self.distrusted && self.log.snapshot_due(last);
        let state = due.then(|| self.document.encode_state());
        self.log.take(state, now)
    }

    pub(crate) fn commit_landed(&mut self) {
        self.log.landed();
    }

    /// The commit failed: its entries are queued again, ahead of newer ones, and retried shortly.
    pub(crate) fn commit_failed(&mut self, now: Now) {
        self.log.failed(now);
    }

    /// Whether the document must be rebuilt from the store before the next input.
    pub(crate) fn distrusted(&self) -> bool {
        self.distrusted
    }

    /// The document rebuilt from the store replaces the distrusted one; members and their presence stay.
    /// Each member is resynced as on a join: sent the new state vector, it answers with what it holds
    /// beyond it (edits the store and the bus never got, e.g. after Redis lost its data), which the room
    /// takes as its own members' updates; and it is sent the whole document, for what the store got from
    /// other nodes that the member never saw.
    pub(crate) fn rebuilt(&mut self, doc: Doc) {
        self.document = Document::new(doc);
        self.distrusted = false;
        let everything = self.document.answer(&yrs::StateVector::default());
        self.members.resync_all(self.document.greeting(), everything);
    }

    /// The document could not be rebuilt: without a trustworthy document the room must not serve, so
    /// everyone is closed and may reconnect to a fresh load.
    pub(crate) fn rebuild_failed(&mut self, now: Now) {
        self.close_all(&CloseReason::new(CLOSE_TRY_AGAIN, "room is reloading, reconnect"), now);
    }

    pub(crate) fn deadlines(&self) -> Deadlines {
        Deadlines {
            commit_since: self.log.pending_since(),
            idle_at: self.members.is_empty().then(|| self.idle_since.saturating_add(self.idle_evict_ms)),
        }
    }

    pub(crate) fn member_count(&self) -> usize {
        self.members.len()
    }

    /// How many updates were applied since the last call.
    pub(crate) fn take_applied(&mut self) -> u32 {
        std::mem::take(&mut self.applied)
    }

    /// Whether frames were queued since the last call: then [`Self::outgoing`] has work.
    pub(crate) fn take_undelivered(&mut self) -> bool {
        self.members.take_undelivered()
    }

    /// Every member with frames queued: its id, its sink, and the frames, which the driver hands to the
    /// sink (leaving the `Vec` empty).
    pub(crate) fn outgoing(&mut self) -> impl Iterator<Item = (u64, &mut S, &mut Vec<Bytes>)> {
        self.members.outgoing()
    }

    /// The events since the last call, in order.
    pub(crate) fn events(&mut self) -> std::vec::Drain<'_, Event<S>> {
        self.events.drain(..)
    }

    /// Accepted entries not yet handed to the store.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> &[Recorded] {
        self.log.pending()
    }
}
