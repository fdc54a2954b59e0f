//! The map of loaded rooms. The first joiner of a room loads it from the store; concurrent joiners share
//! that one load (single flight through a `OnceCell` per room); an idle room removes itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use dashmap::DashMap;
use handoff_protocol::frame::{CLOSE_GOING_AWAY, CLOSE_TRY_AGAIN};
use tokio::sync::{OnceCell, oneshot};

use super::actor::RoomActor;
use super::{CloseReason, Command, Extension, JoinRefused, Joiner, RoomHandle, RoomSettings, ended_reason};
use crate::bus::Bus;
use crate::metrics::METRICS;
use crate::store::RoomLog;

/// Times a joiner retries when it meets a room that is being evicted (each retry loads it afresh).
const JOIN_RETRIES: usize = 3;

/// One room's place in the registry. The cell is filled by the single load.
#[derive(Default)]
struct Slot {
    cell: OnceCell<RoomHandle>,
}

pub struct Registry {
    rooms: DashMap<Arc<str>, Arc<Slot>>,
    store: Arc<dyn RoomLog>,
    bus: Arc<dyn Bus>,
    settings: RoomSettings,
    /// Set once shutdown starts: no room may load after its final flush.
    closing: AtomicBool,
    me: Weak<Registry>,
}

impl Registry {
    pub fn new(store: Arc<dyn RoomLog>, bus: Arc<dyn Bus>, settings: RoomSettings) -> Arc<Registry> {
        Arc::new_cyclic(|me| Registry {
            rooms: DashMap::new(),
            store,
            bus,
            settings,
            closing: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    /// Joins the room, loading it first if this node does not hold it.
    pub async fn join(&self, room_id: &str, mut joiner: Joiner) -> Result<RoomHandle, CloseReason> {
        for _ in 0..JOIN_RETRIES {
            if self.closing.load(Ordering::Acquire) {
                return Err(CloseReason::new(CLOSE_GOING_AWAY, "server is shutting down, reconnect shortly"));
            }
            let slot = self.rooms.entry(Arc::from(room_id)).or_default().clone();
            let handle = match slot.cell.get_or_try_init(|| self.load(room_id, slot.clone())).await {
                Ok(h) => h.clone(),
                Err(reason) => {
                    self.remove_if_current(room_id, &slot);
                    return Err(reason);
                }
            };
            let (tx, rx) = oneshot::channel();
            if handle.send(Command::Join(joiner, tx)).await.is_err() {
                // The actor stopped between lookup and send; it has removed itself already.
                self.remove_if_current(room_id, &slot);
                return Err(CloseReason::new(CLOSE_TRY_AGAIN, "room is reloading, reconnect"));
            }
            match rx.await {
                Ok(Ok(())) => return Ok(handle),
                Ok(Err(JoinRefused::Closed(reason))) => return Err(reason),
                Ok(Err(JoinRefused::Evicting(back))) => joiner = back,
                Err(_) => return Err(CloseReason::new(CLOSE_TRY_AGAIN, "room is reloading, reconnect")),
            }
        }
        Err(CloseReason::new(CLOSE_TRY_AGAIN, "room is busy reloading, reconnect"))
    }

    async fn load(&self, room_id: &str, slot: Arc<Slot>) -> Result<RoomHandle, CloseReason> {
        let started = std::time::Instant::now();
        let state = self.store.load_room(room_id).await.map_err(|e| {
            tracing::error!(room = room_id, error = %e, "loading room failed");
            CloseReason::new(CLOSE_TRY_AGAIN, "room could not be loaded, reconnect")
        })?;
        let from = if state.snapshot.is_some() { "snapshot" } else { "log" };
        METRICS.room_loads.with_label_values(&[from]).inc();
        METRICS.room_load_entries.inc_by(state.tail.len() as u64);
        let id: Arc<str> = Arc::from(room_id);
        let actor =
            RoomActor::build(id.clone(), state, self.store.clone(), self.bus.clone(), self.settings.clone())
                .await
                .map_err(|e| {
                    tracing::error!(room = room_id, error = %e, "room state is unreadable");
                    CloseReason::new(CLOSE_TRY_AGAIN, "room could not be loaded")
                })?;
        let (me, room) = (self.me.clone(), id.clone());
        let retire = move || {
            if let Some(registry) = me.upgrade() {
                registry.remove_if_current(&room, &slot);
            }
        };
        let (handle, run) = actor.start(retire);
        tokio::spawn(run);
        METRICS.room_load_seconds.observe(started.elapsed().as_secs_f64());
        tracing::debug!(room = room_id, elapsed_ms = started.elapsed().as_millis() as u64, "room loaded");
        Ok(handle)
    }

    /// Removes `room_id` if it still maps to `slot` (a newer load may have replaced it).
    fn remove_if_current(&self, room_id: &str, slot: &Arc<Slot>) {
        self.rooms.remove_if(room_id, |_, current| Arc::ptr_eq(current, slot));
    }

    /// Closes every client of an ended room on this node; the room refuses joins from now on.
    pub async fn end(&self, room_id: &str) {
        // The other nodes close theirs when the bus brings them the end.
        self.bus.ended(room_id);
        let handle = self.rooms.get(room_id).and_then(|s| s.cell.get().cloned());
        if let Some(h) = handle {
            let reason = ended_reason();
            let (done, flushed) = oneshot::channel();
            if h.send(Command::End { reason, done }).await.is_ok() {
                let _ = flushed.await;
            }
        }
    }

    /// Sends an extension message to the members of the room that announced `ext`: here if the room is
    /// loaded here (a room not loaded here has no members here to tell), and, for a room event, on every
    /// other node too, through the bus (voice signalling is between a member and this node's SFU).
    pub async fn send_extension(&self, room_id: &str, ext: Extension, frame: Bytes) {
        if ext == Extension::RoomEvents {
            self.bus.room_event(room_id, frame.clone());
        }
        let handle = self.rooms.get(room_id).and_then(|s| s.cell.get().cloned());
        if let Some(h) = handle {
            let _ = h.send(Command::Extension { ext, frame }).await;
        }
    }

    /// Lets a loaded, ended room accept joins again.
    pub async fn reopen(&self, room_id: &str) {
        self.bus.reopened(room_id);
        let handle = self.rooms.get(room_id).and_then(|s| s.cell.get().cloned());
        if let Some(h) = handle {
            let _ = h.send(Command::Reopen).await;
        }
    }

    /// Commits every accepted update of a loaded room before returning; in a cluster, also every update
    /// the other nodes published (an export on any node reads the whole log).
    pub async fn flush(&self, room_id: &str) {
        let handle = self.rooms.get(room_id).and_then(|s| s.cell.get().cloned());
        if let Some(h) = handle {
            let (done, flushed) = oneshot::channel();
            if h.send(Command::Flush { done }).await.is_ok() && flushed.await.is_ok() {
                return;
            }
        }
        if let Err(error) = self.bus.flush(room_id).await {
            tracing::warn!(room = room_id, %error, "committing the room's log failed");
        }
    }

    /// Whether this node holds the room loaded and its interview has not ended. Such a room is live: an
    /// end reaches the actor (`end`) before the API answers it.
    pub fn holds_open(&self, room_id: &str) -> bool {
        self.rooms.get(room_id).and_then(|s| s.cell.get().map(RoomHandle::is_open)).unwrap_or(false)
    }

    /// Clients connected to a room on this node (0 when it is not loaded).
    pub fn connected(&self, room_id: &str) -> usize {
        self.rooms.get(room_id).and_then(|s| s.cell.get().map(RoomHandle::connected)).unwrap_or(0)
    }

    /// Clients connected to a room on every node of the cluster (this node's alone when single).
    pub async fn connected_everywhere(&self, room_id: &str) -> usize {
        match self.bus.connected_everywhere(room_id).await {
            Some(count) => count,
            None => self.connected(room_id),
        }
    }

    /// Rooms loaded on this node.
    pub fn loaded(&self) -> usize {
        self.rooms.len()
    }

    /// Closes every client, flushes every room to the store and stops the actors.
    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        let handles: Vec<RoomHandle> = self.rooms.iter().filter_map(|s| s.cell.get().cloned()).collect();
        let mut waits = Vec::with_capacity(handles.len());
        for h in handles {
            let (done, wait) = oneshot::channel();
            let reason = CloseReason::new(CLOSE_GOING_AWAY, "server is shutting down, reconnect shortly");
            if h.send(Command::Shutdown { reason, done }).await.is_ok() {
                waits.push(wait);
            }
        }
        for w in waits {
            let _ = w.await;
        }
        self.rooms.clear();
    }
}

impl std::fmt::Debug for Registry {
    /// Opaque: the loaded rooms and their shared handles.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}
