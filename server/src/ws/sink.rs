//! How the room's frames reach a connection: the WebSocket edge's [`MemberSink`]. When the connection's
//! socket is free and nothing is waiting in its outbox, the room's call writes the frames into the socket
//! itself; only what the socket cannot take at once goes to the bounded outbox, for the connection task
//! to write.
//!
//! Why: going through the outbox would cost every keystroke a wake-up of each other member's connection
//! task, and on a multi-threaded runtime the second of those wake-ups makes tokio unpark an idle worker
//! to steal it; in a profile those wake-ups and context switches are the largest share of the server's
//! CPU. A write that completes at once needs no other task.
//!
//! Order is kept: the room writes directly only while holding the sink and only when the outbox is
//! empty, and the connection task takes frames out of the outbox only while holding the sink, feeding
//! them in before it lets go. The slow-consumer rules stay with the outbox and the connection task: a
//! full outbox disconnects, a write that makes no progress is timed out by the connection task.
//!
//! Fan-out latency (`handoff_fanout_seconds`) is observed where the frames of an accepted update are
//! written: by the room's call when the socket takes them at once (one clock read per member), else by
//! the connection task once it has written the outbox; once per update the frames carry. A burst that
//! waited in the outbox is observed at the age of its oldest update: an upper bound, without a timestamp
//! per frame.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{Sink, SinkExt};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::transport::LargeFrames;
use super::upgrade::Socket;
use crate::metrics::METRICS;
use crate::room::{CloseReason, Delivered, Fanout, MemberSink, Undelivered, queue};

/// Messages longer than this bypass tungstenite's write buffer (see `transport`): written as one frame
/// from the room's shared bytes, not copied into that buffer, which would keep their size for as long as
/// the connection lives. Shorter ones go through tungstenite, which joins a burst of them into one write.
const LARGE_FRAME_BYTES: usize = 16 * 1024;

/// The write half of a connection's WebSocket.
pub(super) type WsSink = SplitSink<Socket, Message>;

/// The write half of a connection, shared by the room (which writes into it when it is free) and the
/// connection task (which writes what the room could not).
pub(super) struct SharedWriter<S = WsSink> {
    pub(super) sink: Mutex<S>,
    /// The connection task has work: frames in the outbox, or bytes the room left in the sink's buffer
    /// because the socket would not take them yet.
    pub(super) has_work: Notify,
    /// The room wrote to the socket since the connection task last looked (so no keepalive is due).
    pub(super) room_wrote: AtomicBool,
    /// Large messages' way around the sink's buffer; used only while holding `sink`.
    pub(super) large: Arc<LargeFrames>,
    /// Deliveries of accepted updates waiting in the outbox, for the fan-out histogram.
    waiting: std::sync::Mutex<Waiting>,
}

/// Deliveries of accepted updates the room put in the outbox and the connection task has not written.
#[derive(Debug, Default, Clone, Copy)]
struct Waiting {
    /// When the room took the oldest of their updates.
    oldest: Option<Instant>,
    /// Updates waiting, summed over those deliveries.
    deliveries: u32,
}

impl<S> SharedWriter<S> {
    pub(super) fn new(sink: S, large: Arc<LargeFrames>) -> Arc<SharedWriter<S>> {
        Arc::new(SharedWriter {
            sink: Mutex::new(sink),
            has_work: Notify::new(),
            room_wrote: AtomicBool::new(false),
            large,
            waiting: std::sync::Mutex::default(),
        })
    }

    /// Notes deliveries of updates left in the outbox.
    fn wait(&self, fanout: Fanout) {
        let mut w = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        w.oldest = Some(w.oldest.map_or(fanout.at, |o| o.min(fanout.at)));
        w.deliveries = w.deliveries.saturating_add(fanout.updates);
    }

    /// Observes the deliveries waiting in the outbox as written now.
    fn observe_written(&self) {
        let w = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(oldest) = w.oldest {
            observe(oldest, w.deliveries);
        }
    }
}

/// Observes `updates` deliveries of updates accepted at `at`, written now: one clock read.
fn observe(at: Instant, updates: u32) {
    let age = at.elapsed().as_secs_f64();
    for _ in 0..updates {
        METRICS.fanout_seconds.observe(age);
    }
}

/// A member's sink over its WebSocket: the room's frames go into the socket when it takes them at once,
/// else into the bounded outbox; closing sends the reason to the connection task.
pub(super) struct ConnectionSink<S = WsSink> {
    outbox: mpsc::Sender<Bytes>,
    writer: Arc<SharedWriter<S>>,
    kick: Option<oneshot::Sender<CloseReason>>,
}

impl<S: Sink<Message, Error = WsError> + Unpin> ConnectionSink<S> {
    pub(super) fn new(
        outbox: mpsc::Sender<Bytes>,
        writer: Arc<SharedWriter<S>>,
        kick: oneshot::Sender<CloseReason>,
    ) -> ConnectionSink<S> {
        ConnectionSink { outbox, writer, kick: Some(kick) }
    }

    /// Sends every frame in `frames` (leaving it empty), in order: into the socket if it takes them now,
    /// the rest into the outbox. On `Err` the frames not handed on are dropped; the room removes the
    /// member. `fanout`: the accepted updates they carry, for the fan-out histogram.
    pub(super) fn send(
        &self,
        frames: &mut Vec<Bytes>,
        fanout: Option<Fanout>,
    ) -> Result<Delivered, Undelivered> {
        let mut sent = Delivered::default();
        let mut rest = frames.drain(..);
        let writer = &self.writer;
        if let Ok(mut sink) = writer.sink.try_lock()
            && self.outbox.capacity() == self.outbox.max_capacity()
        {
            let mut cx = Context::from_waker(Waker::noop());
            let mut sink = Pin::new(&mut *sink);
            let mut fed = false;
            while let Some(frame) = rest.next() {
                let large = frame.len() > LARGE_FRAME_BYTES;
                // A large message may bypass the sink only once the sink holds nothing (see `transport`).
                let ready =
                    if large { sink.as_mut().poll_flush(&mut cx) } else { sink.as_mut().poll_ready(&mut cx) };
                if !matches!(ready, Poll::Ready(Ok(()))) {
                    // Back at the front: the outbox takes it, in order, for the connection task.
                    let rest = std::iter::once(frame).chain(rest);
                    return self.queue(rest, sent, fanout);
                }
                let len = frame.len() as u64;
                let taken = if large {
                    writer.large.push(frame)
                } else {
                    sink.as_mut().start_send(Message::Binary(frame)).is_ok()
                };
                if !taken {
                    // The connection is broken or closing: its task meets the same error on its next write,
                    // or is already closing, so what is left here need not go anywhere.
                    writer.has_work.notify_one();
                    return Ok(sent);
                }
                (fed, sent.frames, sent.bytes) = (true, sent.frames + 1, sent.bytes + len);
            }
            if fed {
                writer.room_wrote.store(true, Ordering::Relaxed);
                // Pending or failed: the connection task finishes the flush under its stall timer, or
                // meets the error and closes.
                if !matches!(sink.poll_flush(&mut cx), Poll::Ready(Ok(()))) {
                    writer.has_work.notify_one();
                }
                if let Some(f) = fanout {
                    observe(f.at, f.updates);
                }
            }
            return Ok(sent);
        }
        self.queue(rest, sent, fanout)
    }

    /// Puts `frames` in the outbox for the connection task, which is told.
    fn queue(
        &self,
        frames: impl Iterator<Item = Bytes>,
        sent: Delivered,
        fanout: Option<Fanout>,
    ) -> Result<Delivered, Undelivered> {
        let queued = queue(&self.outbox, frames, sent);
        if let (Ok(_), Some(f)) = (&queued, fanout) {
            self.writer.wait(f);
        }
        self.writer.has_work.notify_one();
        queued
    }
}

impl<S: Sink<Message, Error = WsError> + Unpin + Send> MemberSink for ConnectionSink<S> {
    fn deliver(&mut self, frames: &mut Vec<Bytes>, fanout: Option<Fanout>) -> Result<Delivered, Undelivered> {
        self.send(frames, fanout)
    }

    fn close(&mut self, reason: CloseReason) {
        if let Some(kick) = self.kick.take() {
            let _ = kick.send(reason);
        }
    }
}

/// The connection task's share: under the sink's lock, writes every frame waiting in `outbox` and
/// flushes what is in the sink (the room's bytes the socket would not take at once included).
pub(super) async fn write_queued<S>(
    writer: &SharedWriter<S>,
    outbox: &mut mpsc::Receiver<Bytes>,
) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let mut sink = writer.sink.lock().await;
    while let Ok(frame) = outbox.try_recv() {
        feed(&mut *sink, &writer.large, frame).await?;
    }
    sink.flush().await?;
    writer.observe_written();
    Ok(())
}

/// Queues one message for `sink`: through tungstenite if short, else around it (see
/// [`LARGE_FRAME_BYTES`]), once what the sink holds has been written.
pub(super) async fn feed<S>(sink: &mut S, large: &LargeFrames, message: Bytes) -> Result<(), WsError>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    if message.len() <= LARGE_FRAME_BYTES {
        return sink.feed(Message::Binary(message)).await;
    }
    sink.flush().await?;
    if large.push(message) { Ok(()) } else { Err(WsError::AlreadyClosed) }
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt, StreamExt};
    use tokio::io::DuplexStream;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

    use super::super::WRITE_BUFFER_BYTES;
    use super::super::transport::Transport;
    use super::*;

    type TestSink = SplitSink<WebSocketStream<Transport<DuplexStream>>, Message>;

    /// A room-side sink over an in-memory socket that holds `socket_bytes` unread, with the
    /// production write buffer and large-frame bypass, and the client reading the other end.
    async fn connection(
        socket_bytes: usize,
        outbox_frames: usize,
    ) -> (
        ConnectionSink<TestSink>,
        Arc<SharedWriter<TestSink>>,
        mpsc::Receiver<Bytes>,
        WebSocketStream<DuplexStream>,
    ) {
        let (server, client) = tokio::io::duplex(socket_bytes);
        let config = WebSocketConfig::default().write_buffer_size(WRITE_BUFFER_BYTES);
        let server =
            WebSocketStream::from_raw_socket(Transport::new(server), Role::Server, Some(config)).await;
        let large = server.get_ref().large_frames();
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let (sink, _read_half) = server.split();
        let writer = SharedWriter::new(sink, large);
        let (tx, rx) = mpsc::channel(outbox_frames);
        let (kick, _) = oneshot::channel();
        (ConnectionSink::new(tx, writer.clone(), kick), writer, rx, client)
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
        let (sink, _writer, outbox, mut client) = connection(256 * 1024, 16).await;
        let big = frame(2, LARGE_FRAME_BYTES * 2 + 1);
        let mut frames = vec![frame(1, 10), big.clone(), frame(3, 10)];
        assert_eq!(sink.send(&mut frames, None), Ok(Delivered { frames: 3, bytes: big.len() as u64 + 20 }));
        assert!(frames.is_empty());
        assert!(outbox.is_empty(), "nothing left for the connection task");
        assert_eq!(read(&mut client).await, frame(1, 10));
        assert_eq!(read(&mut client).await, big, "the large message arrives whole, as one message");
        assert_eq!(read(&mut client).await, frame(3, 10));
    }

    #[tokio::test]
    async fn frames_queue_behind_what_the_socket_could_not_take() {
        let (sink, writer, mut outbox, mut client) = connection(64, 16).await;
        // The sink takes this one, but the socket only part of it.
        sink.send(&mut vec![frame(1, 1000)], None).unwrap();
        assert!(outbox.is_empty());
        // A large frame cannot bypass the sink while it still holds bytes, and what comes after it waits
        // behind it, even a frame the sink could take.
        let big = frame(2, LARGE_FRAME_BYTES + 1);
        sink.send(&mut vec![big.clone()], None).unwrap();
        sink.send(&mut vec![frame(3, 10)], None).unwrap();
        assert_eq!(outbox.len(), 2);
        assert!(writer.has_work.notified().now_or_never().is_some(), "the connection task is told");

        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(read(&mut client).await);
            }
            (got, client)
        });
        write_queued(&writer, &mut outbox).await.unwrap();
        let (got, mut client) = reader.await.unwrap();
        assert_eq!(got, vec![frame(1, 1000), big, frame(3, 10)]);

        // The outbox is empty again: back to writing writerly.
        let reader = tokio::spawn(async move { read(&mut client).await });
        sink.send(&mut vec![frame(4, 10)], None).unwrap();
        assert!(outbox.is_empty());
        write_queued(&writer, &mut outbox).await.unwrap();
        assert_eq!(reader.await.unwrap(), frame(4, 10));
    }

    fn waiting(writer: &SharedWriter<TestSink>) -> u32 {
        writer.waiting.lock().unwrap().deliveries
    }

    #[tokio::test]
    async fn an_update_left_in_the_outbox_is_counted_once_the_connection_task_writes_it() {
        let (sink, writer, mut outbox, mut client) = connection(64, 16).await;
        let at = Some(Fanout { at: Instant::now(), updates: 2 });
        sink.send(&mut vec![frame(1, 1000)], at).unwrap();
        assert_eq!(waiting(&writer), 0, "written by the room: counted there");
        // A large frame waits while the sink holds bytes, and what follows waits behind it.
        sink.send(&mut vec![frame(2, LARGE_FRAME_BYTES + 1)], at).unwrap();
        sink.send(&mut vec![frame(3, 10)], None).unwrap();
        assert_eq!(outbox.len(), 2);
        assert_eq!(waiting(&writer), 2, "only the updates wait to be counted");

        let reader = tokio::spawn(async move {
            for _ in 0..3 {
                read(&mut client).await;
            }
        });
        write_queued(&writer, &mut outbox).await.unwrap();
        reader.await.unwrap();
        assert_eq!(waiting(&writer), 0, "counted when written");
    }

    #[tokio::test]
    async fn a_flush_the_socket_cannot_finish_is_left_to_the_connection_task() {
        let (sink, writer, mut outbox, mut client) = connection(64, 16).await;
        sink.send(&mut vec![frame(1, 1000)], None).unwrap();
        assert!(outbox.is_empty(), "the sink took the frame");
        assert!(
            writer.has_work.notified().now_or_never().is_some(),
            "but the socket did not: the task is told"
        );

        let reader = tokio::spawn(async move { read(&mut client).await });
        write_queued(&writer, &mut outbox).await.unwrap();
        assert_eq!(reader.await.unwrap(), frame(1, 1000));
    }

    #[tokio::test]
    async fn a_closing_connection_takes_no_more_large_frames() {
        let (sink, writer, outbox, _client) = connection(256 * 1024, 16).await;
        writer.large.close();
        assert_eq!(sink.send(&mut vec![frame(1, LARGE_FRAME_BYTES + 1)], None), Ok(Delivered::default()));
        assert!(outbox.is_empty());
        let mut sink = writer.sink.lock().await;
        assert!(matches!(
            feed(&mut *sink, &writer.large, frame(1, LARGE_FRAME_BYTES + 1)).await,
            Err(WsError::AlreadyClosed)
        ));
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_fills_the_outbox_and_is_refused() {
        let (sink, _writer, outbox, _client) = connection(1024, 4).await;
        // What the socket holds, then the sink's write buffer and a frame in its slot, then the outbox's
        // 4 frames: each 100-byte message takes 102 bytes on the wire.
        let most = (1024 + WRITE_BUFFER_BYTES) / 100 + 8;
        let refused = (0..most).map(|_| sink.send(&mut vec![frame(1, 100)], None)).find_map(Result::err);
        assert_eq!(refused, Some(Undelivered::Full));
        assert_eq!(outbox.len(), 4);
    }
}
