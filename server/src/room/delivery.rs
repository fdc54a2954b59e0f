//! What the room needs from whoever carries its frames to a member: the contract the WebSocket edge
//! implements (`ws::sink`), so that the room never learns how a socket is written.

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::CloseReason;

/// Why a member's sink took no more frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undelivered {
    /// The member's bounded outbox is full: the client does not read fast enough. The room closes it
    /// as a slow consumer rather than drop a frame.
    Full,
    /// The member's connection is gone.
    Gone,
}

/// What one [`MemberSink::deliver`] handed on, for the room's metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub frames: u64,
    pub bytes: u64,
}

/// The updates a delivery's frames carry, for the fan-out histogram (`handoff_fanout_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fanout {
    /// When the room took the input that accepted them.
    pub at: Instant,
    /// How many updates that input accepted (a batch of a client's messages may hold several).
    pub updates: u32,
}

/// One member's way out of the room. The room calls it from its own task, so `deliver` must not wait:
/// it writes what the connection takes at once and queues the rest in a bounded outbox.
pub trait MemberSink: Send {
    /// Hands on every frame in `frames` (leaving it empty), in order. On `Err` the frames not handed on
    /// are dropped; the room then removes the member. `fanout` says which accepted updates these frames
    /// carry (`None` when they carry none): a sink that writes to a socket observes their fan-out
    /// latency once the frames are written.
    fn deliver(&mut self, frames: &mut Vec<Bytes>, fanout: Option<Fanout>) -> Result<Delivered, Undelivered>;

    /// Tells the member's connection to close with `reason`. Called once, when the room removes a
    /// member it closes (slow consumer, refused update, end, shutdown); not for a member that left.
    fn close(&mut self, reason: CloseReason);
}

/// A member reached through channels: frames into a bounded `mpsc` outbox, the close reason through a
/// `oneshot`. For in-process members and tests; the WebSocket edge has its own sink.
#[derive(Debug)]
pub struct ChannelSink {
    outbox: mpsc::Sender<Bytes>,
    kick: Option<oneshot::Sender<CloseReason>>,
}

impl ChannelSink {
    pub fn new(outbox: mpsc::Sender<Bytes>, kick: oneshot::Sender<CloseReason>) -> ChannelSink {
        ChannelSink { outbox, kick: Some(kick) }
    }
}

impl MemberSink for ChannelSink {
    /// An in-process member has no socket: no fan-out latency is observed.
    fn deliver(&mut self, frames: &mut Vec<Bytes>, _: Option<Fanout>) -> Result<Delivered, Undelivered> {
        queue(&self.outbox, frames.drain(..), Delivered::default())
    }

    fn close(&mut self, reason: CloseReason) {
        if let Some(kick) = self.kick.take() {
            let _ = kick.send(reason);
        }
    }
}

/// Puts `frames` into `outbox` without waiting, counting onto `delivered`: a member's bounded outbox,
/// shared by the in-process sink and the WebSocket edge's.
pub(crate) fn queue(
    outbox: &mpsc::Sender<Bytes>,
    frames: impl Iterator<Item = Bytes>,
    mut delivered: Delivered,
) -> Result<Delivered, Undelivered> {
    for frame in frames {
        let len = frame.len() as u64;
        match outbox.try_send(frame) {
            Ok(()) => (delivered.frames, delivered.bytes) = (delivered.frames + 1, delivered.bytes + len),
            Err(TrySendError::Full(_)) => return Err(Undelivered::Full),
            Err(TrySendError::Closed(_)) => return Err(Undelivered::Gone),
        }
    }
    Ok(delivered)
}
