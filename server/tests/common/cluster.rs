//! Cluster set-up shared by the cluster tests: nodes on one PostgreSQL database and one test-owned
//! Redis, the room's URLs on each node, a TCP proxy a test can cut (between nodes and Redis or
//! PostgreSQL), nodes as real processes, and the checks every cluster test ends with (the clients
//! converge; the stored log is gap-free and rebuilds to the live text).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use handoff_protocol::api::PromoteResponse;
use handoff_server::config::Config;
use yrs::{Doc, GetString, Map, ReadTxn, Transact, Update, updates::decoder::Decode};

use super::postgres::{Database, connect};
use super::redis::RedisServer;
use super::{PATIENCE, TestServer, YClient};

pub const NODES: usize = 3;

pub struct Cluster {
    pub nodes: Vec<TestServer>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    /// Starts one node per Redis URL, on the store at `store`, each configured further by `tweak`.
    pub async fn start_each(store: &str, redis_urls: &[String], tweak: impl Fn(&mut Config)) -> Cluster {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for redis_url in redis_urls {
            let dir = tempfile::tempdir().unwrap();
            let mut config = super::config(dir.path());
            config.store = Some(store.to_owned());
            config.redis_url = Some(redis_url.clone());
            config.voice = false;
            tweak(&mut config);
            nodes.push(TestServer::start_with(config).await);
            dirs.push(dir);
        }
        Cluster { nodes, _dirs: dirs }
    }

    /// The room's WebSocket URL on node `node` for `token` (the promote answer names node 0).
    pub fn url_on(&self, room: &PromoteResponse, node: usize, token: &str) -> String {
        let base = ws_base(room, &self.nodes[0], &self.nodes[node]);
        format!("{base}/{}?token={token}", room.room.id)
    }

    pub async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}

/// [`NODES`] nodes on `db` and `redis`.
pub async fn start_cluster(db: &Database, redis: &RedisServer) -> Cluster {
    Cluster::start_each(&db.url, &vec![redis.url(); NODES], |_| {}).await
}

/// The room's WebSocket base URL on `node` (the promote answer names the node that promoted).
pub fn ws_base(room: &PromoteResponse, promoted_on: &TestServer, node: &TestServer) -> String {
    let http_to_ws = |base: &str| base.replacen("http", "ws", 1);
    room.ws_url.replacen(&http_to_ws(&promoted_on.base), &http_to_ws(&node.base), 1)
}

/// The room's WebSocket URL on `cluster`'s node `node` for the candidate (promoted on node 0).
pub fn candidate_url(room: &PromoteResponse, cluster: &Cluster, node: usize) -> String {
    cluster.url_on(room, node, &room.tokens.candidate)
}

/// The room's WebSocket URL on `node` (which promoted it) for the candidate.
pub fn candidate_url_on(room: &PromoteResponse, node: &TestServer) -> String {
    let base = ws_base(room, node, node);
    format!("{base}/{}?token={}", room.room.id, room.tokens.candidate)
}

/// The room's log as PostgreSQL holds it: `(seq, update)` in seq order.
pub async fn stored_log(db: &Database, room: &str) -> Vec<(i64, Vec<u8>)> {
    let client = connect(&db.url).await;
    let rows = client
        .query("SELECT seq, update_v1 FROM room_log WHERE room_id = $1 ORDER BY seq", &[&room])
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The text of `path` in a document rebuilt from the stored log alone.
pub fn rebuilt_text(log: &[(i64, Vec<u8>)], path: &str) -> String {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        for (seq, update) in log {
            let update = Update::decode_v1(update).unwrap_or_else(|e| panic!("entry {seq} decodes: {e}"));
            txn.apply_update(update).unwrap();
        }
    }
    let files = doc.get_or_insert_map("files");
    let txn = doc.transact();
    match files.get(&txn, path) {
        Some(yrs::Out::YText(text)) => text.get_string(&txn),
        other => panic!("{path} is not a text in the rebuilt document: {other:?}"),
    }
}

/// Waits until every client's `path` holds each of `parts` and all are equal; returns the text.
pub async fn converge(clients: &mut [YClient], path: &str, parts: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        for c in clients.iter_mut() {
            c.step(Duration::from_millis(20)).await;
        }
        let texts: Vec<String> = clients.iter().map(|c| c.text(path).unwrap_or_default()).collect();
        if texts.iter().all(|t| *t == texts[0]) && parts.iter().all(|p| texts[0].contains(p)) {
            return texts[0].clone();
        }
        if tokio::time::Instant::now() >= deadline {
            let missing: Vec<Vec<&str>> =
                texts.iter().map(|t| parts.iter().copied().filter(|p| !t.contains(p)).collect()).collect();
            let lengths: Vec<usize> = texts.iter().map(String::len).collect();
            panic!("the clients did not converge (lengths {lengths:?}; each lacks {missing:?})");
        }
    }
}

/// Commits the log through an export on `node` and checks it: gap-free from 1 (so no seq twice),
/// rebuilding to `text`.
pub async fn assert_log_whole(db: &Database, node: &TestServer, room: &str, path: &str, text: &str) {
    let (status, body) = node.call(reqwest::Method::GET, &format!("/api/v1/rooms/{room}/export"), None).await;
    assert_eq!(status, 200, "{body}");
    let log = stored_log(db, room).await;
    let seqs: Vec<i64> = log.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "the stored log is gap-free from 1");
    assert_eq!(rebuilt_text(&log, path), text, "a rebuild from PostgreSQL equals the live document");
}

/// A client that lost its connection comes back through `url` and, as a provider's resync does,
/// sends what `old` holds beyond the node's state (sync step 2). Between the node's state and the
/// update's arrival the node may learn part of that from the bus (the rest of the dead node's stream);
/// the update then repeats structs the node holds up to a clock in their middle, the node refuses it
/// (1007, docs/ARCHITECTURE.md) and, like a provider, the client reconnects and sends again from the
/// node's new state. A sync step 1 after the update tells which: the node answers it in order, or has
/// closed the connection.
pub async fn come_back(url: &str, old: &YClient) -> YClient {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut back = YClient::synced(url).await;
        let theirs = back.doc().transact().state_vector();
        let missing = old.doc().transact().encode_diff_v1(&theirs);
        back.doc().transact_mut().apply_update(Update::decode_v1(&missing).unwrap()).unwrap();
        back.send_raw(handoff_protocol::frame::encode_update(&missing)).await;
        back.synced = false;
        back.send_raw(handoff_protocol::frame::encode_sync_step1(&theirs)).await;
        while !back.synced && back.closed.is_none() {
            assert!(tokio::time::Instant::now() < deadline, "the node answers the comeback");
            back.step(Duration::from_millis(50)).await;
        }
        let Some((code, reason)) = back.closed.clone() else { return back };
        assert_eq!(code, 1007, "only a straddling repeat is refused: {reason}");
        assert!(reason.contains("straddles"), "{reason}");
    }
}

/// A TCP proxy to a loopback port that the test can cut: while cut, it drops every connection and
/// refuses new ones (nodes cut off from Redis or PostgreSQL, their clients still connected).
pub struct Proxy {
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(to: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                let mut cut_now = watch.clone();
                if *cut_now.borrow() {
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_now.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Proxy { port, cut }
    }

    /// The proxy as a Redis URL.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// A node as a real `handoff` process (so it can be killed with SIGKILL, and has a `/metrics` of its
/// own), with `extra` arguments; returns it and its base URL.
pub fn spawn_node(
    dir: &Path,
    db: &Database,
    redis: &RedisServer,
    extra: &[&str],
) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn", "--voice", "false"])
        .args(["--api-key", "test-api-key-0123456789", "--token-secret", super::TOKEN_SECRET])
        .args(["--store", &db.url, "--redis-url", &redis.url()])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("handoff binary starts");
    let base = super::binary::listening_url(&mut child);
    (child, base)
}

/// Runs `redis-cli` against the test's Redis.
pub fn redis_cli(redis: &RedisServer, args: &[&str]) {
    let status = Command::new("redis-cli").arg("-p").arg(redis.port.to_string()).args(args).output().unwrap();
    assert!(status.status.success(), "redis-cli {args:?}");
}
