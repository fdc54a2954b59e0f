//! y-sync wire framing (y-protocols), built on `yrs::sync`.
//!
//! FrameMessage frames are *split*, not decoded: each message is returned as byte ranges into the frame so the
//! server can forward an update to other clients without copying or re-encoding it. Payloads are decoded
//! separately ([`decode_update`], [`decode_awareness`]) with panics contained, because yrs can panic on
//! malformed input. Outbound messages are encoded with `yrs::sync::Message`.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::limits::{MAX_AWARENESS_ENTRIES_PER_MESSAGE, MAX_AWARENESS_STATE_BYTES};
use yrs::StateVector;
use yrs::Update;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_STEP_2, MSG_SYNC_UPDATE,
};
use yrs::sync::{AwarenessUpdate, Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

/// First message number handoff reserves for its extension messages. Numbers from here to
/// [`EXT_LAST`] are never used by y-protocols; a stock client neither sends nor receives them.
pub const EXT_FIRST: u8 = 100;
/// Room events (participants, room ended, …) for clients that opted in. Reserved; not sent yet.
pub const EXT_ROOM_EVENT: u8 = 100;
/// Voice channel signalling (SDP offers/answers, ICE candidates). Reserved; not sent yet.
pub const EXT_VOICE_SIGNAL: u8 = 101;
/// Last reserved extension message number.
pub const EXT_LAST: u8 = 119;

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: the server is shutting down; reconnect later.
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code: the frame is not valid y-sync framing (truncated varint, trailing bytes, …).
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code: a message type this server does not speak, or a text frame.
pub const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code: the framing is valid but the payload (Yjs update, awareness) is garbage.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// Close code: the client broke a policy (message rate).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code: a message over [`crate::limits::MAX_CLIENT_FRAME_BYTES`].
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: the room is full or being reloaded; reconnect later.
pub const CLOSE_TRY_AGAIN: u16 = 1013;
/// Close code: the client did not read its frames fast enough (its outbox filled up). It reconnects
/// and resyncs; nothing is lost because the server never drops a frame silently.
pub const CLOSE_SLOW_CONSUMER: u16 = 4001;
/// Close code: the interviewer ended the interview; the client must not reconnect (it would be refused
/// with HTTP 403 `room_ended`).
pub const CLOSE_ROOM_ENDED: u16 = 4403;

/// An awareness message announcing no clients: a no-op for any y-protocols client, which the server
/// sends as a keepalive so an idle client does not conclude the connection is dead.
pub const KEEPALIVE_FRAME: [u8; 3] = [1, 1, 0];

/// What one inbound message is, with byte ranges into the frame it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// Sync step 1: the client's state vector; the server answers with step 2.
    SyncStep1 { state_vector: Range<usize> },
    /// Sync step 2: what the client has that the server lacks (answer to the server's step 1).
    SyncStep2 { update: Range<usize> },
    /// An incremental document update.
    Update { update: Range<usize> },
    /// An awareness update (cursors, names).
    Awareness { update: Range<usize> },
    /// The client asks for everyone's awareness state.
    QueryAwareness,
    /// A y-protocols auth message from a client; it carries no meaning client → server.
    Auth,
    /// A handoff extension message (number in `EXT_FIRST..=EXT_LAST`).
    Extension { tag: u8, payload: Range<usize> },
}

/// One message of an inbound frame: its kind and the byte range of the whole message, which is itself a
/// valid one-message frame that can be forwarded as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameMessage {
    pub kind: MessageKind,
    pub message: Range<usize>,
}

/// Why an inbound frame or payload was refused. Each maps to a close code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("empty frame")]
    Empty,
    #[error("truncated frame: {0}")]
    Truncated(&'static str),
    #[error("varint too long")]
    VarintOverflow,
    #[error("unsupported message type {0}")]
    UnknownType(u64),
    #[error("unsupported sync message type {0}")]
    UnknownSyncType(u64),
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error("too many awareness entries: {0} in one message (limit {limit})", limit = MAX_AWARENESS_ENTRIES_PER_MESSAGE)]
    AwarenessEntries(u64),
    #[error("awareness state of {0} bytes (limit {limit})", limit = MAX_AWARENESS_STATE_BYTES)]
    AwarenessStateTooBig(usize),
    /// A well-framed update the server does not accept (see [`crate::update_check`]).
    #[error("update refused: {0}")]
    Update(#[from] crate::update_check::Refusal),
}

impl FrameError {
    /// The WebSocket close code a connection is closed with for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::UnknownType(_) | FrameError::UnknownSyncType(_) => CLOSE_UNSUPPORTED,
            FrameError::InvalidPayload(_) => CLOSE_INVALID_PAYLOAD,
            FrameError::AwarenessEntries(_) => CLOSE_POLICY,
            FrameError::AwarenessStateTooBig(_) => CLOSE_TOO_BIG,
            FrameError::Update(_) => CLOSE_INVALID_PAYLOAD,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

/// A lib0 varuint reader over a byte slice that reports positions, so messages can be sliced out.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn var_uint(&mut self, what: &'static str) -> Result<u64, FrameError> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = *self.buf.get(self.pos).ok_or(FrameError::Truncated(what))?;
            self.pos += 1;
            // A lib0 varuint carries at most 64 bits: 10 groups of 7, the 10th holding only bit 63.
            if shift >= 64 || (shift == 63 && byte & 0x7e != 0) {
                return Err(FrameError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// A length-prefixed byte buffer; returns its range.
    fn buf_range(&mut self, what: &'static str) -> Result<Range<usize>, FrameError> {
        let len = self.var_uint(what)?;
        let len = usize::try_from(len).map_err(|_| FrameError::Truncated(what))?;
        let start = self.pos;
        let end = start.checked_add(len).ok_or(FrameError::Truncated(what))?;
        if end > self.buf.len() {
            return Err(FrameError::Truncated(what));
        }
        self.pos = end;
        Ok(start..end)
    }
}

/// Splits a binary WebSocket frame into its y-sync messages. A y-websocket client sends one message per
/// frame; several concatenated messages are accepted too. Nothing is decoded beyond the framing.
pub fn split_frame(frame: &[u8]) -> Result<Vec<FrameMessage>, FrameError> {
    if frame.is_empty() {
        return Err(FrameError::Empty);
    }
    let mut r = Reader { buf: frame, pos: 0 };
    let mut out = Vec::with_capacity(1);
    while r.pos < frame.len() {
        let start = r.pos;
        let tag = r.var_uint("message type")?;
        let kind = match tag {
            t if t == u64::from(MSG_SYNC) => {
                let sub = r.var_uint("sync message type")?;
                let range = r.buf_range("sync payload")?;
                match sub {
                    s if s == u64::from(MSG_SYNC_STEP_1) => MessageKind::SyncStep1 { state_vector: range },
                    s if s == u64::from(MSG_SYNC_STEP_2) => MessageKind::SyncStep2 { update: range },
                    s if s == u64::from(MSG_SYNC_UPDATE) => MessageKind::Update { update: range },
                    other => return Err(FrameError::UnknownSyncType(other)),
                }
            }
            t if t == u64::from(MSG_AWARENESS) => {
                MessageKind::Awareness { update: r.buf_range("awareness payload")? }
            }
            t if t == u64::from(MSG_QUERY_AWARENESS) => MessageKind::QueryAwareness,
            t if t == u64::from(MSG_AUTH) => {
                // permission flag, then (if denied) a reason string.
                let flag = r.var_uint("auth flag")?;
                if flag == 0 {
                    r.buf_range("auth reason")?;
                }
                MessageKind::Auth
            }
            t if (u64::from(EXT_FIRST)..=u64::from(EXT_LAST)).contains(&t) => {
                MessageKind::Extension { tag: t as u8, payload: r.buf_range("extension payload")? }
            }
            other => return Err(FrameError::UnknownType(other)),
        };
        out.push(FrameMessage { kind, message: start..r.pos });
    }
    Ok(out)
}

/// Runs a yrs decoder with panics contained: yrs may panic on malformed input, and a client's garbage
/// must end only that client's connection.
fn contained<T, E: std::fmt::Display>(f: impl FnOnce() -> Result<T, E>) -> Result<T, FrameError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(FrameError::InvalidPayload(e.to_string())),
        Err(_) => Err(FrameError::InvalidPayload("undecodable update".into())),
    }
}

/// Refuses a payload whose leading entry count (clients of an update, state vector or awareness update)
/// is larger than the payload itself. yrs reserves a hash map of that many entries before reading them,
/// so a few garbage bytes declaring ~2^28 entries would make it initialise hundreds of megabytes per
/// message; every entry takes at least one byte, so such a count is garbage anyway.
fn check_leading_count(bytes: &[u8]) -> Result<(), FrameError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    match r.var_uint("entry count") {
        Ok(n) if n <= bytes.len() as u64 => Ok(()),
        Ok(_) => Err(FrameError::InvalidPayload("entry count exceeds payload size".into())),
        Err(e) => Err(FrameError::InvalidPayload(e.to_string())),
    }
}

/// Decodes a Yjs v1 update.
pub fn decode_update(bytes: &[u8]) -> Result<Update, FrameError> {
    check_leading_count(bytes)?;
    contained(|| Update::decode_v1(bytes))
}

/// Decodes a state vector (sync step 1 payload).
pub fn decode_state_vector(bytes: &[u8]) -> Result<StateVector, FrameError> {
    check_leading_count(bytes)?;
    contained(|| StateVector::decode_v1(bytes))
}

/// Decodes an awareness update and checks that every state is JSON: y-protocols clients `JSON.parse`
/// each state they receive, so one client's malformed state would break every other client's presence.
/// The entry count is checked against [`MAX_AWARENESS_ENTRIES_PER_MESSAGE`] before any entry is read,
/// each state against [`MAX_AWARENESS_STATE_BYTES`], and no client id may appear twice.
pub fn decode_awareness(bytes: &[u8]) -> Result<AwarenessUpdate, FrameError> {
    let update = decode_awareness_entries(bytes)?;
    for (client, entry) in &update.clients {
        if serde_json::from_str::<serde::de::IgnoredAny>(&entry.json).is_err() {
            return Err(not_json(*client));
        }
    }
    Ok(update)
}

/// The refusal of an awareness state that is not JSON.
pub fn not_json(client: yrs::ClientID) -> FrameError {
    FrameError::InvalidPayload(format!("awareness state of client {client} is not JSON"))
}

/// [`decode_awareness`] without the JSON check, for a caller that parses every state itself (the
/// server's edge reads each state's `user` anyway, and refuses with [`not_json`] what does not parse).
pub fn decode_awareness_entries(bytes: &[u8]) -> Result<AwarenessUpdate, FrameError> {
    check_leading_count(bytes)?;
    let entries = Reader { buf: bytes, pos: 0 }.var_uint("entry count")?;
    if entries > MAX_AWARENESS_ENTRIES_PER_MESSAGE as u64 {
        return Err(FrameError::AwarenessEntries(entries));
    }
    let update = contained(|| AwarenessUpdate::decode_v1(bytes))?;
    // Decoding keeps the last entry of a client id, while clients apply every entry in order: the
    // server would check one state and relay another.
    if update.clients.len() as u64 != entries {
        return Err(FrameError::InvalidPayload("a client id appears twice in one awareness message".into()));
    }
    if let Some(entry) = update.clients.values().find(|e| e.json.len() > MAX_AWARENESS_STATE_BYTES) {
        return Err(FrameError::AwarenessStateTooBig(entry.json.len()));
    }
    Ok(update)
}

/// Encodes sync step 1 (our state vector).
pub fn encode_sync_step1(sv: &StateVector) -> Vec<u8> {
    Message::Sync(SyncMessage::SyncStep1(sv.clone())).encode_v1()
}

/// Encodes sync step 2 (the update answering a peer's state vector).
pub fn encode_sync_step2(update: &[u8]) -> Vec<u8> {
    encode_sync_payload(MSG_SYNC_STEP_2, update)
}

/// Encodes an incremental update message.
pub fn encode_update(update: &[u8]) -> Vec<u8> {
    encode_sync_payload(MSG_SYNC_UPDATE, update)
}

/// A sync message carrying an update: `[MSG_SYNC, kind, varuint length, bytes]`, written straight into
/// one buffer. Going through `yrs::sync::Message` would copy the update twice (into an owned `Vec`, then
/// into the output), and these frames include a whole document for every fresh joiner.
fn encode_sync_payload(kind: u8, update: &[u8]) -> Vec<u8> {
    use yrs::encoding::write::Write;
    // Two type bytes and at most ten bytes of length.
    let mut out = Vec::with_capacity(update.len() + 12);
    out.write_u8(MSG_SYNC);
    out.write_u8(kind);
    out.write_buf(update);
    out
}

/// Encodes an awareness message.
pub fn encode_awareness(update: &AwarenessUpdate) -> Vec<u8> {
    Message::Awareness(update.clone()).encode_v1()
}

/// Encodes a y-protocols permission-denied auth message; y-websocket clients report it to the app.
pub fn encode_permission_denied(reason: &str) -> Vec<u8> {
    Message::Auth(Some(reason.to_owned())).encode_v1()
}

/// Encodes a query-awareness message.
pub fn encode_query_awareness() -> Vec<u8> {
    Message::AwarenessQuery.encode_v1()
}

#[cfg(test)]
mod tests;
