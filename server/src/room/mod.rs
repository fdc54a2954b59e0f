//! Live rooms. Each loaded room is one actor task that alone owns the room's yrs `Doc` and presence
//! (DESIGN §3); connections talk to it through [`RoomHandle`] with [`Command`]s and receive pre-encoded
//! frames through the [`MemberSink`] they joined with.
//!
//! Data flows one way: the WebSocket edge (`ws`) depends on this module and implements its
//! [`MemberSink`]; nothing here knows about sockets. The room's logic is a state machine without I/O
//! (`core`), driven by the actor task (`actor`), which owns the channels, timers and store writes.

mod actor;
mod core;
mod delivery;
mod extensions;
mod presence;
mod registry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use handoff_protocol::Role;
use tokio::sync::{mpsc, oneshot};
use yrs::StateVector;
use yrs::Update;
use yrs::sync::AwarenessUpdate;

pub(crate) use self::core::compact;
pub(crate) use self::core::schema::accepted_update;
pub use self::core::schema::{FilesGuard, apply_client_update};
pub use delivery::ChannelSink;
pub(crate) use delivery::{Delivered, Fanout, MemberSink, Undelivered, queue};
pub(crate) use extensions::Extension;
pub use extensions::Extensions;
pub use presence::vet;
pub use registry::Registry;

#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// How long a room with no clients stays loaded.
    pub idle_evict: Duration,
    /// How long an accepted update may wait before its group commit starts.
    pub commit_window: Duration,
    /// Accepted updates between two snapshots (single node; in a cluster the bus snapshots).
    pub snapshot_every: u64,
}

/// Why the server closes a connection: a WebSocket close code and a reason the client can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: String,
}

impl CloseReason {
    pub fn new(code: u16, reason: impl Into<String>) -> CloseReason {
        CloseReason { code, reason: reason.into() }
    }
}

/// How the room's clients are closed when the interview ends (on any node).
pub(crate) fn ended_reason() -> CloseReason {
    CloseReason::new(handoff_protocol::frame::CLOSE_ROOM_ENDED, "this interview has ended")
}

/// Who a connection is, as its verified token says.
#[derive(Debug, Clone)]
pub struct Identity {
    pub conn_id: u64,
    pub name: Arc<str>,
    pub role: Role,
}

/// A connection asking to join: its identity, the extension messages it announced, and the sink
/// through which the room sends its frames and tells it to close (slow consumer, shutdown).
pub struct Joiner {
    pub who: Identity,
    pub extensions: Extensions,
    pub sink: Box<dyn MemberSink>,
}

/// Why a join was refused.
pub enum JoinRefused {
    /// The room is being evicted; load it again and retry with the joiner handed back.
    Evicting(Joiner),
    /// The room cannot take this client now.
    Closed(CloseReason),
}

/// A message from a member, decoded. Payloads were decoded (and validated) by the connection task, off
/// the room's task; `message` is the original message bytes, forwarded to others unchanged.
pub enum ClientMessage {
    SyncStep1(StateVector),
    /// An update (`step2` marks a sync-step-2 answer, which must be re-framed as an update to forward).
    Update {
        update: Update,
        payload: Bytes,
        message: Bytes,
        step2: bool,
    },
    Awareness {
        update: AwarenessUpdate,
        message: Bytes,
        /// Every state already shows the connection's identity as its token says, with hex colours
        /// only (`presence::vet`): the room relays it without reading it again.
        conforming: bool,
    },
    QueryAwareness,
}

pub enum Command {
    Join(Joiner, oneshot::Sender<Result<(), JoinRefused>>),
    /// What one connection read at once, handled in order; the room's answers go out together.
    Messages {
        conn_id: u64,
        msgs: Vec<ClientMessage>,
    },
    Leave {
        conn_id: u64,
    },
    /// The interview ended: close every client with `reason`, flush the log (so an export right after
    /// is complete), refuse later joins.
    End {
        reason: CloseReason,
        done: oneshot::Sender<()>,
    },
    /// The interview was reopened: accept joins again.
    Reopen,
    /// Send an extension message to the members that announced `ext`.
    Extension {
        ext: Extension,
        frame: Bytes,
    },
    /// Send an extension message to one member, if it announced `ext`.
    ExtensionTo {
        conn_id: u64,
        ext: Extension,
        frame: Bytes,
    },
    /// Commit everything accepted so far, then answer (readers of the log see every accepted edit).
    Flush {
        done: oneshot::Sender<()>,
    },
    /// Flush everything to the store, close every client with `reason`, and stop.
    Shutdown {
        reason: CloseReason,
        done: oneshot::Sender<()>,
    },
}

/// A cheap, cloneable way to reach a room's actor.
#[derive(Debug, Clone)]
pub struct RoomHandle {
    commands: mpsc::Sender<Command>,
    connected: Arc<AtomicUsize>,
    /// False once the interview ended (until a reopen): the actor's own word, set before it answers.
    open: Arc<AtomicBool>,
}

impl RoomHandle {
    /// Sends a command, waiting while the room's queue is full. `Err` means the room has stopped.
    pub async fn send(&self, cmd: Command) -> Result<(), Command> {
        self.commands.send(cmd).await.map_err(|e| e.0)
    }

    /// Clients connected to this room right now.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// Whether the room takes joins: it has not ended.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Joiner {
    /// Opaque: a connection's sink and close channel.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joiner").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for JoinRefused {
    /// Opaque: it may hand a joiner back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRefused").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientMessage {
    /// Opaque: decoded payloads and their bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMessage").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Command {
    /// Opaque: channels and a connection's messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command").finish_non_exhaustive()
    }
}
