//! The Caddy example of the deploy kit (`deploy/caddy/Caddyfile`), run by Debian's Caddy on loopback: the
//! stock y-websocket client passes the whole interop run through its WebSocket proxying, and with several
//! nodes behind it every connection of a room reaches one node whatever its token (voice runs on one
//! node per room). Fails, never skips, when Caddy is missing (`.ci/run` installs it).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::kit::{StopOnDrop, free_port, swap};
use common::{PATIENCE, TestServer, interop};

const CADDY: &str = "/usr/bin/caddy";
/// The kit's file, as named in failures.
const KIT_FILE: &str = "deploy/caddy/Caddyfile";
/// Rooms asked for in the affinity check: enough that all landing on one of three nodes by chance is
/// out of the question (3 × 3⁻²⁴).
const ROOMS: usize = 24;
/// Members (distinct tokens) per room in the affinity check.
const MEMBERS: usize = 4;

fn kit_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/caddy/Caddyfile")
}

/// Runs Caddy with `args`, its state kept in `dir`.
fn caddy(dir: &Path, args: &[&str]) -> Command {
    assert!(Path::new(CADDY).exists(), "this test needs Debian's Caddy at {CADDY} (apt-get install caddy)");
    let mut cmd = Command::new(CADDY);
    cmd.args(args).env("XDG_DATA_HOME", dir).env("XDG_CONFIG_HOME", dir).env("HOME", dir).current_dir(dir);
    cmd
}

/// The kit's file serving plain HTTP on `port` in front of `upstreams`, without the admin endpoint (so
/// runs side by side do not share one).
fn start(dir: &Path, port: u16, upstreams: &[u16]) -> StopOnDrop {
    let mut conf = std::fs::read_to_string(kit_file()).unwrap();
    swap(&mut conf, KIT_FILE, "handoff.example.com {", &format!("http://127.0.0.1:{port} {{"));
    let list: Vec<String> = upstreams.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    swap(
        &mut conf,
        KIT_FILE,
        "reverse_proxy 127.0.0.1:8080 {",
        &format!("reverse_proxy {} {{", list.join(" ")),
    );
    let path = dir.join("Caddyfile");
    std::fs::write(&path, format!("{{\n\tadmin off\n}}\n\n{conf}")).unwrap();
    let child = caddy(dir, &["run", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    StopOnDrop(child)
}

/// A stand-in node: answers every request with its name and the path it was asked for.
fn stub_node(name: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream, name));
        }
    });
    port
}

fn answer(stream: TcpStream, name: &str) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // The request's head, up to its blank line (the stub's requests have no body).
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
        }
        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}", name.len());
        if reader.get_mut().write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Waits until Caddy answers `url`, failing after PATIENCE.
async fn until_up(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + PATIENCE;
    while client.get(url).send().await.is_err() {
        assert!(Instant::now() < deadline, "Caddy did not answer on {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_kits_caddyfile_is_valid_as_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = caddy(dir.path(), &["validate", "--adapter", "caddyfile", "--config"])
        .arg(kit_file())
        .output()
        .unwrap();
    assert!(out.status.success(), "caddy validate: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_clients_collaborate_through_the_kits_caddy() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let upstream: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _caddy = start(dir.path(), port, &[upstream]);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    until_up(&client, &format!("{base}/healthz")).await;
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "the health check through Caddy");

    let files = interop::files();
    let room = server.room_with(&files).await;
    let checks = interop::run(&room, &files, &format!("ws://127.0.0.1:{port}/ws"), &[]).await;
    assert_eq!(checks, interop::CHECKS, "every interop check passed through Caddy");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_of_a_room_reaches_one_node_whatever_its_token() {
    let nodes = [stub_node("node-a"), stub_node("node-b"), stub_node("node-c")];
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _caddy = start(dir.path(), port, &nodes);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    until_up(&client, &format!("{base}/healthz")).await;

    let mut used = std::collections::BTreeSet::new();
    for room in 0..ROOMS {
        let mut reached = std::collections::BTreeSet::new();
        for member in 0..MEMBERS {
            let url = format!("{base}/ws/room_{room:02}?token=member-{member}-of-{room}");
            let node = client.get(&url).send().await.unwrap().text().await.unwrap();
            reached.insert(node);
        }
        assert_eq!(reached.len(), 1, "room {room}'s members reached {reached:?}");
        used.extend(reached);
    }
    assert_eq!(used.len(), nodes.len(), "rooms are spread over every node: {used:?}");
}
