//! Cluster mode: three nodes on one PostgreSQL database and one test-owned Redis, with clients of one
//! room spread over them. Needs `redis-server` on PATH, PostgreSQL (common/postgres.rs) and Node with
//! the interop packages (stock y-websocket); each is a failure when missing, never a skip.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::postgres::{Database, connect};
use common::redis::RedisServer;
use common::{PATIENCE, TestServer, YClient, file};
use handoff_protocol::api::PromoteResponse;
use serde_json::{Value, json};
use yrs::{Doc, GetString, Map, ReadTxn, Transact, Update, updates::decoder::Decode};

const NODES: usize = 3;
const EDITS_PER_CLIENT: usize = 40;

struct Cluster {
    nodes: Vec<TestServer>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn start_cluster(db: &Database, redis: &RedisServer) -> Cluster {
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..NODES {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::config(dir.path());
        config.store = Some(db.url.clone());
        config.redis_url = Some(redis.url());
        config.voice = false;
        nodes.push(TestServer::start_with(config).await);
        dirs.push(dir);
    }
    Cluster { nodes, _dirs: dirs }
}

/// The room's WebSocket base URL on `node` (the promote answer names the node that promoted).
fn ws_base(room: &PromoteResponse, promoted_on: &TestServer, node: &TestServer) -> String {
    let http_to_ws = |base: &str| base.replacen("http", "ws", 1);
    room.ws_url.replacen(&http_to_ws(&promoted_on.base), &http_to_ws(&node.base), 1)
}

/// Runs `interop/cluster.mjs`: one stock y-websocket client per URL, all typing at once; returns the
/// text every client ended with.
async fn stock_clients_type(room: &PromoteResponse, ws_urls: Vec<String>, path: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let d = dir.clone();
    tokio::task::spawn_blocking(move || {
        common::ensure_node_modules(&d, "y-websocket/package.json", "the cluster test")
    })
    .await
    .unwrap();
    let config = json!({
        "ws_urls": ws_urls,
        "room": room.room.id,
        "token": room.tokens.candidate,
        "file": path,
        "edits": EDITS_PER_CLIENT,
    });
    let scratch = tempfile::tempdir().unwrap();
    let config_path = scratch.path().join("cluster.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("cluster.mjs")
            .arg(&config_path)
            .current_dir(&dir)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("cluster.mjs printed no result\nstdout: {stdout}\nstderr: {stderr}"));
    assert_eq!(result["ok"], true, "the clients did not converge: {result}\nstderr: {stderr}");
    result["text"].as_str().unwrap().to_owned()
}

/// The room's log as PostgreSQL holds it: `(seq, update)` in seq order.
async fn stored_log(db: &Database, room: &str) -> Vec<(i64, Vec<u8>)> {
    let client = connect(&db.url).await;
    let rows = client
        .query("SELECT seq, update_v1 FROM room_log WHERE room_id = $1 ORDER BY seq", &[&room])
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The text of `path` in a document rebuilt from the stored log alone.
fn rebuilt_text(log: &[(i64, Vec<u8>)], path: &str) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_clients_on_three_nodes_converge_and_the_log_is_whole() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let path = "main.py";
    let room = cluster.nodes[0].room_with(&[file(path, "def add(a, b):\n    return a + b\n")]).await;
    let urls: Vec<String> = cluster.nodes.iter().map(|n| ws_base(&room, &cluster.nodes[0], n)).collect();
    let text = stock_clients_type(&room, urls, path).await;

    // An export on another node than the promoting one commits the log first, whoever holds the lease.
    let (status, _) = cluster.nodes[2]
        .call(reqwest::Method::GET, &format!("/api/v1/rooms/{}/export", room.room.id), None)
        .await;
    assert_eq!(status, 200);
    let log = stored_log(&db, &room.room.id).await;
    let seqs: Vec<i64> = log.iter().map(|(s, _)| *s).collect();
    let expected: Vec<i64> = (1..=log.len() as i64).collect();
    assert_eq!(seqs, expected, "the stored log is gap-free from 1");
    assert!(log.len() > NODES * EDITS_PER_CLIENT / 2, "the edits are in the log ({} entries)", log.len());
    assert_eq!(rebuilt_text(&log, path), text, "a rebuild from PostgreSQL equals the live document");
    for node in cluster.nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_on_one_node_closes_clients_on_every_node_and_counts_span_nodes() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let room = cluster.nodes[0].room_with(&[file("a.py", "x = 1\n")]).await;
    let mut clients = Vec::new();
    for node in &cluster.nodes[1..] {
        let url = format!(
            "{}/{}?token={}",
            ws_base(&room, &cluster.nodes[0], node),
            room.room.id,
            room.tokens.candidate
        );
        clients.push(YClient::synced(&url).await);
    }
    // Node 0 holds no client of the room, yet counts the two on the other nodes.
    cluster.nodes[0].wait_connected(&room.room.id, 2).await;

    // An edit on node 1 reaches the client on node 2.
    clients[0].insert("a.py", Some(0), "# from node 1\n").await;
    clients[1]
        .wait_for("the edit from node 1", |c| c.text("a.py").is_some_and(|t| t.starts_with("# from node 1")))
        .await;

    let (status, body) = cluster.nodes[0]
        .call(reqwest::Method::POST, &format!("/api/v1/rooms/{}/end", room.room.id), None)
        .await;
    assert_eq!(status, 200, "{body}");
    for client in &mut clients {
        let (code, _) = client.wait_closed().await;
        assert_eq!(code, 4403, "a client on another node is closed as ended");
    }
    // Revoked everywhere: the store is shared.
    let url = format!(
        "{}/{}?token={}",
        ws_base(&room, &cluster.nodes[0], &cluster.nodes[2]),
        room.room.id,
        room.tokens.candidate
    );
    assert!(YClient::try_connect(&url).await.is_err(), "an ended room refuses the candidate on every node");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cluster.nodes[0].connected(&room.room.id).await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the count across nodes drops to 0");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in cluster.nodes {
        node.stop().await;
    }
}

/// The room's WebSocket URL on `node` for the candidate.
fn candidate_url(room: &PromoteResponse, cluster: &Cluster, node: usize) -> String {
    let base = ws_base(room, &cluster.nodes[0], &cluster.nodes[node]);
    format!("{base}/{}?token={}", room.room.id, room.tokens.candidate)
}

/// Waits until every client's `path` holds each of `parts` and all are equal; returns the text.
async fn converge(clients: &mut [YClient], path: &str, parts: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        for c in clients.iter_mut() {
            c.step(Duration::from_millis(20)).await;
        }
        let texts: Vec<String> = clients.iter().map(|c| c.text(path).unwrap_or_default()).collect();
        if texts.iter().all(|t| *t == texts[0]) && parts.iter().all(|p| texts[0].contains(p)) {
            return texts[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the clients did not converge: {texts:?}");
    }
}

/// Commits the log through an export on `node` and checks it: gap-free from 1, rebuilding to `text`.
async fn assert_log_whole(db: &Database, node: &TestServer, room: &str, path: &str, text: &str) {
    let (status, _) = node.call(reqwest::Method::GET, &format!("/api/v1/rooms/{room}/export"), None).await;
    assert_eq!(status, 200);
    let log = stored_log(db, room).await;
    let seqs: Vec<i64> = log.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "the stored log is gap-free from 1");
    assert_eq!(rebuilt_text(&log, path), text, "a rebuild from PostgreSQL equals the live document");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_and_doubles_nothing() {
    let db = Database::create().await;
    let mut redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let path = "a.py";
    let room = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let mut clients = vec![
        YClient::synced(&candidate_url(&room, &cluster, 1)).await,
        YClient::synced(&candidate_url(&room, &cluster, 2)).await,
    ];
    clients[0].insert(path, Some(0), "# before\n").await;
    converge(&mut clients, path, &["# before"]).await;

    tokio::task::block_in_place(|| redis.stop());
    // Both nodes keep serving their own clients while Redis is down; what they publish waits.
    clients[0].insert(path, Some(0), "# during, node 1\n").await;
    clients[1].insert(path, None, "# during, node 2\n").await;
    for c in clients.iter_mut() {
        c.step(Duration::from_millis(300)).await;
    }
    tokio::task::block_in_place(|| redis.start_again());
    clients[1].insert(path, None, "# after\n").await;
    let text =
        converge(&mut clients, path, &["# before", "# during, node 1", "# during, node 2", "# after"]).await;
    assert_log_whole(&db, &cluster.nodes[0], &room.room.id, path, &text).await;
    for node in cluster.nodes {
        node.stop().await;
    }
}

/// A TCP proxy to Redis that the test can cut: while cut, it drops every connection and refuses new
/// ones (a node cut off from Redis, its clients still connected).
struct Proxy {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(to: u16) -> Proxy {
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

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_converges_once_back() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.port).await;
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for redis_url in [redis.url(), format!("redis://127.0.0.1:{}", proxy.port)] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::config(dir.path());
        config.store = Some(db.url.clone());
        config.redis_url = Some(redis_url);
        config.voice = false;
        nodes.push(TestServer::start_with(config).await);
        dirs.push(dir);
    }
    let cluster = Cluster { nodes, _dirs: dirs };
    let path = "a.py";
    let room = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let mut clients = vec![
        YClient::synced(&candidate_url(&room, &cluster, 0)).await,
        YClient::synced(&candidate_url(&room, &cluster, 1)).await,
    ];
    clients[0].insert(path, Some(0), "# before\n").await;
    converge(&mut clients, path, &["# before"]).await;

    proxy.set_cut(true);
    for round in 0..5 {
        clients[0].insert(path, Some(0), &format!("# connected node {round}\n")).await;
        clients[1].insert(path, None, &format!("# cut-off node {round}\n")).await;
        for c in clients.iter_mut() {
            c.step(Duration::from_millis(100)).await;
        }
    }
    proxy.set_cut(false);
    let parts: Vec<String> =
        (0..5).flat_map(|r| [format!("# connected node {r}"), format!("# cut-off node {r}")]).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let text = converge(&mut clients, path, &parts).await;
    assert_log_whole(&db, &cluster.nodes[0], &room.room.id, path, &text).await;
    for node in cluster.nodes {
        node.stop().await;
    }
}

/// A node as a real `handoff` process, so it can be killed with SIGKILL; returns it and its base URL.
fn spawn_node(dir: &Path, db: &Database, redis: &RedisServer) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn", "--voice", "false"])
        .args(["--api-key", "test-api-key-0123456789", "--token-secret", common::TOKEN_SECRET])
        .args(["--store", &db.url, "--redis-url", &redis.url(), "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("handoff binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map(|l| l.expect("stdout is readable"))
        .find(|l| l.starts_with("handoff is listening on"))
        .expect("a startup line");
    let base = first.rsplit(' ').next().unwrap().to_owned();
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_its_client_types_loses_nothing_that_reached_redis() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut doomed, doomed_base) = spawn_node(dir.path(), &db, &redis);
    let survivor_dir = tempfile::tempdir().unwrap();
    let mut config = common::config(survivor_dir.path());
    config.store = Some(db.url.clone());
    config.redis_url = Some(redis.url());
    config.voice = false;
    let survivor = TestServer::start_with(config).await;
    let path = "a.py";
    let room = survivor.room_with(&[file(path, "x = 1\n")]).await;
    let http_to_ws = |base: &str| base.replacen("http", "ws", 1);
    let doomed_url = format!(
        "{}/{}?token={}",
        room.ws_url.replacen(&http_to_ws(&survivor.base), &http_to_ws(&doomed_base), 1),
        room.room.id,
        room.tokens.candidate
    );
    // The doomed node loads the room first, so it is the first to take the commit lease.
    let mut typist = YClient::synced(&doomed_url).await;
    let mut watcher = YClient::synced(&candidate_url_on(&room, &survivor)).await;
    for k in 0..20 {
        typist.insert(path, None, &format!("<{k}>")).await;
    }
    watcher.wait_for("the typist's edits", |c| c.text(path).is_some_and(|t| t.contains("<19>"))).await;
    // Still typing when it dies.
    for k in 20..40 {
        typist.insert(path, None, &format!("<{k}>")).await;
    }
    doomed.kill().unwrap();
    doomed.wait().unwrap();

    // The typist comes back through the surviving node and, as a provider's resync does, sends what it
    // holds beyond the node's state.
    let mut back = YClient::synced(&candidate_url_on(&room, &survivor)).await;
    let theirs = back.doc().transact().state_vector();
    let missing = typist.doc().transact().encode_diff_v1(&theirs);
    back.doc().transact_mut().apply_update(Update::decode_v1(&missing).unwrap()).unwrap();
    back.send_raw(handoff_protocol::frame::encode_update(&missing)).await;
    let parts: Vec<String> = (0..40).map(|k| format!("<{k}>")).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let mut clients = vec![back, watcher];
    let text = converge(&mut clients, path, &parts).await;

    // The survivor takes over the lease and commits without being asked.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let log = stored_log(&db, &room.room.id).await;
        if rebuilt_text(&log, path) == text {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the survivor commits every edit");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_log_whole(&db, &survivor, &room.room.id, path, &text).await;
    survivor.stop().await;
}

fn candidate_url_on(room: &PromoteResponse, node: &TestServer) -> String {
    let base = ws_base(room, node, node);
    format!("{base}/{}?token={}", room.room.id, room.tokens.candidate)
}

/// Runs `redis-cli` against the test's Redis.
fn redis_cli(redis: &RedisServer, args: &[&str]) {
    let status = Command::new("redis-cli").arg("-p").arg(redis.port.to_string()).args(args).output().unwrap();
    assert!(status.status.success(), "redis-cli {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_stream_or_an_unknown_entry_never_stalls_other_rooms() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let path = "a.py";
    let broken = cluster.nodes[0].room_with(&[file(path, "broken = 1\n")]).await;
    let healthy = cluster.nodes[0].room_with(&[file(path, "healthy = 1\n")]).await;
    let mut broken_clients = vec![
        YClient::synced(&candidate_url(&broken, &cluster, 1)).await,
        YClient::synced(&candidate_url(&broken, &cluster, 2)).await,
    ];
    let mut clients = vec![
        YClient::synced(&candidate_url(&healthy, &cluster, 1)).await,
        YClient::synced(&candidate_url(&healthy, &cluster, 2)).await,
    ];
    broken_clients[0].insert(path, Some(0), "# first\n").await;
    converge(&mut broken_clients, path, &["# first"]).await;
    clients[0].insert(path, Some(0), "# first\n").await;
    converge(&mut clients, path, &["# first"]).await;

    // One room's stream becomes a key of another type: every multi-stream read holding it fails
    // (yhub issue 61). And the other room's stream gets an entry of a version no node knows.
    let key = format!("handoff:{{{}}}:log", broken.room.id);
    redis_cli(&redis, &["DEL", &key]);
    redis_cli(&redis, &["SET", &key, "not a stream"]);
    let other = format!("handoff:{{{}}}:log", healthy.room.id);
    let seq = format!("handoff:{{{}}}:seq", healthy.room.id);
    let future =
        "return redis.call('XADD', KEYS[1], redis.call('GET', KEYS[2]) .. '-*', 'v', '99', 'k', 'u')";
    redis_cli(&redis, &["EVAL", future, "2", &other, &seq]);

    clients[0].insert(path, Some(0), "# typed on node 1\n").await;
    clients[1].insert(path, None, "# typed on node 2\n").await;
    let text = converge(&mut clients, path, &["# typed on node 1", "# typed on node 2"]).await;
    assert_log_whole(&db, &cluster.nodes[0], &healthy.room.id, path, &text).await;
    let page = cluster.nodes[1].metrics_page().await;
    assert!(page.contains("handoff_cluster_events_total{event=\"skipped\"}"), "the unknown entry is counted");
    assert!(
        page.contains("handoff_cluster_events_total{event=\"stream_failures\"}"),
        "the broken stream is counted"
    );
    for node in cluster.nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_room_ended_webhook_is_sent_by_exactly_one_node() {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(seen): axum::extract::State<Arc<Mutex<Vec<String>>>>,
                 headers: axum::http::HeaderMap| async move {
                    let id =
                        headers.get("x-handoff-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    seen.lock().unwrap().push(id.to_owned());
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let db = Database::create().await;
    let redis = RedisServer::start();
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..NODES {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::config(dir.path());
        config.store = Some(db.url.clone());
        config.redis_url = Some(redis.url());
        config.voice = false;
        config.webhook_url = Some(hook.clone());
        config.webhook_secret = Some("whsec-cluster".into());
        nodes.push(TestServer::start_with(config).await);
        dirs.push(dir);
    }
    const ROOMS: usize = 6;
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        let room = nodes[i % NODES].room_with(&[file("a.py", "x = 1\n")]).await;
        let (status, body) = nodes[i % NODES]
            .call(reqwest::Method::POST, &format!("/api/v1/rooms/{}/end", room.room.id), None)
            .await;
        assert_eq!(status, 200, "{body}");
        rooms.push(room.room.id);
    }
    for room in &rooms {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (_, view) = nodes[0].call(reqwest::Method::GET, &format!("/api/v1/rooms/{room}"), None).await;
            if view["webhook"]["status"] == "delivered" {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the webhook is delivered: {view}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Every node polls the outbox several times a second: give them a few rounds to send a second copy.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut ids = received.lock().unwrap().clone();
    ids.sort();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), ROOMS, "one request per ended room, whichever node ended it: {ids:?}");
    assert_eq!(unique.len(), ROOMS, "no delivery sent twice");
    for node in nodes {
        node.stop().await;
    }
}
