//! The accept loop out of file descriptors. A test binary of its own: it lowers this process's
//! descriptor limit, which every test sharing the process would feel.

mod common;

use std::fs::File;
use std::time::Duration;

use common::{PATIENCE, TestServer};
use handoff_server::test_support::METRICS;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// Clients that connect while no descriptor is left for the server to accept them with.
const CLIENTS: usize = 20;

/// Highest descriptor number open in this process.
fn highest_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd lists this process's descriptors")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .expect("some descriptors are open")
}

#[tokio::test]
async fn out_of_descriptors_accepts_pause_and_the_server_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.running.addr;
    // The clients' sockets exist before the limit drops: connecting them takes no new descriptor here,
    // accepting them does.
    let sockets: Vec<TcpSocket> = (0..CLIENTS).map(|_| TcpSocket::new_v4().unwrap()).collect();
    let errors_before = METRICS.accept_errors.get();

    let original = getrlimit(Resource::Nofile);
    let limit = highest_fd() + 1;
    setrlimit(Resource::Nofile, Rlimit { current: Some(limit), maximum: original.maximum }).unwrap();
    // Fill every free number below the limit, so no descriptor is left at all.
    let mut fillers = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        fillers.push(f);
    }
    let mut clients = Vec::new();
    for socket in sockets {
        clients.push(socket.connect(addr).await.expect("the kernel completes the handshake"));
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while METRICS.accept_errors.get() == errors_before {
        assert!(tokio::time::Instant::now() < deadline, "no accept failed out of descriptors");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    drop(fillers);
    setrlimit(Resource::Nofile, original).unwrap();
    // Every client waited in the backlog and is served once descriptors are back.
    for (i, client) in clients.iter_mut().enumerate() {
        client.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        let read = tokio::time::timeout(PATIENCE, client.read_to_string(&mut answer)).await;
        read.expect("answered").unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "client {i}: {answer}");
    }
    let health = server.http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;
}
