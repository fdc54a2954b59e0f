//! The WebSocket edge: `GET /ws/{room_id}?token=…` (DESIGN §4.1). The token is checked before the upgrade;
//! after it, one task per connection enforces frame and rate limits, decodes and validates what the client
//! sends, hands it to the room actor, and writes what the room could not write itself (see `sink`).
//! The connection task never touches the document. Anything wrong with a client closes that client only.

use std::future::Future;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use handoff_protocol::frame::{
    self, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_SLOW_CONSUMER, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED,
    KEEPALIVE_FRAME,
};
use handoff_protocol::limits::{
    CLIENT_IDLE_TIMEOUT_SECS, CLIENT_MESSAGE_BURST, CLIENT_MESSAGES_PER_SECOND, CLOSE_DRAIN_MS,
    KEEPALIVE_SECS, MAX_CLIENT_FRAME_BYTES,
};
use handoff_protocol::{Claims, api::RoomStatus};
use rand::Rng;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::Instrument;
use upgrade::{NotAnUpgrade, Socket, Upgrade};

use crate::auth::TokenError;
use crate::error::AppError;
use crate::metrics::METRICS;
use crate::rate::RateLimiter;
use crate::room::{ClientMessage, CloseReason, Command, Extension, Extensions, Identity, Joiner};
use crate::state::AppState;
use handoff_protocol::voice::ClientSignal;

mod drain;
mod inbound;
mod sink;
mod transport;
mod upgrade;

use inbound::decode;
use sink::{ConnectionSink, SharedWriter};

/// tungstenite's read buffer per connection. Its default (128 KiB) would dominate the memory of an idle
/// connection; frames larger than this are still read, in several reads. tungstenite zero-fills this
/// much before every read, and takes a fresh buffer of this size whenever the room still holds the last
/// frame, so it is sized to a keystroke's frames (tens of bytes) rather than a paste's: at 4 KiB the
/// zeroing alone is 8 % of the server's user-space instructions while typing, while a 64 KiB paste takes
/// 64 reads instead of 16 at no measurable cost (docs/PERFORMANCE.md).
const READ_BUFFER_BYTES: usize = 1024;
/// Bytes buffered for writing before tungstenite flushes to the socket.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// A write to a client that makes no progress for this long ends the connection as a slow consumer.
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Most messages a connection hands the room in one command: what one read of the socket delivered,
/// bounded so a client that floods cannot hold its room's queue slot with an unbounded batch.
const INBOUND_BATCH_MESSAGES: usize = 64;
/// How long the close frame may take to go out before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest close reason a WebSocket close frame can carry (125-byte payload minus the 2-byte code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

#[derive(Deserialize)]
pub(crate) struct WsQuery {
    token: Option<String>,
    /// The extension messages the client understands, comma-separated (`room::Extensions`). Stock
    /// y-websocket clients never send it, so they never receive an extension message.
    ext: Option<String>,
}

/// Checks the token against the room, then upgrades.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    Query(query): Query<WsQuery>,
    ws: Result<Upgrade, NotAnUpgrade>,
) -> Response {
    let claims = match state.tokens.verify(query.token.as_deref(), &room_id) {
        Ok(c) => c,
        Err(e @ TokenError::WrongRoom) => return AppError::Forbidden(e.to_string()).into_response(),
        Err(e) => return AppError::Unauthorized(e.to_string()).into_response(),
    };
    // A room this node holds open needs no store read: a join storm's hundred handshakes each took a
    // blocking thread and a pooled connection for it. Its actor turns it closed before an end is
    // answered; a join that slips in just before is closed with the end like every member. Any other
    // room (not loaded, or ended) is looked up, and the store's answer refuses it.
    if !state.rooms.holds_open(&room_id) {
        match state.store.get_room(&room_id).await {
            Ok(Some(room)) if room.status == RoomStatus::Live => {}
            Ok(Some(_)) => return AppError::RoomEnded.into_response(),
            Ok(None) => return AppError::NotFound("room").into_response(),
            Err(e) => return AppError::from(e).into_response(),
        }
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(Some(MAX_CLIENT_FRAME_BYTES))
        .max_frame_size(Some(MAX_CLIENT_FRAME_BYTES));
    let extensions = query.ext.as_deref().map(Extensions::parse).unwrap_or_default();
    ws.on_upgrade(config, move |socket| serve(socket, state, room_id, claims, extensions))
}

/// Bits of a connection id: random ids unique across restarts and nodes, exact as JavaScript numbers.
const CONN_ID_BITS: u32 = 53;

fn new_conn_id() -> u64 {
    rand::rng().random::<u64>() >> (u64::BITS - CONN_ID_BITS)
}

async fn serve(socket: Socket, state: AppState, room_id: String, claims: Claims, extensions: Extensions) {
    let conn_id = new_conn_id();
    let span = tracing::info_span!("conn", id = conn_id, room = %room_id, role = %claims.role);
    async move {
        let end = run(socket, &state, &room_id, conn_id, claims, extensions).await;
        tracing::debug!(code = end.code, reason = %end.reason, "connection closed");
    }
    .instrument(span)
    .await
}

async fn run(
    socket: Socket,
    state: &AppState,
    room_id: &str,
    conn_id: u64,
    claims: Claims,
    extensions: Extensions,
) -> CloseReason {
    let large = socket.get_ref().large_frames();
    let (sink, mut stream) = socket.split();
    let writer = SharedWriter::new(sink, large);
    let (outbox_tx, mut outbox) = mpsc::channel::<Bytes>(state.outbox_frames);
    let (kick_tx, mut kick) = oneshot::channel::<CloseReason>();
    let who = Identity { conn_id, name: claims.name.into(), role: claims.role };
    // The edge reads presence states as this identity (`room::vet`).
    let me = who.clone();
    let sink = ConnectionSink::new(outbox_tx, writer.clone(), kick_tx);
    let joiner = Joiner { who, extensions, sink: Box::new(sink) };
    let room = match state.rooms.join(room_id, joiner).await {
        Ok(room) => room,
        Err(reason) => {
            let _ = writer.sink.lock().await.send(close_message(&reason)).await;
            return reason;
        }
    };
    METRICS.connections.inc();
    // A client that announced voice is its room's voice member: it is told who is in voice, and may join.
    let voice = if extensions.contains(Extension::VoiceSignal) {
        Some(state.voice.connect(room_id, me.clone(), room.clone()).await)
    } else {
        None
    };
    let mut limiter = RateLimiter::new(CLIENT_MESSAGES_PER_SECOND, CLIENT_MESSAGE_BURST);
    let keepalive_every = Duration::from_secs(KEEPALIVE_SECS);
    let idle_timeout = Duration::from_secs(CLIENT_IDLE_TIMEOUT_SECS);
    let mut ticker = tokio::time::interval(keepalive_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last_in, mut last_out) = (Instant::now(), Instant::now());

    let end = loop {
        tokio::select! {
            biased;
            reason = &mut kick => {
                break reason.unwrap_or_else(|_| CloseReason::new(CLOSE_GOING_AWAY, "room closed"));
            }
            () = writer.has_work.notified() => {
                // The room queued frames, or left bytes in the sink that the socket would not take yet.
                // Frames leave the outbox only under the sink's lock (see `sink`). Write everything
                // queued, then flush once: one syscall for a burst of frames. A client that stops reading
                // stalls this write; the kick or the stall timeout ends it.
                let write = sink::write_queued(&writer, &mut outbox);
                tokio::pin!(write);
                // Nearly every write completes at once (the socket buffer has room); only one that waits
                // needs the stall timer, so the common case registers no timer at all.
                let once = std::future::poll_fn(|cx| std::task::Poll::Ready(write.as_mut().poll(cx))).await;
                let written = match once {
                    std::task::Poll::Ready(written) => written,
                    std::task::Poll::Pending => tokio::select! {
                        written = &mut write => written,
                        reason = &mut kick => {
                            break reason.unwrap_or_else(|_| CloseReason::new(CLOSE_GOING_AWAY, "room closed"));
                        }
                        _ = tokio::time::sleep(WRITE_STALL_TIMEOUT) => {
                            break CloseReason::new(CLOSE_SLOW_CONSUMER, "slow consumer: writes stalled");
                        }
                    },
                };
                if written.is_err() {
                    break CloseReason::new(CLOSE_GOING_AWAY, "write failed");
                }
                last_out = Instant::now();
            }
            msg = stream.next() => {
                last_in = Instant::now();
                // Everything the socket has already delivered goes to the room as one command: a typist's
                // update and cursor arrive together, and the room then answers each member with one write
                // instead of one per message.
                let (mut batch, mut next, mut end) = (Vec::new(), msg, None);
                let mut signals = voice.as_ref().map(|_| Vec::new());
                loop {
                    match read_messages(next, &me, &mut limiter, &mut batch, signals.as_mut()) {
                        Ok(()) => {}
                        Err(reason) => {
                            end = Some(reason);
                            break;
                        }
                    }
                    if batch.len() >= INBOUND_BATCH_MESSAGES {
                        break;
                    }
                    match stream.next().now_or_never() {
                        Some(more) => next = more,
                        None => break,
                    }
                }
                if !batch.is_empty() && room.send(Command::Messages { conn_id, msgs: batch }).await.is_err() {
                    break CloseReason::new(CLOSE_GOING_AWAY, "room closed");
                }
                if let (Some(voice), Some(signals)) = (&voice, signals) {
                    for signal in signals {
                        voice.signal(signal).await;
                    }
                }
                if let Some(reason) = end {
                    break reason;
                }
            }
            _ = ticker.tick() => {
                if last_in.elapsed() >= idle_timeout {
                    break CloseReason::new(CLOSE_GOING_AWAY, "no frames from client; closing idle connection");
                }
                if writer.room_wrote.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    last_out = Instant::now();
                }
                if last_out.elapsed() >= keepalive_every {
                    let mut sink = writer.sink.lock().await;
                    let ping = sink.feed(Message::Ping(Bytes::new())).await;
                    let keep = sink.feed(Message::Binary(Bytes::from_static(&KEEPALIVE_FRAME))).await;
                    if ping.is_err() || keep.is_err() || sink.flush().await.is_err() {
                        break CloseReason::new(CLOSE_GOING_AWAY, "write failed");
                    }
                    last_out = Instant::now();
                }
            }
        }
    };
    METRICS.connections.dec();
    if let Some(voice) = voice {
        voice.disconnect().await;
    }
    let _ = room.send(Command::Leave { conn_id }).await;
    // A client that stopped reading may never take the close frame; do not wait on it forever.
    let close = async {
        let mut sink = writer.sink.lock().await;
        // The close frame is the last frame: the room may still be sending until it sees the leave.
        writer.large.close();
        let sent = sink.send(close_message(&end)).await;
        (sink, sent)
    };
    if let Ok((mut sink, Ok(()))) = tokio::time::timeout(CLOSE_TIMEOUT, close).await {
        // Unless the client closed first, it may still be sending (the rest of a message over the limit):
        // read and discard it, bounded, so its kernel is not reset before it reads the close frame.
        if end.code != frame::CLOSE_NORMAL {
            writer.large.drain_reads();
            let _ = tokio::time::timeout(Duration::from_millis(CLOSE_DRAIN_MS), sink.flush()).await;
        }
    }
    end
}

/// What one read from the socket means: messages for the room, added to `out` (none for a ping), voice
/// signals added to `signals` (`None`: the client did not announce voice), or why to close.
fn read_messages(
    msg: Option<Result<Message, WsError>>,
    who: &Identity,
    limiter: &mut RateLimiter,
    out: &mut Vec<ClientMessage>,
    mut signals: Option<&mut Vec<ClientSignal>>,
) -> Result<(), CloseReason> {
    match msg {
        None | Some(Ok(Message::Close(_))) => Err(CloseReason::new(frame::CLOSE_NORMAL, "client closed")),
        Some(Err(WsError::Capacity(_))) => Err(CloseReason::new(
            CLOSE_TOO_BIG,
            format!("message over the limit of {MAX_CLIENT_FRAME_BYTES} bytes"),
        )),
        Some(Err(e)) => {
            tracing::debug!(error = %e, "read failed");
            Err(CloseReason::new(CLOSE_GOING_AWAY, "read failed"))
        }
        Some(Ok(Message::Text(_))) => Err(CloseReason::new(
            CLOSE_UNSUPPORTED,
            "text frames are not supported; send binary y-sync messages",
        )),
        // tungstenite answers pings itself; it never yields raw frames when reading.
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
        Some(Ok(Message::Binary(bytes))) => {
            METRICS.bytes_in.inc_by(bytes.len() as u64);
            if !limiter.allow() {
                return Err(CloseReason::new(
                    CLOSE_POLICY,
                    format!("message rate over {CLIENT_MESSAGES_PER_SECOND}/s"),
                ));
            }
            // A frame with one bad message is refused whole: none of its messages reach the room.
            let before = out.len();
            let signals_before = signals.as_ref().map_or(0, |s| s.len());
            decode(bytes, who, out, signals.as_deref_mut()).map_err(|e| {
                out.truncate(before);
                if let Some(signals) = signals {
                    signals.truncate(signals_before);
                }
                e.close_reason()
            })
        }
    }
}

fn close_message(reason: &CloseReason) -> Message {
    let mut text = reason.reason.as_str();
    if text.len() > MAX_CLOSE_REASON_BYTES {
        let mut cut = MAX_CLOSE_REASON_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text = &text[..cut];
    }
    Message::Close(Some(CloseFrame { code: CloseCode::from(reason.code), reason: text.into() }))
}
