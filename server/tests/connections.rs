//! Connections before and at the end of a WebSocket: slow and half-open connections that never finish a
//! request, connections over the per-address cap, and the close code a client reads when its message is
//! over the limit (docs/security/connections.md).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::{PATIENCE, TestServer, file};
use handoff_protocol::frame::CLOSE_TOO_BIG;
use handoff_protocol::limits::{MAX_CLIENT_FRAME_BYTES, MAX_HTTP_CONNECTIONS_PER_ADDR};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `source` (any 127.0.0.0/8 address: each is a distinct client address to the server).
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).expect("bind a loopback source address");
    socket.connect(server).await.expect("connect")
}

/// Reads until the server closes the connection (end of stream or reset); panics after [`PATIENCE`].
async fn wait_closed_by_server(conn: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: still open after {PATIENCE:?}");
}

/// `GET /healthz` on a connection of its own; the status line the server answered, or None if it closed
/// the connection without an answer.
async fn healthz_on(conn: &mut TcpStream) -> Option<String> {
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(PATIENCE, async {
        while !got.windows(2).any(|w| w == b"ok") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer and no close after {PATIENCE:?}");
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().filter(|l| !l.is_empty()).map(str::to_owned)
}

#[tokio::test]
async fn slow_and_half_open_connections_neither_stop_healthz_nor_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.header_read_timeout_ms = 500;
    let server = TestServer::start_with(config).await;
    let addr = server.running.addr;

    // 2,000 requests whose headers never end and 500 connections that never send a byte, from ten client
    // addresses, each under the per-address cap.
    const PER_SOURCE: usize = 250;
    const { assert!(PER_SOURCE <= MAX_HTTP_CONNECTIONS_PER_ADDR) };
    let mut flood = Vec::new();
    for source in 2..12u8 {
        for _ in 0..PER_SOURCE {
            let mut conn = connect_from(Ipv4Addr::new(127, 0, 0, source), addr).await;
            if source < 10 {
                conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ").await.unwrap();
            }
            flood.push(conn);
        }
    }

    let health = server.http.get(server.url("/healthz")).timeout(PATIENCE).send().await;
    let health = health.expect("/healthz answers during the flood");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    for (i, conn) in flood.iter_mut().enumerate() {
        wait_closed_by_server(conn, &format!("flood connection {i}")).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_per_address_cap_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    // Long enough that only the cap can close these connections while the test runs.
    config.header_read_timeout_ms = 10 * 60 * 1000;
    let server = TestServer::start_with(config).await;
    let addr = server.running.addr;
    let attacker = Ipv4Addr::new(127, 0, 0, 2);

    const OVER: usize = 20;
    let mut held = Vec::new();
    for _ in 0..MAX_HTTP_CONNECTIONS_PER_ADDR + OVER {
        held.push(connect_from(attacker, addr).await);
    }
    // The connections are accepted in the order they were made: the first ones fill the cap and stay
    // served, the rest were closed without an answer.
    let mut answered = 0;
    for conn in &mut held {
        if let Some(status) = healthz_on(conn).await {
            assert!(status.starts_with("HTTP/1.1 200"), "{status}");
            answered += 1;
        }
    }
    assert_eq!(answered, MAX_HTTP_CONNECTIONS_PER_ADDR, "served connections from one address");

    // Another address is served meanwhile.
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 3), addr).await;
    assert!(healthz_on(&mut other).await.is_some_and(|s| s.starts_with("HTTP/1.1 200")));

    // Once the attacker lets go, its address is served again.
    drop(held);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut again = connect_from(attacker, addr).await;
        if healthz_on(&mut again).await.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the address stays refused after its connections closed"
        );
        tokio::task::yield_now().await;
    }
    server.stop().await;
}

/// A WebSocket handshake by hand, so the test controls every byte the client sends afterwards.
async fn raw_websocket(server: &TestServer, room: &str, token: &str) -> TcpStream {
    let mut conn = TcpStream::connect(server.running.addr).await.unwrap();
    let request = format!(
        "GET /ws/{room}?token={token} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(conn.read(&mut byte).await.unwrap(), 1, "handshake answer cut short");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    conn
}

/// A masked client frame header (mask key zero, so the payload goes as is).
fn client_frame_header(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&(len as u64).to_be_bytes());
    }
    h.extend_from_slice(&[0, 0, 0, 0]);
    h
}

/// Reads server frames until a close frame: its code and reason, or `1006` (abnormal closure, as a
/// browser reports it) when the connection ends or is reset before one arrives.
async fn read_close(read: &mut tokio::net::tcp::OwnedReadHalf) -> (u16, String) {
    async fn exact(read: &mut tokio::net::tcp::OwnedReadHalf, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; n];
        read.read_exact(&mut buf).await.ok()?;
        Some(buf)
    }
    let frames = async {
        loop {
            let head = exact(read, 2).await?;
            let len = match head[1] & 0x7f {
                126 => u16::from_be_bytes(exact(read, 2).await?.try_into().ok()?) as usize,
                127 => u64::from_be_bytes(exact(read, 8).await?.try_into().ok()?) as usize,
                n => n as usize,
            };
            let payload = exact(read, len).await?;
            if head[0] & 0x0f == 0x8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return Some((code, String::from_utf8_lossy(&payload[2..]).into_owned()));
            }
        }
    };
    let closed = tokio::time::timeout(PATIENCE, frames).await.expect("the server ends the connection");
    closed.unwrap_or((1006, "connection ended without a close frame".into()))
}

/// Sends one message of `total` bytes in fragments of `fragment` bytes, whole, before reading anything;
/// returns the close code and reason the client then reads. A connection reset while the client is still
/// sending counts as 1006, as a browser reports it: it fails the WebSocket on the write error and never
/// reads the close frame waiting in its receive buffer.
async fn oversized_message(
    server: &TestServer,
    url: (&str, &str),
    total: usize,
    fragment: usize,
) -> (u16, String) {
    let conn = raw_websocket(server, url.0, url.1).await;
    let (mut read, mut write) = conn.into_split();
    let payload = vec![0u8; fragment];
    let mut sent = 0;
    while sent < total {
        let n = fragment.min(total - sent);
        let opcode = if sent == 0 { 0x2 } else { 0x0 };
        let mut bytes = client_frame_header(sent + n == total, opcode, n);
        bytes.extend_from_slice(&payload[..n]);
        if let Err(e) = write.write_all(&bytes).await {
            return (1006, format!("reset while sending, {sent} of {total} bytes written: {e}"));
        }
        sent += n;
    }
    read_close(&mut read).await
}

#[tokio::test]
async fn an_oversized_message_always_ends_in_1009_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "x\n")]).await;
    let url = (room.room.id.as_str(), room.tokens.candidate.as_str());
    const TOTAL: usize = 5 * 1024 * 1024;
    const TRIES: usize = 10;
    const { assert!(TOTAL > MAX_CLIENT_FRAME_BYTES) };

    for (what, fragment) in
        [("one frame", TOTAL), ("1 MiB fragments", 1024 * 1024), ("64 KiB fragments", 64 * 1024)]
    {
        for attempt in 0..TRIES {
            let (code, reason) = oversized_message(&server, url, TOTAL, fragment).await;
            assert_eq!(code, CLOSE_TOO_BIG, "{what}, attempt {attempt}: {reason}");
            assert!(reason.contains(&MAX_CLIENT_FRAME_BYTES.to_string()), "{what}: {reason}");
        }
    }
    server.stop().await;
}
