//! The room's members and the frames waiting for each. Everything one input produces for a member is
//! queued here and handed to its sink only before the room waits again, back to back, so a burst leaves
//! in one write. Members are a small `Vec` (at most `MAX_CLIENTS_PER_ROOM`): a scan is cheaper than a map.

use bytes::Bytes;

use super::super::{Extension, Extensions, Identity};

pub(super) struct Member<S> {
    pub(super) who: Identity,
    pub(super) extensions: Extensions,
    /// Kept only to be handed back with the member's frames or on its removal; the core never calls it.
    pub(super) sink: S,
    /// The observer was already told it is read-only (said once, not per keystroke).
    pub(super) told_read_only: bool,
    /// Asked to resync after a rebuild and not answered yet (sync step 2): its updates until then
    /// may build on what the rebuilt document lacks.
    pub(super) resyncing: bool,
    /// Frames not yet handed to the sink.
    queued: Vec<Bytes>,
}

impl<S> Member<S> {
    pub(super) fn new(who: Identity, extensions: Extensions, sink: S) -> Member<S> {
        Member { who, extensions, sink, told_read_only: false, resyncing: false, queued: Vec::new() }
    }
}

pub(super) struct Members<S> {
    list: Vec<Member<S>>,
    /// Some member has frames queued.
    undelivered: bool,
}

impl<S> Default for Members<S> {
    fn default() -> Self {
        Members { list: Vec::new(), undelivered: false }
    }
}

impl<S> Members<S> {
    pub(super) fn len(&self) -> usize {
        self.list.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(super) fn get(&self, conn_id: u64) -> Option<&Member<S>> {
        self.list.iter().find(|m| m.who.conn_id == conn_id)
    }

    pub(super) fn get_mut(&mut self, conn_id: u64) -> Option<&mut Member<S>> {
        self.list.iter_mut().find(|m| m.who.conn_id == conn_id)
    }

    pub(super) fn push(&mut self, member: Member<S>) {
        self.list.push(member);
    }

    /// Takes a member out, with whatever was still queued for it.
    pub(super) fn remove(&mut self, conn_id: u64) -> Option<Member<S>> {
        let pos = self.list.iter().position(|m| m.who.conn_id == conn_id)?;
        Some(self.list.swap_remove(pos))
    }

    pub(super) fn take_all(&mut self) -> Vec<Member<S>> {
        std::mem::take(&mut self.list)
    }

    /// Queues `frame` for one member.
    pub(super) fn send_to(&mut self, conn_id: u64, frame: Bytes) {
        if let Some(m) = self.get_mut(conn_id) {
            m.queued.push(frame);
            self.undelivered = true;
        }
    }

    /// Queues the same frame for every member but `except`.
    pub(super) fn broadcast(&mut self, frame: Bytes, except: u64) {
        for m in self.list.iter_mut().filter(|m| m.who.conn_id != except) {
            m.queued.push(frame.clone());
            self.undelivered = true;
        }
    }

    /// Queues a frame for every member (what another node relayed).
    pub(super) fn broadcast_all(&mut self, frame: Bytes) {
        for m in self.list.iter_mut() {
            m.queued.push(frame.clone());
            self.undelivered = true;
        }
    }

    /// Asks every member to resync: queues `greeting` (a sync step 1) and `everything` (a sync step 2)
    /// for each, and marks it resyncing.
    pub(super) fn resync_all(&mut self, greeting: Bytes, everything: Bytes) {
        for m in self.list.iter_mut() {
            m.resyncing = true;
            m.queued.push(greeting.clone());
            m.queued.push(everything.clone());
            self.undelivered = true;
        }
    }

    /// Queues an extension message for the members that announced `ext`, and no one else.
    pub(super) fn broadcast_extension(&mut self, ext: Extension, frame: Bytes) {
        for m in self.list.iter_mut().filter(|m| m.extensions.contains(ext)) {
            m.queued.push(frame.clone());
            self.undelivered = true;
        }
    }

    /// Queues an extension frame for one member, if it is here and announced `ext`.
    pub(super) fn send_extension_to(&mut self, conn_id: u64, ext: Extension, frame: Bytes) {
        if let Some(m) = self.list.iter_mut().find(|m| m.who.conn_id == conn_id && m.extensions.contains(ext))
        {
            m.queued.push(frame);
            self.undelivered = true;
        }
    }

    /// Whether frames were queued since the last call.
    pub(super) fn take_undelivered(&mut self) -> bool {
        std::mem::take(&mut self.undelivered)
    }

    /// Every member with frames queued: its id, its sink and the frames (to be emptied by the sink).
    pub(super) fn outgoing(&mut self) -> impl Iterator<Item = (u64, &mut S, &mut Vec<Bytes>)> {
        self.list
            .iter_mut()
            .filter(|m| !m.queued.is_empty())
            .map(|m| (m.who.conn_id, &mut m.sink, &mut m.queued))
    }
}
