//! What a connection reads after it sent its close frame. The client may still be sending: the rest of a
//! message over the size limit, frames already in flight. Dropping the socket with those bytes unread
//! makes the kernel answer with a reset, and a client still writing fails on it (a browser reports 1006)
//! without reading the close frame that waits in its receive buffer. So once the close frame is out, the
//! transport shuts its write side (the client reads the close frame, then the end of the stream) and reads and
//! discards what the client still sends, up to [`CLOSE_DRAIN_BYTES`], until the client closes its side.
//! The connection task bounds the time ([`handoff_protocol::limits::CLOSE_DRAIN_MS`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use handoff_protocol::limits::CLOSE_DRAIN_BYTES;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read per call while discarding (on the stack, only while draining).
const DISCARD_CHUNK: usize = 8 * 1024;

/// How far one connection's drain has gone.
#[derive(Default)]
pub(super) struct Drain {
    shut: bool,
    discarded: usize,
}

impl Drain {
    /// Shuts the write side once, then discards what `io` delivers; ready when the client has closed
    /// its side, the connection failed, or [`CLOSE_DRAIN_BYTES`] were discarded.
    pub(super) fn poll<T: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.shut {
            if ready!(Pin::new(&mut *io).poll_shutdown(cx)).is_err() {
                return Poll::Ready(Ok(()));
            }
            self.shut = true;
        }
        let mut chunk = [0u8; DISCARD_CHUNK];
        while self.discarded < CLOSE_DRAIN_BYTES {
            let mut buf = ReadBuf::new(&mut chunk);
            match ready!(Pin::new(&mut *io).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => self.discarded += buf.filled().len(),
                // The end of the stream, or a reset: nothing more will come.
                Ok(()) | Err(_) => return Poll::Ready(Ok(())),
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn shuts_the_write_side_then_discards_until_the_client_closes() {
        let (mut server, mut client) = tokio::io::duplex(64 * 1024);
        let mut drain = Drain::default();
        let drained = tokio::spawn(async move {
            std::future::poll_fn(|cx| drain.poll(&mut server, cx)).await.unwrap();
            drain.discarded
        });
        // The client sees the end of the stream while it still writes, then closes its side.
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
        client.write_all(&[7u8; 100_000]).await.unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(drained.await.unwrap(), 100_000);
    }

    #[tokio::test]
    async fn stops_after_its_byte_budget() {
        let (mut server, mut client) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            let chunk = vec![1u8; 64 * 1024];
            // A client that never stops: its writes fail once the drain gave up and dropped the socket.
            while client.write_all(&chunk).await.is_ok() {}
        });
        let mut drain = Drain::default();
        std::future::poll_fn(|cx| drain.poll(&mut server, cx)).await.unwrap();
        assert!(drain.discarded >= CLOSE_DRAIN_BYTES && drain.discarded < CLOSE_DRAIN_BYTES + DISCARD_CHUNK);
        drop(server);
        writer.await.unwrap();
    }
}
