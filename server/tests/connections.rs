//! Connections before and at the end of a WebSocket: slow and half-open connections that never finish a
//! request, connections over the per-address cap, and the close code a client reads when its message is
//! over the limit (docs/security/connections.md).

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::{PATIENCE, TestServer};
use handoff_protocol::limits::MAX_HTTP_CONNECTIONS_PER_ADDR;
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
