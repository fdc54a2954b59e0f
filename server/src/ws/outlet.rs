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
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::upgrade::Socket;
use super::wire::Lane;

/// Messages longer than this take the connection's lane (see `wire`): written as one frame from the
/// room's shared bytes, not copied into tungstenite's write buffer, which would keep their size for as long
/// as the connection lives. Shorter ones go through tungstenite, which joins a burst of them into one write.
const LANE_BYTES: usize = 16 * 1024;

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
    /// Large messages' way around the sink's buffer; used only while holding `sink`.
    pub(super) lane: Arc<Lane>,
}

impl<S> Direct<S> {
    pub(super) fn new(sink: S, lane: Arc<Lane>) -> Arc<Direct<S>> {
        Arc::new(Direct { sink: Mutex::new(sink), work: Notify::new(), wrote: AtomicBool::new(false), lane })
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
        let mut rest = frames.drain(..);
        let Some(direct) = &self.direct else {
            return queue(&self.outbox, rest, sent);
        };
        if let Ok(mut sink) = direct.sink.try_lock()
            && self.outbox.capacity() == self.outbox.max_capacity()
        {
            let mut cx = Context::from_waker(Waker::noop());
            let mut sink = Pin::new(&mut *sink);
            let mut fed = false;
            while let Some(frame) = rest.next() {
                let large = frame.len() > LANE_BYTES;
                // A large message may enter the lane only once the sink holds nothing (see `wire`).
                let ready =
                    if large { sink.as_mut().poll_flush(&mut cx) } else { sink.as_mut().poll_ready(&mut cx) };
                if !matches!(ready, Poll::Ready(Ok(()))) {
                    // Back at the front: the outbox takes it, in order, for the connection task.
                    let rest = std::iter::once(frame).chain(rest);
                    let queued = queue(&self.outbox, rest, sent);
                    direct.work.notify_one();
                    return queued;
                }
                let len = frame.len() as u64;
                let taken = if large {
                    direct.lane.push(frame)
                } else {
                    sink.as_mut().start_send(Message::Binary(frame)).is_ok()
                };
                if !taken {
                    // The connection is broken or closing: its task meets the same error on its next write,
                    // or is already closing, so what is left here need not go anywhere.
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
        feed(&mut *sink, &direct.lane, frame).await?;
    }
    sink.flush().await
}

/// Queues one message for `sink`: through tungstenite if short, else in the lane (see [`LANE_BYTES`]),
/// once what the sink holds has been written.
pub(super) async fn feed<S>(sink: &mut S, lane: &Lane, message: Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if message.len() <= LANE_BYTES {
        return sink.feed(Message::Binary(message)).await;
    }
    sink.flush().await?;
    if lane.push(message) { Ok(()) } else { Err(WsError::AlreadyClosed) }
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt, StreamExt};
    use tokio::io::DuplexStream;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

    use super::super::WRITE_BUFFER_BYTES;
    use super::super::wire::Wire;
    use super::*;

    type TestSink = SplitSink<WebSocketStream<Wire<DuplexStream>>, Message>;

    /// A room-side outlet over an in-memory socket that holds `socket_bytes` unread, with the
    /// production write buffer and lane, and the client reading the other end.
    async fn outlet(
        socket_bytes: usize,
        outbox_frames: usize,
    ) -> (Outlet<TestSink>, Arc<Direct<TestSink>>, mpsc::Receiver<Bytes>, WebSocketStream<DuplexStream>) {
        let (server, client) = tokio::io::duplex(socket_bytes);
        let config = WebSocketConfig::default().write_buffer_size(WRITE_BUFFER_BYTES);
        let server = WebSocketStream::from_raw_socket(Wire::new(server), Role::Server, Some(config)).await;
        let lane = server.get_ref().lane();
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let (sink, _read_half) = server.split();
        let direct = Direct::new(sink, lane);
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
    async fn the_room_writes_small_and_large_frames_into_a_free_socket_in_order() {
        let (outlet, _direct, outbox, mut client) = outlet(256 * 1024, 16).await;
        let big = frame(2, LANE_BYTES * 2 + 1);
        let mut frames = vec![frame(1, 10), big.clone(), frame(3, 10)];
        assert_eq!(outlet.send(&mut frames), Ok(Sent { frames: 3, bytes: big.len() as u64 + 20 }));
        assert!(frames.is_empty());
        assert!(outbox.is_empty(), "nothing left for the connection task");
        assert_eq!(read(&mut client).await, frame(1, 10));
        assert_eq!(read(&mut client).await, big, "the large message arrives whole, as one message");
        assert_eq!(read(&mut client).await, frame(3, 10));
    }

    #[tokio::test]
    async fn frames_queue_behind_what_the_socket_could_not_take() {
        let (outlet, direct, mut outbox, mut client) = outlet(64, 16).await;
        // The sink takes this one, but the socket only part of it.
        outlet.send(&mut vec![frame(1, 1000)]).unwrap();
        assert!(outbox.is_empty());
        // A large frame cannot enter the lane behind bytes still in the sink, and what comes after it waits
        // behind it, even a frame the sink could take.
        let big = frame(2, LANE_BYTES + 1);
        outlet.send(&mut vec![big.clone()]).unwrap();
        outlet.send(&mut vec![frame(3, 10)]).unwrap();
        assert_eq!(outbox.len(), 2);
        assert!(direct.work.notified().now_or_never().is_some(), "the connection task is told");

        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(read(&mut client).await);
            }
            (got, client)
        });
        write_queued(&direct, &mut outbox).await.unwrap();
        let (got, mut client) = reader.await.unwrap();
        assert_eq!(got, vec![frame(1, 1000), big, frame(3, 10)]);

        // The outbox is empty again: back to writing directly.
        let reader = tokio::spawn(async move { read(&mut client).await });
        outlet.send(&mut vec![frame(4, 10)]).unwrap();
        assert!(outbox.is_empty());
        write_queued(&direct, &mut outbox).await.unwrap();
        assert_eq!(reader.await.unwrap(), frame(4, 10));
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
    async fn a_closing_connection_takes_no_more_large_frames() {
        let (outlet, direct, outbox, _client) = outlet(256 * 1024, 16).await;
        direct.lane.close();
        assert_eq!(outlet.send(&mut vec![frame(1, LANE_BYTES + 1)]), Ok(Sent::default()));
        assert!(outbox.is_empty());
        let mut sink = direct.sink.lock().await;
        assert!(matches!(
            feed(&mut *sink, &direct.lane, frame(1, LANE_BYTES + 1)).await,
            Err(WsError::AlreadyClosed)
        ));
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
