//! The accept loop over real loopback sockets, with a small router and short bounds so the tests need
//! not wait out the production ones.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Settings, serve};

/// Upper bound for waiting on the server; a failure, not a measurement.
const PATIENCE: Duration = Duration::from_secs(20);

async fn start(settings: Settings) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/echo", post(|body: String| async move { body }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, app, settings, async move {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// Reads until the server closes the connection; everything it sent before.
async fn read_to_close(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open past {PATIENCE:?}");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_body_that_never_ends_is_dropped_after_the_connection_lifetime_and_grace() {
    let mut settings = Settings::new(Duration::from_secs(600), 16);
    (settings.lifetime, settings.grace) = (Duration::from_millis(200), Duration::from_millis(200));
    let (addr, _stop, _task) = start(settings).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    // Headers whole (so the header timeout is out of the picture), then a trickle that stops.
    conn.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nten bytes.")
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut conn).await, "", "dropped unanswered");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_waits_only_for_requests_in_flight() {
    let (addr, stop, task) = start(Settings::new(Duration::from_secs(600), 16)).await;
    // An idle keep-alive connection does not hold the shutdown up.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("ok"));

    stop.send(()).unwrap();
    tokio::time::timeout(PATIENCE, task).await.expect("serve returns").unwrap();
    assert_eq!(read_to_close(&mut idle).await, "", "the idle connection was closed");
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is gone");
}

#[tokio::test]
async fn headers_over_the_limit_are_refused_with_431() {
    let (addr, _stop, _task) = start(Settings::new(Duration::from_secs(600), 16)).await;
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let filler = "a".repeat(handoff_protocol::limits::MAX_REQUEST_HEAD_BYTES);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: {filler}\r\n\r\n");
    // The server may stop reading once it has refused the head; the answer is what matters.
    let _ = conn.write_all(request.as_bytes()).await;
    let answer = read_to_close(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}
