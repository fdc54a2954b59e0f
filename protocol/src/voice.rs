//! Voice signalling: the JSON messages carried by extension message [`EXT_VOICE_SIGNAL`] (101) on the
//! room's WebSocket, between a client that announced `voice` and the server's SFU.
//!
//! A frame is byte 101, then the JSON as a y-protocols var-string (varuint length, UTF-8), like room
//! events (100). The server is the only offerer, so offers and answers never cross (no glare).
//! `{"type": …}` names the message (`serde(tag = "type")`, snake_case).

use serde::{Deserialize, Serialize};

use crate::frame::{CLOSE_INVALID_PAYLOAD, CLOSE_TOO_BIG, EXT_VOICE_SIGNAL};
use crate::role::Role;

/// Bytes of one signalling message's JSON. An SDP offer with one audio m-line per participant (at most
/// [`MAX_VOICE_PARTICIPANTS`]) fits with room to spare. A client message over it closes that connection
/// with close code 1009; the server never sends one larger.
pub const MAX_VOICE_SIGNAL_BYTES: usize = 16 * 1024;

/// Members joined to a room's voice at once. The next `join` is answered with `error` `too_many` and
/// changes nothing.
pub const MAX_VOICE_PARTICIPANTS: usize = 8;

/// How often the server sends speaking levels while anyone speaks, in milliseconds.
pub const VOICE_LEVELS_EVERY_MS: u64 = 200;

/// A trickled ICE candidate (the fields of the browser's `RTCIceCandidateInit`, in snake_case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mline_index: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientSignal {
    /// Join voice. Refused with `error` (and nothing else changes) when the room has no voice, the server
    /// runs without voice, the room ended, or it is full. An observer joins as a listener only.
    Join,
    /// Leave voice: the server closes this member's PeerConnection and renegotiates with the others.
    Leave,
    /// The answer to the server's latest offer.
    Answer { sdp: String },
    /// A trickled ICE candidate; `null` ends gathering.
    Candidate { candidate: Option<IceCandidate> },
    /// Mute or unmute oneself. Unmuting is refused (`muted_by_interviewer`) while the interviewer's mute
    /// holds.
    Mute { muted: bool },
    /// The interviewer mutes or unmutes another member (others get `error` `forbidden`).
    MuteMember { member: String, muted: bool },
    /// The client saw ICE fail or disconnect: the server sends a new offer that restarts ICE.
    RestartIce,
}

/// A STUN or TURN server handed to clients (the browser's `RTCIceServer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// One member in voice, as `state` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceParticipant {
    /// The server's id of the member's WebSocket connection; also the stream id of its forwarded track.
    pub member: String,
    pub name: String,
    pub role: Role,
    /// Muted, by themselves or by the interviewer: the server forwards none of their packets.
    pub muted: bool,
    /// The interviewer's mute holds: the member cannot unmute themselves.
    pub muted_by_interviewer: bool,
}

/// One member's speaking level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakingLevel {
    pub member: String,
    /// 0 is silence, 1 the loudest (from the RFC 6464 audio level, -127..0 dBov).
    pub level: f32,
}

/// Why the server refused a request (`error`'s `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceErrorCode {
    /// The room was promoted without voice, or the server runs with voice off.
    VoiceOff,
    /// The member's role may not do this (mute others, speak as an observer).
    Forbidden,
    /// The interviewer muted this member; only the interviewer unmutes.
    MutedByInterviewer,
    /// The request needs the member to be in voice.
    NotJoined,
    /// The room has ended.
    RoomEnded,
    /// Voice is full ([`MAX_VOICE_PARTICIPANTS`]).
    TooMany,
    /// In a cluster, the room's voice runs on another server (its voice home): members connected to
    /// different servers could not hear each other, so the join is refused. It moves once everyone there
    /// has left voice.
    VoiceOnOtherNode,
    /// The server could not set up or negotiate the connection.
    Internal,
}

/// Why the server closed a member's voice (`left`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// The interview ended.
    RoomEnded,
    /// The same member joined again; the older connection's voice was closed.
    Replaced,
    /// The server is stopping.
    ServerShutdown,
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerSignal {
    /// Sent on `join`, before the first offer: the ICE servers for the browser's configuration.
    Config { ice_servers: Vec<IceServer> },
    /// The server's offer: the first, and one on every renegotiation (someone joins or leaves voice).
    Offer { sdp: String },
    /// A server ICE candidate; `null` when the server's gathering is complete.
    Candidate { candidate: Option<IceCandidate> },
    /// Who is in voice; sent to every member that announced `voice`, on connect and whenever it changes.
    State { you: String, participants: Vec<VoiceParticipant> },
    /// Speaking levels, a few times a second while anyone speaks, to every joined member.
    Levels { levels: Vec<SpeakingLevel> },
    /// A request was refused; nothing changed.
    Error { code: VoiceErrorCode, message: String },
    /// The server closed this member's voice: its PeerConnection is gone.
    Left { reason: LeftReason },
}

/// Why an inbound signalling message was refused. Each maps to a close code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("voice signal of {0} bytes (limit {MAX_VOICE_SIGNAL_BYTES})")]
    TooBig(usize),
    #[error("invalid voice signal: {0}")]
    Invalid(String),
}

impl SignalError {
    /// The WebSocket close code a connection is closed with for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            SignalError::TooBig(_) => CLOSE_TOO_BIG,
            SignalError::Invalid(_) => CLOSE_INVALID_PAYLOAD,
        }
    }
}

/// Reads a client's message from the var-string payload of a 101 message (its bytes after the length).
pub fn decode_client_signal(json: &[u8]) -> Result<ClientSignal, SignalError> {
    if json.len() > MAX_VOICE_SIGNAL_BYTES {
        return Err(SignalError::TooBig(json.len()));
    }
    serde_json::from_slice(json).map_err(|e| SignalError::Invalid(e.to_string()))
}

/// Reads a server's message from a whole 101 frame (for clients and tests).
pub fn decode_server_frame(frame: &[u8]) -> Result<ServerSignal, SignalError> {
    let json = frame_payload(frame)?;
    serde_json::from_slice(json).map_err(|e| SignalError::Invalid(e.to_string()))
}

/// A whole 101 frame carrying `signal`.
pub fn encode_server_signal(signal: &ServerSignal) -> Vec<u8> {
    encode_frame(&serde_json::to_vec(signal).expect("signals serialize"))
}

/// A whole 101 frame carrying a client's `signal` (for clients and tests).
pub fn encode_client_signal(signal: &ClientSignal) -> Vec<u8> {
    encode_frame(&serde_json::to_vec(signal).expect("signals serialize"))
}

/// Byte 101, the varuint length, the JSON.
pub fn encode_frame(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 6);
    out.push(EXT_VOICE_SIGNAL);
    let mut len = json.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(json);
    out
}

/// The JSON bytes of a whole 101 frame.
fn frame_payload(frame: &[u8]) -> Result<&[u8], SignalError> {
    let invalid = |why: &str| SignalError::Invalid(why.to_owned());
    let (&tag, rest) = frame.split_first().ok_or_else(|| invalid("empty frame"))?;
    if tag != EXT_VOICE_SIGNAL {
        return Err(invalid("not a voice signal"));
    }
    let (mut len, mut shift, mut at) = (0u64, 0u32, 0usize);
    loop {
        let byte = *rest.get(at).ok_or_else(|| invalid("truncated length"))?;
        at += 1;
        if shift > 56 {
            return Err(invalid("length too long"));
        }
        len |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let len = usize::try_from(len).map_err(|_| invalid("length too long"))?;
    if len > MAX_VOICE_SIGNAL_BYTES {
        return Err(SignalError::TooBig(len));
    }
    let body = &rest[at..];
    if body.len() != len {
        return Err(invalid("length does not match the frame"));
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
