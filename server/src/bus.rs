//! The cluster seam (DESIGN §3). In a cluster a room's log is ordered by the bus, not by the room: a
//! room actor hands every update its own clients make to [`Bus::publish`], the bus gives it its place in
//! the room's log and carries it to the other nodes holding the room, and what they publish comes back
//! as [`Remote`] inputs on the room's [`Attachment`]. One node needs no bus: [`LocalBus`] attaches no
//! room, so its rooms order and commit their own logs and never call the other methods.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;
use yrs::Update;
use yrs::sync::AwarenessUpdate;

use crate::store::{LogEntry, StoreResult};

/// What another node did in a room this node holds, in the order the room's log has it.
pub enum Remote {
    /// An update another node accepted, with its place in the log. Applied and forwarded to the local
    /// members, never published again.
    Update { seq: u64, update: Update, payload: Bytes },
    /// An awareness message another node relayed (vetted there), decoded off the room's task, and its
    /// bytes, forwarded as they are where every entry is news.
    Awareness { update: AwarenessUpdate, frame: Bytes },
    /// Another node loaded the room and asks for everyone's presence: the room relays its own
    /// members' awareness states (as [`Bus::awareness`]).
    AwarenessWanted,
    /// The interview ended on another node: close every client with 4403.
    Ended,
    /// The interview was reopened on another node.
    Reopened,
    /// A room event another node sent its members (its frame starts with `EXT_ROOM_EVENT`): sent to
    /// the local members that announced `events`.
    RoomEvent { frame: Bytes },
    /// The room missed entries it cannot get from the stream (or met one it cannot read): rebuild it
    /// from the store and attach again.
    Rebuild,
    /// The bus holds too much of the room that has not reached Redis or the store (a bound of
    /// `cluster.rs`): close its clients here with 1013 and refuse joins until [`Remote::Resumed`]. The
    /// clients keep their edits and send them again when they reconnect.
    HoldOff,
    /// The backlog that caused [`Remote::HoldOff`] is gone: take joins again.
    Resumed,
}

/// Where a room's voice runs, as [`Bus::voice_home`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceHome {
    /// This node is the only one: voice needs no home.
    Alone,
    /// This node holds the room's voice home (taken now, or renewed).
    Here,
    /// Another node holds it.
    Elsewhere,
    /// Redis could not be asked.
    Unknown,
}

/// A room's link to the bus: the remote inputs, in log order.
#[derive(Debug)]
pub struct Attachment {
    pub remote: mpsc::UnboundedReceiver<Remote>,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Starts carrying the room's remote inputs after log entry `last_seq` (what the room loaded).
    /// `None`: the bus orders nothing, the room keeps and commits its own log (single node).
    fn attach(&self, room: &Arc<str>, last_seq: u64) -> Option<Attachment>;

    /// The room stopped (evicted, retired, shut down): no more remote inputs for it.
    fn detach(&self, _room: &Arc<str>) {}

    /// An update the room accepted (validated and applied) from one of its clients; `entry.seq` is
    /// assigned by the bus. Publishes in the order of the calls for each room; never waits.
    fn publish(&self, _entry: LogEntry) {}

    /// An awareness message the room relayed from one of its clients.
    fn awareness(&self, _room: &Arc<str>, _frame: Bytes) {}

    /// A room event (a frame starting with `EXT_ROOM_EVENT`) sent to the room's members on this node:
    /// the other nodes send it to theirs.
    fn room_event(&self, _room: &str, _frame: Bytes) {}

    /// The interview ended (or was reopened) on this node: tell the others.
    fn ended(&self, _room: &str) {}
    fn reopened(&self, _room: &str) {}

    /// Clients of the room connected to this node, for the count across nodes.
    fn connected(&self, _room: &Arc<str>, _count: usize) {}

    /// Clients connected to the room on every node; `None` when only this node counts.
    async fn connected_everywhere(&self, _room: &str) -> Option<usize> {
        None
    }

    /// Takes the room's voice home for this node for `ttl` if nobody holds it, or renews it if this node
    /// does. A room's voice runs on one node: members connected to different nodes could not hear
    /// each other.
    async fn voice_home(&self, _room: &str, _ttl: Duration) -> VoiceHome {
        VoiceHome::Alone
    }

    /// Gives up the room's voice home if this node holds it.
    async fn leave_voice_home(&self, _room: &str) {}

    /// Returns once everything published so far for the room is committed to the store.
    async fn flush(&self, _room: &str) -> StoreResult<()> {
        Ok(())
    }
}

/// Single-node mode: every client of a room is on this node, so nothing leaves it.
#[derive(Debug)]
pub struct LocalBus;

#[async_trait]
impl Bus for LocalBus {
    fn attach(&self, _room: &Arc<str>, _last_seq: u64) -> Option<Attachment> {
        None
    }
}

impl std::fmt::Debug for Remote {
    /// Opaque: a decoded update.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}
