//! What the voice SFU hands the recorder: one recorder per speaker's uplink track. The SFU calls
//! [`SpeakerRecorder::packet`] from the task reading the track, so a recorder queues and returns at once;
//! the writing happens elsewhere.

use handoff_protocol::role::Role;

/// One RTP packet of a speaker's Opus uplink, as it arrived (never a packet dropped by a mute).
#[derive(Debug, Clone, Copy)]
pub struct RtpAudio<'a> {
    pub sequence: u16,
    /// The RTP timestamp (48 kHz for Opus); it may wrap, repeat or go back on a reordered packet.
    pub timestamp: u32,
    /// The Opus packet, without the RTP header.
    pub payload: &'a [u8],
    /// When the server received it, ms since the Unix epoch: the clock of the room's log.
    pub arrived_at_ms: u64,
}

/// Whose uplink a recorder records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    pub room: String,
    /// The server's id of the speaker's WebSocket connection (the `member` of voice signalling).
    pub member: u64,
    pub name: String,
    pub role: Role,
}

/// Starts a recorder for each speaker of a room that records voice.
pub trait Recorders: Send + Sync + std::fmt::Debug + 'static {
    /// A speaker's uplink track started; `None` when nothing is recorded for it.
    fn start(&self, speaker: Speaker) -> Option<Box<dyn SpeakerRecorder>>;
}

/// Records one speaker's uplink track.
pub trait SpeakerRecorder: Send + 'static {
    /// One packet as it arrived; never blocks.
    fn packet(&mut self, packet: RtpAudio<'_>);
    /// The track ended (left voice, room ended, connection closed, server stopping).
    fn finish(self: Box<Self>);
}

/// Records nothing: a server without voice recording.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRecording;

impl Recorders for NoRecording {
    fn start(&self, _speaker: Speaker) -> Option<Box<dyn SpeakerRecorder>> {
        None
    }
}
