//! The SFU's media side: voice loops, each a thread that owns one UDP socket and the `str0m::Rtc` of
//! every member in voice in the rooms assigned to it, sans-I/O: a datagram in goes to its member's
//! `Rtc`, every Opus packet that comes out is written straight into the other members' `Rtc`s and what
//! they emit is sent at once, all on the one thread, with no task or channel between a packet's
//! arrival and its forwarding. Rooms' voice tasks (`voice::room`) drive the loops with [`Command`]s;
//! the loops hand offers back to them ([`PeerEvent`]).
//!
//! All members of a room share a loop: a room is assigned by the hash of its id, which needs no shared
//! state between rooms and spreads many rooms evenly.

mod contain;
mod event_loop;
mod forward;
mod peer;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::VoiceSettings;
use super::sockets;
use super::speaking::Speaking;
use crate::recording::{Recorders, Speaker};

/// The most voice loops a server runs. One loop forwards 60,000 or more packets per CPU-second
/// (docs/PERFORMANCE.md), about 130 three-member rooms of speakers at 50 packets/s each; beyond the
/// host's cores more loops only take turns on them, so the count is the host's parallelism capped here.
const MAX_VOICE_LOOPS: usize = 8;

/// Commands queued for one loop. The rooms' voice tasks wait while it is full; the loop takes all
/// that are queued each time it wakes.
const LOOP_QUEUE: usize = 4096;

/// What a room's voice task tells a loop.
pub(super) enum Command {
    /// A member joined voice: build its `Rtc` and offer it the room's speakers.
    Open(Box<Open>),
    /// The member's answer to the offer that is out.
    Answer { conn_id: u64, sdp: String },
    /// A candidate the member's browser trickled.
    Candidate { conn_id: u64, candidate: String },
    /// The member's network changed: the next offer restarts ICE.
    RestartIce { conn_id: u64 },
    /// The member left voice: its `Rtc` closes and its track leaves the others'.
    Close { conn_id: u64 },
    /// Answered once every command sent before it is done (commands are handled in order): the room's
    /// end and the server's shutdown wait for it, so recorders are finished before they return.
    Sync(oneshot::Sender<()>),
}

/// A member joining voice.
pub(super) struct Open {
    pub(super) room: Arc<str>,
    pub(super) conn_id: u64,
    /// Interviewers and candidates speak; observers only listen and get no uplink.
    pub(super) speaks: bool,
    pub(super) speaking: Arc<Speaking>,
    /// Who the speaker is, for a recorder started at the first uplink packet; `None` when the room
    /// records no voice.
    pub(super) recording: Option<(Arc<dyn Recorders>, Speaker)>,
    /// Where this member's events go: the room's voice task.
    pub(super) events: EventSink,
}

/// Hands a member's events to its room's voice task; it must never wait (the loop forwards every
/// room's audio).
pub(super) type EventSink = Arc<dyn Fn(PeerEvent) + Send + Sync>;

/// What a loop tells a room's voice task about a member's `Rtc`.
#[derive(Debug)]
pub(super) enum PeerEvent {
    /// An offer to send to the member (the server always offers).
    Offer(String),
}

/// The running voice loops.
#[derive(Debug)]
pub(super) struct Loops {
    loops: Vec<mpsc::Sender<Command>>,
}

impl Loops {
    /// Binds the loops' sockets and starts a thread per socket.
    pub(super) fn start(settings: &VoiceSettings) -> Result<Loops, String> {
        let wanted = std::thread::available_parallelism().map_or(1, usize::from).min(MAX_VOICE_LOOPS);
        let mut loops = Vec::new();
        for (index, bound) in sockets::bind(settings, wanted)?.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(LOOP_QUEUE);
            tracing::info!(loop_index = index, address = %bound.announced, "voice loop listening");
            std::thread::Builder::new()
                .name(format!("voice-loop-{index}"))
                .spawn(move || event_loop::run(bound, rx))
                .map_err(|e| format!("cannot start a voice loop: {e}"))?;
            loops.push(tx);
        }
        Ok(Loops { loops })
    }

    /// The loop that runs `room`'s voice.
    pub(super) fn for_room(&self, room: &str) -> mpsc::Sender<Command> {
        let mut hasher = DefaultHasher::new();
        room.hash(&mut hasher);
        let index = (hasher.finish() % self.loops.len() as u64) as usize;
        self.loops[index].clone()
    }
}
