//! The room actor: the one task that owns a room's document and awareness. It applies updates, appends
//! them to the room log (group commit), encodes each broadcast once and fans the same `Bytes` out to every
//! member's outlet (its socket when free, else its bounded outbox).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use futures_util::FutureExt;
use handoff_protocol::frame::{self, CLOSE_INVALID_PAYLOAD, CLOSE_SLOW_CONSUMER, CLOSE_TRY_AGAIN};
use handoff_protocol::limits::{MAX_CLIENTS_PER_ROOM, ROOM_COMMAND_QUEUE};
use handoff_protocol::update_check::Repeats;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;
use yrs::sync::{Awareness, AwarenessUpdate};
use yrs::{ReadTxn, StateVector, Transact, Update};

mod integrate;
mod persist;
pub(super) mod schema;

use super::presence::{Presence, Relay};
use super::registry::{Registry, RoomSettings, Slot};
use super::{CloseReason, Command, Identity, Inbound, JoinRefused, Joiner, RoomHandle};
use crate::bus::Bus;
use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::store::{LogEntry, RoomState, Store, StoreError};
use crate::ws::{Outlet, Refused};
use handoff_protocol::api::PresenceEvent;
use integrate::{Integrated, integrate};
use persist::{Flight, rebuild};
use schema::FilesGuard;

/// Reason sent to an observer the first time it tries to write.
const READ_ONLY_REASON: &str = "read-only: observers cannot edit this room";

struct Member {
    who: Identity,
    outlet: Outlet,
    kick: Option<tokio::sync::oneshot::Sender<CloseReason>>,
    /// The observer was already told it is read-only (said once, not per keystroke).
    told_read_only: bool,
    /// Frames for this member not yet handed to its outlet: everything one command produces goes out
    /// back to back, written with one syscall.
    queued: Vec<Bytes>,
}

pub(super) struct RoomActor {
    id: Arc<str>,
    awareness: Awareness,
    members: Vec<Member>,
    /// The awareness states the room relays (`awareness` only holds the document).
    awareness_states: Presence,
    next_seq: u64,
    pending: Vec<LogEntry>,
    pending_since: Option<Instant>,
    /// Accepted updates not yet covered by a snapshot.
    since_snapshot: u64,
    idle_since: Instant,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    settings: RoomSettings,
    connected: Arc<AtomicUsize>,
    /// Set when the interview ended: joins are refused with this reason.
    ended: Option<CloseReason>,
    /// Whether `ended` is none, shared with the handle: the WebSocket edge reads it instead of asking the
    /// store whether the room is live (`ws::upgrade`).
    open: Arc<AtomicBool>,
    /// The sync step 2 for a client that knows nothing yet (every fresh joiner), encoded once per document
    /// version: perf on a join storm of 200 KiB rooms showed yrs re-encoding (and re-measuring every
    /// string of) the whole document for each joiner as the server's largest cost. Cleared on every change.
    welcome: Option<Bytes>,
    /// Some member has frames queued (see [`Member::queued`]).
    undelivered: bool,
    /// A malformed update broke the document: it is rebuilt from the store before anything else, and
    /// never snapshotted meanwhile.
    distrusted: bool,
    /// Watches the document's `files` map for what an update's bytes could not show (see `schema`).
    files_guard: FilesGuard,
    /// The document's state vector, kept up to date with every applied update (see `schema::advance`).
    clocks: StateVector,
}

impl RoomActor {
    pub(super) async fn build(
        id: Arc<str>,
        state: RoomState,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        settings: RoomSettings,
    ) -> Result<RoomActor, StoreError> {
        let next_seq = state.next_seq();
        let since_snapshot = state.tail.len() as u64;
        let doc = tokio::task::spawn_blocking(move || rebuild(&state))
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))??;
        let files_guard = FilesGuard::watch(&doc);
        let clocks = doc.transact().state_vector();
        Ok(RoomActor {
            id,
            files_guard,
            clocks,
            awareness: Awareness::new(doc),
            members: Vec::new(),
            awareness_states: Presence::default(),
            next_seq,
            pending: Vec::new(),
            pending_since: None,
            since_snapshot,
            idle_since: Instant::now(),
            store,
            bus,
            settings,
            connected: Arc::new(AtomicUsize::new(0)),
            ended: None,
            open: Arc::new(AtomicBool::new(true)),
            welcome: None,
            undelivered: false,
            distrusted: false,
        })
    }

    /// Returns the room's handle and the actor's future (to spawn).
    pub(super) fn start(
        self,
        registry: Weak<Registry>,
        slot: Arc<Slot>,
    ) -> (RoomHandle, impl Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(ROOM_COMMAND_QUEUE);
        let handle = RoomHandle { commands: tx, connected: self.connected.clone(), open: self.open.clone() };
        // A root span: the room outlives the connection that happened to load it.
        let span = tracing::info_span!(parent: None, "room", id = %self.id);
        (handle, self.run(rx, registry, slot).instrument(span))
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, registry: Weak<Registry>, slot: Arc<Slot>) {
        let mut flight: Option<Flight> = None;
        // Three timers for the actor's life, re-armed only when their deadline moves: a fresh sleep per
        // command would register and cancel a timer for every message the room relays.
        let zero = std::time::Duration::ZERO;
        let (flush_timer, idle_timer, landing_timer) =
            (tokio::time::sleep(zero), tokio::time::sleep(zero), tokio::time::sleep(zero));
        tokio::pin!(flush_timer, idle_timer, landing_timer);
        let (mut flush_armed, mut idle_armed, mut landing_armed) = (None, None, None);
        loop {
            // A commit the store completes on its own is looked at whenever the actor wakes anyway (see
            // `Flight::watched`); one that has not landed by its deadline is then waited on.
            let unwatched = flight.as_mut().filter(|f| !f.watched);
            if let Some(joined) = unwatched.and_then(|f| f.task.as_mut().now_or_never()) {
                let done = flight.take().expect("just polled");
                self.landed(done, joined);
            }
            self.deliver();
            let flush_at = self.pending_since.map(|t| persist::commit_tick(t, self.settings.commit_window));
            let idle_at = self.members.is_empty().then(|| self.idle_since + self.settings.idle_evict);
            let landing_at = flight.as_ref().filter(|f| !f.watched).map(|f| f.look_by);
            rearm(flush_timer.as_mut(), &mut flush_armed, flush_at);
            rearm(idle_timer.as_mut(), &mut idle_armed, idle_at);
            rearm(landing_timer.as_mut(), &mut landing_armed, landing_at);
            tokio::select! {
                biased;
                joined = async { (&mut flight.as_mut().expect("guarded").task).await },
                    if flight.as_ref().is_some_and(|f| f.watched) => {
                    let done = flight.take().expect("guarded");
                    self.landed(done, joined);
                }
                _ = &mut landing_timer, if landing_at.is_some() => {
                    // Not seen landing by now: wait on it like any future (the loop's poll above may still
                    // find it done first).
                    if let Some(f) = flight.as_mut() {
                        f.watched = true;
                    }
                }
                cmd = rx.recv() => match cmd {
                    Some(Command::Shutdown { reason, done }) => {
                        self.kick_all(&reason);
                        self.final_flush(flight.take()).await;
                        let _ = done.send(());
                        break;
                    }
                    Some(Command::End { reason, done }) => {
                        tracing::info!("interview ended; closing every client");
                        // Closed to the edge before the kicks, so no new join is let past the store read.
                        self.set_ended(Some(reason.clone()));
                        self.kick_all(&reason);
                        self.idle_since = Instant::now();
                        self.final_flush(flight.take()).await;
                        let _ = done.send(());
                    }
                    Some(Command::Flush { done }) => {
                        self.flush_now(flight.take(), false).await;
                        let _ = done.send(());
                    }
                    Some(cmd) => {
                        self.handle(cmd);
                        if self.distrusted && !self.reload(flight.take()).await {
                            self.retire(rx, &registry, &slot).await;
                            break;
                        }
                    }
                    None => break,
                },
                _ = &mut flush_timer, if flush_at.is_some() && flight.is_none() => {
                    flight = self.take_off(false);
                }
                _ = &mut idle_timer, if idle_at.is_some() && flight.is_none() => {
                    self.final_flush(None).await;
                    self.retire(rx, &registry, &slot).await;
                    tracing::debug!("idle room evicted");
                    break;
                }
            }
        }
    }

    /// Leaves the registry, so that the next joiner loads the room afresh from the store, and turns away
    /// the commands already queued. The caller has flushed whatever should be kept.
    async fn retire(&mut self, mut rx: mpsc::Receiver<Command>, registry: &Weak<Registry>, slot: &Arc<Slot>) {
        if let Some(reg) = registry.upgrade() {
            reg.remove_if_current(&self.id, slot);
        }
        rx.close();
        // Joiners that raced the retirement load the room again.
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Command::Join(joiner, reply) => drop(reply.send(Err(JoinRefused::Evicting(joiner)))),
                Command::Shutdown { done, .. } | Command::End { done, .. } | Command::Flush { done } => {
                    let _ = done.send(());
                }
                _ => {}
            }
        }
    }

    /// Ends the interview (joins refused with `reason`) or, with `None`, reopens it; the handle's `open`
    /// flag always follows.
    fn set_ended(&mut self, reason: Option<CloseReason>) {
        self.open.store(reason.is_none(), Ordering::Release);
        self.ended = reason;
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Join(joiner, reply) => {
                let result = self.join(joiner);
                let _ = reply.send(result);
            }
            Command::Leave { conn_id } => self.remove_member(conn_id, None),
            Command::Reopen => self.set_ended(None),

            Command::Messages { conn_id, msgs } => {
                for msg in msgs {
                    if self.distrusted {
                        break;
                    }
                    self.on_message(conn_id, msg);
                }
            }
            Command::Shutdown { .. } | Command::End { .. } | Command::Flush { .. } => {
                unreachable!("handled in run")
            }
        }
    }

    fn on_message(&mut self, conn_id: u64, msg: Inbound) {
        match msg {
            Inbound::SyncStep1(sv) => {
                let answer = if sv.is_empty() {
                    self.welcome().clone()
                } else {
                    let update = self.awareness.doc().transact().encode_state_as_update_v1(&sv);
                    Bytes::from(frame::encode_sync_step2(&update))
                };
                self.send_to(conn_id, answer);
            }
            Inbound::Update { update, payload, message, step2 } => {
                self.on_update(conn_id, update, payload, message, step2)
            }
            Inbound::Awareness { update, message, conforming } => {
                self.on_awareness(conn_id, update, message, conforming)
            }
            Inbound::QueryAwareness => {
                if let Some(frame) = self.awareness_frame() {
                    self.send_to(conn_id, frame);
                }
            }
        }
    }

    fn join(&mut self, joiner: Joiner) -> Result<(), JoinRefused> {
        if let Some(reason) = &self.ended {
            return Err(JoinRefused::Closed(reason.clone()));
        }
        if self.members.len() >= MAX_CLIENTS_PER_ROOM {
            return Err(JoinRefused::Closed(CloseReason::new(
                CLOSE_TRY_AGAIN,
                format!("room is full ({MAX_CLIENTS_PER_ROOM} clients)"),
            )));
        }
        let conn_id = joiner.who.conn_id;
        tracing::info!(conn = conn_id, role = %joiner.who.role, name = %joiner.who.name, "joined");
        self.presence("join", &joiner.who);
        self.members.push(Member {
            who: joiner.who,
            outlet: joiner.outlet,
            kick: Some(joiner.kick),
            told_read_only: false,
            queued: Vec::new(),
        });
        self.connected.store(self.members.len(), Ordering::Relaxed);
        // y-websocket order: our state vector first (the client answers with what we lack), then presence.
        let sv = self.awareness.doc().transact().state_vector();
        self.send_to(conn_id, Bytes::from(frame::encode_sync_step1(&sv)));
        if let Some(frame) = self.awareness_frame() {
            self.send_to(conn_id, frame);
        }
        Ok(())
    }

    /// Records a join or leave for the session timeline, off the room's task (it is not on the edit path).
    fn presence(&self, kind: &str, who: &Identity) {
        let event = PresenceEvent {
            at_ms: now_ms(),
            kind: kind.to_owned(),
            name: who.name.to_string(),
            role: who.role,
            conn_id: who.conn_id,
        };
        let (store, room) = (self.store.clone(), self.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.record_presence(&room, event).await {
                tracing::warn!(error = %e, "recording presence failed");
            }
        });
    }

    fn awareness_frame(&self) -> Option<Bytes> {
        self.awareness_states.snapshot()
    }

    fn on_update(&mut self, conn_id: u64, update: Update, payload: Bytes, message: Bytes, step2: bool) {
        let Some(member) = self.members.iter_mut().find(|m| m.who.conn_id == conn_id) else { return };
        if update.is_empty() {
            return;
        }
        if !member.who.role.can_edit() {
            if !member.told_read_only {
                member.told_read_only = true;
                self.send_to(conn_id, Bytes::from(frame::encode_permission_denied(READ_ONLY_REASON)));
            }
            return;
        }
        let (author, role) = (member.who.name.clone(), member.who.role);
        let deps = match schema::check_dependencies(&payload, &self.clocks) {
            Ok(deps) => deps,
            Err(refusal) => {
                METRICS.refuse_update(refusal.reason());
                let reason = format!("update refused: {refusal}");
                self.remove_member(conn_id, Some(CloseReason::new(CLOSE_INVALID_PAYLOAD, reason)));
                return;
            }
        };
        let outcome = integrate(&mut self.awareness.doc().transact_mut(), update);
        // The transaction is committed: the `files` map's observer has seen what the update did to it.
        let outcome = match outcome {
            Integrated::Applied if self.files_guard.take_broken() => Integrated::BrokeSchema,
            Integrated::Applied
                if deps.repeats == Repeats::Yes && !schema::reads_back_same(self.awareness.doc()) =>
            {
                Integrated::Broken
            }
            outcome => outcome,
        };
        match outcome {
            Integrated::Applied => {
                self.welcome = None;
                schema::advance(&mut self.clocks, &deps);
            }
            Integrated::Refused(e) => {
                METRICS.refuse_update("integration");
                self.remove_member(
                    conn_id,
                    Some(CloseReason::new(CLOSE_INVALID_PAYLOAD, format!("update refused: {e}"))),
                );
                return;
            }
            Integrated::Broken | Integrated::BrokeSchema => {
                let (reason, why) = match outcome {
                    Integrated::BrokeSchema => ("schema", "update refused: schema: a file must be a Y.Text"),
                    _ => ("broken", "update refused: malformed"),
                };
                METRICS.refuse_update(reason);
                tracing::warn!(conn = conn_id, reason, "an update broke the document; reloading the room");
                self.remove_member(conn_id, Some(CloseReason::new(CLOSE_INVALID_PAYLOAD, why)));
                // The run loop rebuilds the room before it takes the next command.
                self.distrusted = true;
                return;
            }
        }
        self.pending.push(LogEntry {
            room_id: self.id.clone(),
            seq: self.next_seq,
            at_ms: now_ms(),
            author,
            role: Some(role),
            conn_id,
            update: payload.clone(),
        });
        self.next_seq += 1;
        self.since_snapshot += 1;
        METRICS.updates_in.inc();
        self.pending_since.get_or_insert_with(Instant::now);
        self.bus.publish(&self.id, &payload);
        // A sync-step-2 answer is re-framed as an update; a plain update is forwarded byte for byte.
        let out = if step2 { Bytes::from(frame::encode_update(&payload)) } else { message };
        METRICS.updates_out.inc_by(self.members.len() as u64 - 1);
        self.broadcast(out, conn_id);
    }

    /// Relays what the presence rules take of a member's awareness message (`presence.rs`).
    fn on_awareness(&mut self, conn_id: u64, update: AwarenessUpdate, message: Bytes, conforming: bool) {
        let Some(member) = self.members.iter().find(|m| m.who.conn_id == conn_id) else { return };
        match self.awareness_states.apply(&member.who, update, conforming) {
            Relay::Nothing => {}
            Relay::Verbatim => self.broadcast(message, conn_id),
            Relay::Encoded(frame) => self.broadcast(frame, conn_id),
        }
    }

    /// The whole document as a sync step 2 frame, from the cache when the document has not changed.
    fn welcome(&mut self) -> &Bytes {
        let doc = self.awareness.doc();
        self.welcome.get_or_insert_with(|| {
            let update = doc.transact().encode_state_as_update_v1(&yrs::StateVector::default());
            Bytes::from(frame::encode_sync_step2(&update))
        })
    }

    /// Queues `frame` for one member (handed to its outlet by [`Self::deliver`]).
    fn send_to(&mut self, conn_id: u64, frame: Bytes) {
        if let Some(m) = self.members.iter_mut().find(|m| m.who.conn_id == conn_id) {
            m.queued.push(frame);
            self.undelivered = true;
        }
    }

    /// Queues the same frame for every member but `except`.
    fn broadcast(&mut self, frame: Bytes, except: u64) {
        for m in self.members.iter_mut().filter(|m| m.who.conn_id != except) {
            m.queued.push(frame.clone());
            self.undelivered = true;
        }
    }

    /// Hands every queued frame to its member's outlet; a full outbox disconnects that member as a slow
    /// consumer. Called before the actor waits again, so one command's frames leave together.
    fn deliver(&mut self) {
        while std::mem::take(&mut self.undelivered) {
            let mut dropped = Vec::new();
            let (mut frames, mut bytes) = (0u64, 0u64);
            for m in self.members.iter_mut().filter(|m| !m.queued.is_empty()) {
                match m.outlet.send(&mut m.queued) {
                    Ok(sent) => (frames, bytes) = (frames + sent.frames, bytes + sent.bytes),
                    Err(Refused::Full) => dropped.push((m.who.conn_id, Some(slow_consumer()))),
                    Err(Refused::Closed) => dropped.push((m.who.conn_id, None)),
                }
            }
            METRICS.frames_out.inc_by(frames);
            METRICS.bytes_out.inc_by(bytes);
            // A departure queues its withdrawal for the others: the loop delivers that too.
            for (conn_id, reason) in dropped {
                self.remove_member(conn_id, reason);
            }
        }
    }

    /// Removes a member (telling it why, if it is being closed), withdraws its awareness states and
    /// announces that to the others.
    fn remove_member(&mut self, conn_id: u64, reason: Option<CloseReason>) {
        let Some(pos) = self.members.iter().position(|m| m.who.conn_id == conn_id) else { return };
        let member = self.members.swap_remove(pos);
        self.presence("leave", &member.who);
        self.connected.store(self.members.len(), Ordering::Relaxed);
        if self.members.is_empty() {
            self.idle_since = Instant::now();
        }
        match reason {
            Some(reason) => {
                tracing::info!(conn = conn_id, code = reason.code, reason = %reason.reason, "closing client");
                kick(member, reason);
            }
            None => tracing::info!(conn = conn_id, "left"),
        }
        if let Some(withdrawn) = self.awareness_states.leave(conn_id) {
            self.broadcast(withdrawn, conn_id);
        }
    }
}

fn slow_consumer() -> CloseReason {
    METRICS.slow_consumers.inc();
    CloseReason::new(CLOSE_SLOW_CONSUMER, "slow consumer: outbox full, reconnect to resync")
}

impl RoomActor {
    /// Closes every member's connection with `reason`; the room then has no one connected.
    /// Each leaves the timeline like any departure, and its cursor goes: nobody is left to be told, and a
    /// reopened room must not show the departed.
    fn kick_all(&mut self, reason: &CloseReason) {
        for m in std::mem::take(&mut self.members) {
            self.presence("leave", &m.who);
            kick(m, reason.clone());
        }
        self.awareness_states.clear();
        self.connected.store(0, Ordering::Relaxed);
    }
}

fn kick(mut member: Member, reason: CloseReason) {
    if let Some(k) = member.kick.take() {
        let _ = k.send(reason);
    }
}

/// Points `timer` at `at` if that is a new deadline; `None` leaves it alone (the caller guards on it).
fn rearm(timer: std::pin::Pin<&mut tokio::time::Sleep>, armed: &mut Option<Instant>, at: Option<Instant>) {
    if at != *armed {
        if let Some(at) = at {
            timer.reset(at);
        }
        *armed = at;
    }
}
