//! How the room's frames reach a connection. When the connection's socket is free and nothing is
//! waiting in its outbox, the room writes the frames into the socket itself; only what the socket cannot
//! take at once goes to the bounded outbox, for the connection task to write.
//!
//! Why: going through the outbox cost every keystroke a wake-up of each other member's connection task,
//! and on a multi-threaded runtime the second of those wake-ups made tokio unpark an idle worker to
//! steal it. The profile put those wake-ups and context switches at the largest share of the server's
//! CPU. A write that completes at once needs no other task.
//!
//! Order is kept: the room writes directly only while holding the sink and only when the outbox is
//! empty, and the connection task takes frames out of the outbox only while holding the sink, feeding
//! them in before it lets go. The slow-consumer rules stay with the outbox and the connection task: a
//! full outbox disconnects, a write that makes no progress is timed out by the connection task.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Mutex, Notify, mpsc};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::upgrade::Socket;

/// Messages longer than this go out as fragments of this size (RFC 6455 §5.4; every client reassembles
/// them). tungstenite's write buffer grows to the largest frame it formats and never shrinks: sent whole,
/// a 200 KiB room's first sync left 200 KiB behind in every connection for as long as it stayed.
const FRAGMENT_BYTES: usize = 16 * 1024;

/// The write half of a connection's WebSocket.
pub type WsSink = SplitSink<Socket, Message>;

/// The part of a connection the room may write into.
pub struct Direct<S = WsSink> {
    pub(super) sink: Mutex<S>,
    /// The connection task has work: frames in the outbox, or bytes the room left in the sink's buffer
    /// because the socket would not take them yet.
    pub(super) work: Notify,
    /// The room wrote to the socket since the connection task last looked (so no keepalive is due).
    pub(super) wrote: AtomicBool,
}

impl<S> Direct<S> {
    pub(super) fn new(sink: S) -> Arc<Direct<S>> {
        Arc::new(Direct { sink: Mutex::new(sink), work: Notify::new(), wrote: AtomicBool::new(false) })
    }
}

/// Where the room sends one member's frames.
pub struct Outlet<S = WsSink> {
    outbox: mpsc::Sender<Bytes>,
    direct: Option<Arc<Direct<S>>>,
}

/// Why an outlet took no more frames.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The outbox is full: the client is not keeping up.
    Full,
    /// The connection is gone.
    Closed,
}

/// What one [`Outlet::send`] handed on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub frames: u64,
    pub bytes: u64,
}

impl Outlet {
    /// An outlet that only queues: its reader takes the frames from the receiving end of `outbox`.
    pub fn queue(outbox: mpsc::Sender<Bytes>) -> Outlet {
        Outlet { outbox, direct: None }
    }
}

impl<S: Sink<Message, Error = WsError> + Unpin> Outlet<S> {
    pub(super) fn direct(outbox: mpsc::Sender<Bytes>, direct: Arc<Direct<S>>) -> Outlet<S> {
        Outlet { outbox, direct: Some(direct) }
    }

    /// Sends every frame in `frames` (leaving it empty), in order: into the socket if it takes them now,
    /// the rest into the outbox. On `Err` the frames not handed on are dropped; the caller removes the
    /// member.
    pub fn send(&self, frames: &mut Vec<Bytes>) -> Result<Sent, Refused> {
        let mut sent = Sent::default();
        let mut rest = frames.drain(..).peekable();
        let Some(direct) = &self.direct else {
            return queue(&self.outbox, rest, sent);
        };
        if let Ok(mut sink) = direct.sink.try_lock()
            && self.outbox.capacity() == self.outbox.max_capacity()
        {
            let mut cx = Context::from_waker(Waker::noop());
            let mut sink = Pin::new(&mut *sink);
            let mut fed = false;
            // A message over FRAGMENT_BYTES goes out in fragments, which only the connection task writes:
            // a fragmented message cannot stop halfway. It and everything after it take the outbox.
            while let Some(frame) = rest.next_if(|f| f.len() <= FRAGMENT_BYTES) {
                if !matches!(sink.as_mut().poll_ready(&mut cx), Poll::Ready(Ok(()))) {
                    // Back at the front: the outbox takes it, in order, for the connection task.
                    let rest = std::iter::once(frame).chain(rest);
                    let queued = queue(&self.outbox, rest, sent);
                    direct.work.notify_one();
                    return queued;
                }
                let len = frame.len() as u64;
                if sink.as_mut().start_send(Message::Binary(frame)).is_err() {
                    // The connection is broken: its task meets the same error on its next write and
                    // closes, so what is left here need not go anywhere.
                    direct.work.notify_one();
                    return Ok(sent);
                }
                (fed, sent.frames, sent.bytes) = (true, sent.frames + 1, sent.bytes + len);
            }
            if fed {
                direct.wrote.store(true, Ordering::Relaxed);
                // Pending or failed: the connection task finishes the flush under its stall timer, or
                // meets the error and closes.
                if !matches!(sink.poll_flush(&mut cx), Poll::Ready(Ok(()))) {
                    direct.work.notify_one();
                }
            }
        }
        if rest.peek().is_none() {
            return Ok(sent);
        }
        let queued = queue(&self.outbox, rest, sent);
        direct.work.notify_one();
        queued
    }
}

fn queue(
    outbox: &mpsc::Sender<Bytes>,
    frames: impl Iterator<Item = Bytes>,
    mut sent: Sent,
) -> Result<Sent, Refused> {
    for frame in frames {
        let len = frame.len() as u64;
        match outbox.try_send(frame) {
            Ok(()) => (sent.frames, sent.bytes) = (sent.frames + 1, sent.bytes + len),
            Err(TrySendError::Full(_)) => return Err(Refused::Full),
            Err(TrySendError::Closed(_)) => return Err(Refused::Closed),
        }
    }
    Ok(sent)
}

/// The connection task's share: under the sink's lock, writes every frame waiting in `outbox` and
/// flushes what is in the sink (the room's bytes the socket would not take at once included).
pub(super) async fn write_queued<S>(
    direct: &Direct<S>,
    outbox: &mut mpsc::Receiver<Bytes>,
) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let mut sink = direct.sink.lock().await;
    while let Ok(frame) = outbox.try_recv() {
        feed(&mut *sink, frame).await?;
    }
    sink.flush().await
}

/// Queues one message for `sink`: whole if short, else as fragments (see [`FRAGMENT_BYTES`]), each a
/// slice of the same shared bytes.
pub(super) async fn feed<S>(sink: &mut S, message: Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if message.len() <= FRAGMENT_BYTES {
        return sink.feed(Message::Binary(message)).await;
    }
    let mut opcode = OpCode::Data(Data::Binary);
    let mut rest = message;
    while !rest.is_empty() {
        let part = rest.split_to(rest.len().min(FRAGMENT_BYTES));
        sink.feed(Message::Frame(Frame::message(part, opcode, rest.is_empty()))).await?;
        opcode = OpCode::Data(Data::Continue);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt, StreamExt};
    use tokio::io::DuplexStream;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

    use super::super::WRITE_BUFFER_BYTES;
    use super::*;

    async fn fed(message: &[u8]) -> Vec<Message> {
        let mut out: Vec<Message> = Vec::new();
        let mut sink = (&mut out).sink_map_err(|e: std::convert::Infallible| match e {});
        feed(&mut sink, Bytes::copy_from_slice(message)).await.unwrap();
        out
    }

    #[tokio::test]
    async fn short_messages_go_whole_and_long_ones_as_fragments_that_reassemble() {
        let short = vec![7u8; FRAGMENT_BYTES];
        assert!(matches!(&fed(&short).await[..], [Message::Binary(b)] if b[..] == short[..]));

        let long: Vec<u8> = (0..FRAGMENT_BYTES * 2 + 5).map(|i| (i % 251) as u8).collect();
        let frames = fed(&long).await;
        assert_eq!(frames.len(), 3);
        let mut joined = Vec::new();
        for (i, m) in frames.iter().enumerate() {
            let Message::Frame(f) = m else { panic!("fragment {i} is not a raw frame") };
            let expect = if i == 0 { OpCode::Data(Data::Binary) } else { OpCode::Data(Data::Continue) };
            assert_eq!(f.header().opcode, expect, "fragment {i}");
            assert_eq!(f.header().is_final, i == 2, "only the last fragment is final");
            assert!(f.payload().len() <= FRAGMENT_BYTES);
            joined.extend_from_slice(f.payload());
        }
        assert_eq!(joined, long);
    }

    type TestSink = SplitSink<WebSocketStream<DuplexStream>, Message>;

    /// A room-side outlet over an in-memory socket that holds `socket_bytes` unread, with the
    /// production write buffer, and the client reading the other end.
    async fn outlet(
        socket_bytes: usize,
        outbox_frames: usize,
    ) -> (Outlet<TestSink>, Arc<Direct<TestSink>>, mpsc::Receiver<Bytes>, WebSocketStream<DuplexStream>) {
        let (server, client) = tokio::io::duplex(socket_bytes);
        let config = WebSocketConfig::default().write_buffer_size(WRITE_BUFFER_BYTES);
        let server = WebSocketStream::from_raw_socket(server, Role::Server, Some(config)).await;
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let (sink, _read_half) = server.split();
        let direct = Direct::new(sink);
        let (tx, rx) = mpsc::channel(outbox_frames);
        (Outlet::direct(tx, direct.clone()), direct, rx, client)
    }

    fn frame(tag: u8, len: usize) -> Bytes {
        Bytes::from(vec![tag; len])
    }

    async fn read(client: &mut WebSocketStream<DuplexStream>) -> Bytes {
        match client.next().await {
            Some(Ok(Message::Binary(b))) => b,
            other => panic!("expected a binary message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_room_writes_into_a_free_socket_and_queues_behind_what_waits() {
        let (outlet, direct, mut outbox, mut client) = outlet(256 * 1024, 16).await;

        // A free socket: written by the room itself, nothing left for the connection task.
        assert_eq!(outlet.send(&mut vec![frame(1, 10)]), Ok(Sent { frames: 1, bytes: 10 }));
        assert!(outbox.is_empty());
        assert_eq!(read(&mut client).await, frame(1, 10));

        // A large frame goes out in fragments, which only the connection task writes; what comes after
        // it waits behind it in the outbox, even once the room could write again.
        let big = frame(2, FRAGMENT_BYTES * 2 + 1);
        let mut frames = vec![big.clone(), frame(3, 10)];
        assert_eq!(outlet.send(&mut frames), Ok(Sent { frames: 2, bytes: big.len() as u64 + 10 }));
        assert!(frames.is_empty());
        assert_eq!(outlet.send(&mut vec![frame(4, 10)]).map(|s| s.frames), Ok(1));
        assert_eq!(outbox.len(), 3);
        assert!(direct.work.notified().now_or_never().is_some(), "the connection task is told");

        write_queued(&direct, &mut outbox).await.unwrap();
        assert_eq!(read(&mut client).await, big);
        assert_eq!(read(&mut client).await, frame(3, 10));
        assert_eq!(read(&mut client).await, frame(4, 10));

        // The outbox is empty again: back to writing directly.
        outlet.send(&mut vec![frame(5, 10)]).unwrap();
        assert!(outbox.is_empty());
        assert_eq!(read(&mut client).await, frame(5, 10));
    }

    #[tokio::test]
    async fn a_flush_the_socket_cannot_finish_is_left_to_the_connection_task() {
        let (outlet, direct, mut outbox, mut client) = outlet(64, 16).await;
        outlet.send(&mut vec![frame(1, 1000)]).unwrap();
        assert!(outbox.is_empty(), "the sink took the frame");
        assert!(direct.work.notified().now_or_never().is_some(), "but the socket did not: the task is told");

        let reader = tokio::spawn(async move { read(&mut client).await });
        write_queued(&direct, &mut outbox).await.unwrap();
        assert_eq!(reader.await.unwrap(), frame(1, 1000));
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_fills_the_outbox_and_is_refused() {
        let (outlet, _direct, outbox, _client) = outlet(1024, 4).await;
        // What the socket holds, then the sink's write buffer and a frame in its slot, then the outbox's
        // 4 frames: each 100-byte message takes 102 bytes on the wire.
        let most = (1024 + WRITE_BUFFER_BYTES) / 100 + 8;
        let refused = (0..most).map(|_| outlet.send(&mut vec![frame(1, 100)])).find_map(Result::err);
        assert_eq!(refused, Some(Refused::Full));
        assert_eq!(outbox.len(), 4);
    }
}
