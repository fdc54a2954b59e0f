//! The room actor: the one task that owns a room, driving its core (`core`) with what arrives on its
//! command channel and its timers, delivering the frames the core queued through the members' sinks,
//! and writing the core's commits to the store.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::FutureExt;
use handoff_protocol::limits::ROOM_COMMAND_QUEUE;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

mod commit;
mod remote;

use super::core::{Event, LogOrder, Now, RoomCore, rebuild};
use super::{Command, Fanout, JoinRefused, Joiner, MemberSink, RoomHandle, RoomSettings};
use crate::bus::{Attachment, Bus};
use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::store::{RoomLog, RoomState, StoreError, StoreResult};
use commit::{CommitInFlight, commit_tick};

pub(super) struct RoomActor {
    id: Arc<str>,
    core: RoomCore<Box<dyn MemberSink>>,
    /// When the room opened: the zero of its clock.
    opened: Instant,
    store: Arc<dyn RoomLog>,
    bus: Arc<dyn Bus>,
    /// The room's remote inputs when the bus orders its log (a cluster); `None` on a single node.
    attachment: Option<Attachment>,
    settings: RoomSettings,
    connected: Arc<AtomicUsize>,
    /// Whether the interview has not ended, shared with the handle: the WebSocket edge reads it instead
    /// of asking the store whether the room is live.
    open: Arc<AtomicBool>,
    /// The updates the next delivery fans out (`handoff_fanout_seconds`), stamped with the instant the
    /// clock was read for their input anyway (no extra clock read here), and their sender's connection,
    /// which is not sent its own updates.
    fanout: Option<(Fanout, Option<u64>)>,
}

impl RoomActor {
    pub(super) async fn build(
        id: Arc<str>,
        state: RoomState,
        store: Arc<dyn RoomLog>,
        bus: Arc<dyn Bus>,
        settings: RoomSettings,
    ) -> Result<RoomActor, StoreError> {
        let next_seq = state.next_seq();
        let since_snapshot = state.tail.len() as u64;
        let doc = tokio::task::spawn_blocking(move || rebuild(&state))
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))??;
        let attachment = bus.attach(&id, next_seq - 1);
        let order = if attachment.is_some() { LogOrder::Bus } else { LogOrder::Room };
        let (evict, every) = (settings.idle_evict, settings.snapshot_every);
        let core = RoomCore::new(id.clone(), doc, next_seq, since_snapshot, every, evict, order);
        Ok(RoomActor {
            id,
            core,
            opened: Instant::now(),
            store,
            bus,
            attachment,
            settings,
            connected: Arc::new(AtomicUsize::new(0)),
            open: Arc::new(AtomicBool::new(true)),
            fanout: None,
        })
    }

    /// Returns the room's handle and the actor's future (to spawn). `retire` takes the room out of the
    /// registry, so that the next joiner loads it afresh.
    pub(super) fn start(
        self,
        retire: impl FnOnce() + Send + 'static,
    ) -> (RoomHandle, impl Future<Output = ()>) {
        let (tx, rx) = mpsc::channel(ROOM_COMMAND_QUEUE);
        let handle = RoomHandle { commands: tx, connected: self.connected.clone(), open: self.open.clone() };
        // A root span: the room outlives the connection that happened to load it.
        let span = tracing::info_span!(parent: None, "room", id = %self.id);
        (handle, self.run(rx, retire).instrument(span))
    }

    /// Both clocks, read once per input: the room's (monotonic, from `opened`) and the wall clock.
    fn now(&self) -> Now {
        self.now_at(Instant::now())
    }

    /// [`Self::now`] at the monotonic instant `at`, read by the caller.
    fn now_at(&self, at: Instant) -> Now {
        let room_ms =
            u64::try_from(at.saturating_duration_since(self.opened).as_millis()).unwrap_or(u64::MAX);
        Now { room_ms, wall_ms: now_ms() }
    }

    /// The instant of room time `room_ms`.
    fn instant(&self, room_ms: u64) -> Instant {
        self.opened + std::time::Duration::from_millis(room_ms)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, retire: impl FnOnce() + Send) {
        let mut commit: Option<CommitInFlight> = None;
        // Three timers for the actor's life, re-armed only when their deadline moves: a fresh sleep per
        // command would register and cancel a timer for every message the room relays.
        let zero = std::time::Duration::ZERO;
        let (commit_timer, idle_timer, await_timer) =
            (tokio::time::sleep(zero), tokio::time::sleep(zero), tokio::time::sleep(zero));
        tokio::pin!(commit_timer, idle_timer, await_timer);
        let (mut commit_armed, mut idle_armed, mut await_armed) = (None, None, None);
        loop {
            // A commit the store completes on its own is looked at whenever the actor wakes anyway (see
            // `CommitInFlight::awaited`); one that has not landed by its deadline is then awaited.
            let unawaited = commit.as_mut().filter(|c| !c.awaited);
            if let Some(result) = unawaited.and_then(|c| c.write.as_mut().now_or_never())
                && let Some(done) = commit.take()
            {
                self.finish_commit(&done, result);
            }
            self.deliver();
            let deadlines = self.core.deadlines();
            let commit_at =
                deadlines.commit_since.map(|ms| commit_tick(self.instant(ms), self.settings.commit_window));
            let idle_at = deadlines.idle_at.map(|ms| self.instant(ms));
            let await_at = commit.as_ref().filter(|c| !c.awaited).map(|c| c.await_from);
            rearm(commit_timer.as_mut(), &mut commit_armed, commit_at);
            rearm(idle_timer.as_mut(), &mut idle_armed, idle_at);
            rearm(await_timer.as_mut(), &mut await_armed, await_at);
            let awaited = commit.as_ref().is_some_and(|c| c.awaited);
            let attached = self.attachment.is_some();
            tokio::select! {
                biased;
                result = async {
                    match commit.as_mut() {
                        Some(c) => (&mut c.write).await,
                        None => std::future::pending().await,
                    }
                }, if awaited => {
                    if let Some(done) = commit.take() {
                        self.finish_commit(&done, result);
                    }
                }
                _ = &mut await_timer, if await_at.is_some() => {
                    // Not seen landing by now: wait on it like any future (the loop's poll above may still
                    // find it done first).
                    if let Some(c) = commit.as_mut() {
                        c.awaited = true;
                    }
                }
                remote = async {
                    match self.attachment.as_mut() {
                        Some(a) => a.remote.recv().await,
                        None => std::future::pending().await,
                    }
                }, if attached => {
                    self.remote(remote);
                    if self.core.distrusted() && !self.reload(commit.take()).await {
                        self.retire(rx, retire).await;
                        break;
                    }
                }
                cmd = rx.recv() => match cmd {
                    Some(Command::Shutdown { reason, done }) => {
                        let now = self.now();
                        self.core.close_all(&reason, now);
                        self.apply_events();
                        self.flush(commit.take(), true).await;
                        let _ = done.send(());
                        break;
                    }
                    Some(Command::End { reason, done }) => {
                        tracing::info!("interview ended; closing every client");
                        // Closed to the edge before the members are, so no new join is let past the store read.
                        self.open.store(false, Ordering::Release);
                        let now = self.now();
                        self.core.end(reason, now);
                        self.apply_events();
                        self.flush(commit.take(), true).await;
                        let _ = done.send(());
                    }
                    Some(Command::Flush { done }) => {
                        self.flush(commit.take(), false).await;
                        let _ = done.send(());
                    }
                    Some(cmd) => {
                        self.handle(cmd);
                        if self.core.distrusted() && !self.reload(commit.take()).await {
                            self.retire(rx, retire).await;
                            break;
                        }
                    }
                    None => break,
                },
                _ = &mut commit_timer, if commit_at.is_some() && commit.is_none() => {
                    commit = self.start_commit(false);
                }
                _ = &mut idle_timer, if idle_at.is_some() && commit.is_none() => {
                    self.flush(None, true).await;
                    self.retire(rx, retire).await;
                    tracing::debug!("idle room evicted");
                    break;
                }
            }
        }
        if self.attachment.take().is_some() {
            self.bus.detach(&self.id);
        }
    }

    fn handle(&mut self, cmd: Command) {
        let at = Instant::now();
        let now = self.now_at(at);
        let from = if let Command::Messages { conn_id, .. } = &cmd { Some(*conn_id) } else { None };
        match cmd {
            Command::Join(Joiner { who, extensions, sink }, reply) => {
                let result = self.core.join(who, extensions, sink, now).map_err(JoinRefused::Closed);
                self.apply_events();
                let _ = reply.send(result);
            }
            Command::Leave { conn_id } => self.core.leave(conn_id, now),
            Command::Reopen => {
                self.core.reopen();
                self.open.store(true, Ordering::Release);
            }
            Command::Messages { conn_id, msgs } => self.core.receive(conn_id, msgs, now),
            Command::Extension { ext, frame } => self.core.send_extension(ext, frame),
            Command::ExtensionTo { conn_id, ext, frame } => self.core.send_extension_to(conn_id, ext, frame),
            Command::Shutdown { done, .. } | Command::End { done, .. } | Command::Flush { done } => {
                // `run` handles these itself; answered rather than dropped if one ever arrives here.
                let _ = done.send(());
            }
        }
        let updates = self.apply_events();
        if updates > 0 {
            self.fanout = Some((Fanout { at: at.into_std(), updates }, from));
        }
    }

    /// Carries out what the core asked for besides frames. Returns how many updates the core applied
    /// since the last call (its own members' and other nodes'), for the fan-out histogram.
    fn apply_events(&mut self) -> u32 {
        let RoomActor { core, store, bus, id, connected, attachment, .. } = self;
        for event in core.events() {
            match event {
                Event::Removed { conn_id, sink: mut member, reason: Some(reason) } => {
                    tracing::trace!(conn = conn_id, "telling the connection to close");
                    member.close(reason);
                }
                Event::Removed { reason: None, .. } => {}
                Event::Moved { event, room_ms } => {
                    // Off the room's task: the timeline is not on the edit path.
                    let (store, room) = (store.clone(), id.clone());
                    tokio::spawn(async move {
                        if let Err(e) = store.record_presence(&room, event).await {
                            tracing::warn!(error = %e, room_ms, "recording presence failed");
                        }
                    });
                }
                Event::Accepted(entry) => bus.publish(entry),
                Event::Awareness(frame) => bus.awareness(id, frame),
            }
        }
        if attachment.is_some() {
            bus.connected(id, core.member_count());
        }
        connected.store(core.member_count(), Ordering::Relaxed);
        core.take_applied()
    }

    /// Hands every queued frame to its member's sink; a full outbox closes that member as a slow
    /// consumer. Called before the actor waits again, so one command's frames leave together.
    fn deliver(&mut self) {
        // The first round carries the input's frames; later ones only departures' withdrawals.
        let mut fanout = self.fanout.take();
        while self.core.take_undelivered() {
            let mut failed = Vec::new();
            let (mut frames, mut bytes) = (0u64, 0u64);
            for (conn_id, sink, queued) in self.core.outgoing() {
                let carries = fanout.filter(|(_, from)| *from != Some(conn_id)).map(|(f, _)| f);
                match sink.deliver(queued, carries) {
                    Ok(sent) => (frames, bytes) = (frames + sent.frames, bytes + sent.bytes),
                    Err(why) => failed.push((conn_id, why)),
                }
            }
            METRICS.frames_out.inc_by(frames);
            METRICS.bytes_out.inc_by(bytes);
            fanout = None;
            if !failed.is_empty() {
                // A departure queues its withdrawal for the others: the loop delivers that too.
                let now = self.now();
                for (conn_id, why) in failed {
                    self.core.undeliverable(conn_id, why, now);
                }
                self.apply_events();
            }
        }
    }

    /// Starts a group commit of what the core has pending (with a snapshot when due, or if `last`).
    fn start_commit(&mut self, last: bool) -> Option<CommitInFlight> {
        let commit = self.core.take_commit(self.now(), last)?;
        Some(CommitInFlight::start(&self.store, commit, self.settings.commit_window))
    }

    fn finish_commit(&mut self, commit: &CommitInFlight, result: StoreResult<()>) {
        match result {
            Ok(()) => self.core.commit_landed(),
            Err(error) => {
                let (rows, since) = (commit.rows, commit.oldest_room_ms);
                tracing::error!(%error, rows, oldest_room_ms = since, "group commit failed; will retry");
                self.core.commit_failed(self.now());
            }
        }
    }

    /// Waits for the commit in flight, then commits everything left (with a snapshot if `last` and
    /// anything is not yet covered by one, or if one is due anyway). Returns whether that commit landed;
    /// if not, its entries stay queued for the next.
    async fn flush(&mut self, commit: Option<CommitInFlight>, last: bool) -> bool {
        if self.attachment.is_some() {
            // The bus orders and commits the log: the room has nothing of its own to write.
            return match self.bus.flush(&self.id).await {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(%error, "committing the room's log failed");
                    false
                }
            };
        }
        if let Some(mut c) = commit {
            let result = (&mut c.write).await;
            self.finish_commit(&c, result);
        }
        let Some(mut c) = self.start_commit(last) else { return true };
        let result = (&mut c.write).await;
        let landed = result.is_ok();
        self.finish_commit(&c, result);
        landed
    }

    /// Rebuilds the distrusted document from the store: the update that broke it was never logged, so
    /// the store holds the last good state. Everyone else stays connected, their cursors too. Returns
    /// false if the room could not be rebuilt: then everyone was closed, and the caller retires the room
    /// so that the next joiner loads it afresh.
    async fn reload(&mut self, commit: Option<CommitInFlight>) -> bool {
        // Only the log: the core snapshots nothing while the document is distrusted. Rebuilt without
        // updates the others already hold, the room would fork from them: then it must not serve either.
        let logged = self.flush(commit, false).await;
        tracing::debug!(logged, "reloading the room");
        let loaded = if logged { Some(self.store.load_room(&self.id).await) } else { None };
        let rebuilt = match loaded {
            Some(Ok(state)) => {
                if self.attachment.is_some() {
                    // Attached again where the store ends: the bus brings the rest from its stream.
                    self.bus.detach(&self.id);
                    self.attachment = self.bus.attach(&self.id, state.next_seq() - 1);
                }
                tokio::task::spawn_blocking(move || rebuild(&state)).await.ok().and_then(Result::ok)
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "reload failed");
                None
            }
            None => None,
        };
        let done = match rebuilt {
            Some(doc) => {
                METRICS.room_rebuilds.inc();
                self.core.rebuilt(doc);
                true
            }
            None => {
                METRICS.room_rebuild_failures.inc();
                self.core.rebuild_failed(self.now());
                false
            }
        };
        self.apply_events();
        done
    }

    /// Leaves the registry, so that the next joiner loads the room afresh from the store, and turns away
    /// the commands already queued. The caller has flushed whatever should be kept.
    async fn retire(&mut self, mut rx: mpsc::Receiver<Command>, retire: impl FnOnce()) {
        retire();
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
