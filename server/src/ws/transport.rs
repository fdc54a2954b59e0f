//! The byte stream under a connection's tungstenite, with a queue of large frames that bypass it.
//!
//! tungstenite copies each frame it sends into its write buffer, and that buffer keeps the size of the
//! largest frame it ever held for as long as the connection lives. A large message (a room's first sync of
//! a 200 KiB submission, a paste) therefore does not go through it: its frame header and the room's shared
//! bytes wait in [`LargeFrames`] and are written from there with vectored writes, without a copy, as one
//! frame. Sent through tungstenite as 16 KiB fragments instead, each would cost a write per fragment, a
//! copy of every byte for every member, and a reassembly on every client (docs/PERFORMANCE.md).
//!
//! Order: the transport writes whatever large frames wait before any byte tungstenite hands it, and a
//! message may bypass tungstenite only while tungstenite's own buffer is empty (after a completed flush),
//! so bytes reach the socket in the order their messages were sent.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::drain::Drain;

/// Most buffers one vectored write hands the kernel: a few messages' headers and payloads.
const WRITE_SLICES: usize = 8;
/// Longest header of an unmasked frame (RFC 6455 §5.2: 2 bytes and a 64-bit length).
const MAX_HEADER_BYTES: usize = 10;

/// Whole binary frames waiting to be written ahead of tungstenite's next bytes.
#[derive(Default)]
pub(super) struct LargeFrames {
    queue: Mutex<Queue>,
    /// The close frame is out: a flush of the transport now drains what the client still sends (`drain`).
    draining: AtomicBool,
}

#[derive(Default)]
struct Queue {
    /// Headers and payloads, in order; the front one may be partly written.
    parts: VecDeque<Bytes>,
    /// The connection is closing: its close frame must be the last frame, so nothing more is taken.
    closed: bool,
}

impl LargeFrames {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Nothing panics while holding it; a poisoned queue is still a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message` as one final binary frame. The caller holds the sink and has flushed it, so
    /// tungstenite holds no earlier bytes. False if the connection is closing.
    pub(super) fn push(&self, message: Bytes) -> bool {
        let mut queue = self.queue();
        if queue.closed {
            return false;
        }
        let header = FrameHeader { opcode: OpCode::Data(Data::Binary), ..FrameHeader::default() };
        let mut head = Vec::with_capacity(MAX_HEADER_BYTES);
        header.format(message.len() as u64, &mut head).expect("formatting into a Vec cannot fail");
        queue.parts.push_back(Bytes::from(head));
        queue.parts.push_back(message);
        true
    }

    /// Takes no more messages: the connection is about to send its close frame.
    pub(super) fn close(&self) {
        self.queue().closed = true;
    }

    /// From now on, flushing the transport shuts its write side and reads and discards what the client still
    /// sends, until it closes its side (see `drain`). Set once the close frame has been flushed.
    pub(super) fn drain_reads(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Writes the waiting frames into `io`; ready once none is left.
    fn drain<T: AsyncWrite + Unpin>(&self, io: &mut T, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut queue = self.queue();
        while !queue.parts.is_empty() {
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
            let count = queue.parts.len().min(WRITE_SLICES);
            for (slice, part) in slices.iter_mut().zip(&queue.parts) {
                *slice = IoSlice::new(part);
            }
            let mut written = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            while written > 0 {
                let front = queue.parts.front_mut().expect("written bytes came from a part");
                if written < front.len() {
                    front.advance(written);
                    break;
                }
                written -= front.len();
                queue.parts.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// A connection's stream with its [`LargeFrames`]: reads pass through; every write, flush and shutdown
/// first writes the large frames waiting; once draining, a flush also drains the client's side (see
/// `drain`).
pub(crate) struct Transport<T> {
    io: T,
    large: Arc<LargeFrames>,
    drain: Drain,
}

impl<T> Transport<T> {
    pub(super) fn new(io: T) -> Transport<T> {
        Transport { io, large: Arc::default(), drain: Drain::default() }
    }

    /// The large-frame queue, for the connection's writers to share.
    pub(super) fn large_frames(&self) -> Arc<LargeFrames> {
        self.large.clone()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Transport<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Transport<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let Transport { io, large, .. } = &mut *self;
        ready!(large.drain(io, cx))?;
        Pin::new(io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Transport { io, large, .. } = &mut *self;
        ready!(large.drain(io, cx))?;
        Pin::new(io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Transport { io, large, drain } = &mut *self;
        ready!(large.drain(io, cx))?;
        ready!(Pin::new(&mut *io).poll_flush(cx))?;
        if large.draining.load(Ordering::Relaxed) {
            return drain.poll(io, cx);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Transport { io, large, .. } = &mut *self;
        ready!(large.drain(io, cx))?;
        Pin::new(io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::DuplexStream;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;

    async fn pair(
        socket_bytes: usize,
    ) -> (WebSocketStream<Transport<DuplexStream>>, Arc<LargeFrames>, WebSocketStream<DuplexStream>) {
        let (server, client) = tokio::io::duplex(socket_bytes);
        let server = WebSocketStream::from_raw_socket(Transport::new(server), Role::Server, None).await;
        let large = server.get_ref().large_frames();
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        (server, large, client)
    }

    async fn next(client: &mut WebSocketStream<DuplexStream>) -> Message {
        client.next().await.expect("a message").expect("a valid frame")
    }

    #[tokio::test]
    async fn large_frames_arrive_whole_and_in_order_with_tungstenites() {
        let (mut server, large, mut client) = pair(1 << 20).await;
        // Every frame length form: 7-bit, 16-bit and 64-bit.
        let messages: Vec<Bytes> = [100, 70_000, 200 * 1024]
            .into_iter()
            .map(|n| Bytes::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>()))
            .collect();
        server.send(Message::binary(&b"before"[..])).await.unwrap();
        for m in &messages {
            assert!(large.push(m.clone()));
        }
        server.send(Message::binary(&b"after"[..])).await.unwrap();

        assert_eq!(next(&mut client).await, Message::binary(&b"before"[..]));
        for m in &messages {
            assert_eq!(next(&mut client).await, Message::Binary(m.clone()), "one whole frame");
        }
        assert_eq!(next(&mut client).await, Message::binary(&b"after"[..]));
    }

    #[tokio::test]
    async fn a_large_frame_the_socket_takes_bit_by_bit_keeps_later_frames_behind_it() {
        // 64 bytes of socket: the large frame is written over many partial writes while the client reads.
        let (mut server, large, mut client) = pair(64).await;
        let message = Bytes::from((0..50_000u32).map(|i| (i % 241) as u8).collect::<Vec<u8>>());
        assert!(large.push(message.clone()));
        let reader = tokio::spawn(async move { (next(&mut client).await, next(&mut client).await) });
        server.send(Message::binary(&b"after"[..])).await.unwrap();
        let (first, second) = reader.await.unwrap();
        assert_eq!(first, Message::Binary(message));
        assert_eq!(second, Message::binary(&b"after"[..]));
    }

    #[tokio::test]
    async fn a_closing_connection_bypasses_nothing_more() {
        let (_server, large, _client) = pair(1024).await;
        large.close();
        assert!(!large.push(Bytes::from_static(b"late")));
        assert!(large.queue().parts.is_empty());
    }
}
