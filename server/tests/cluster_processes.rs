//! Cluster nodes as real `handoff` processes: one killed with SIGKILL while its client types, and
//! three polling one webhook outbox (each process has a `/metrics` of its own). Set-up in
//! common/cluster.rs.

mod common;

use std::time::Duration;

use common::cluster::{
    NODES, assert_log_whole, candidate_url_on, come_back, converge, rebuilt_text, spawn_node, stored_log,
};
use common::postgres::Database;
use common::redis::RedisServer;
use common::{PATIENCE, TestServer, YClient, file, metric, submission};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_its_client_types_loses_nothing_that_reached_redis() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut doomed, doomed_base) = spawn_node(dir.path(), &db, &redis, &[]);
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
    let back = come_back(&candidate_url_on(&room, &survivor), &typist).await;
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
    let dirs: Vec<_> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let hook_args = ["--webhook-url", &hook, "--webhook-secret", "whsec-cluster"];
    let mut nodes: Vec<Node> = dirs
        .iter()
        .map(|d| {
            let (child, base) = spawn_node(d.path(), &db, &redis, &hook_args);
            Node { child, base, http: reqwest::Client::new() }
        })
        .collect();
    const ROOMS: usize = 6;
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        let node = &nodes[i % NODES];
        let (_, submitted) = node
            .call(reqwest::Method::POST, "/api/v1/submissions", Some(submission(&[file("a.py", "x\n")])))
            .await;
        let id = submitted["id"].as_str().expect("a submission id").to_owned();
        let promote = json!({"interviewer": {"name": "Ivy"}});
        let (_, room) = node
            .call(reqwest::Method::POST, &format!("/api/v1/submissions/{id}/promote"), Some(promote))
            .await;
        let room = room["room"]["id"].as_str().expect("a room id").to_owned();
        let (status, body) =
            node.call(reqwest::Method::POST, &format!("/api/v1/rooms/{room}/end"), None).await;
        assert_eq!(status, 200, "{body}");
        rooms.push(room);
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
    // Every delivery is recorded. A second copy could only come from a round over the outbox that
    // starts after this: wait until every node has finished one (its count of rounds two higher, as
    // the round under way now finishes first).
    let mut before = Vec::new();
    for node in &nodes {
        before.push(node.polls().await);
    }
    for (node, before) in nodes.iter().zip(before) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while node.polls().await < before + 2.0 {
            assert!(tokio::time::Instant::now() < deadline, "every node polls its outbox again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut ids = received.lock().unwrap().clone();
    ids.sort();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids.len(), ROOMS, "one request per ended room, whichever node ended it: {ids:?}");
    assert_eq!(unique.len(), ROOMS, "no delivery sent twice");
    for node in &mut nodes {
        node.child.kill().unwrap();
        node.child.wait().unwrap();
    }
}

/// A node running as its own process.
struct Node {
    child: std::process::Child,
    base: String,
    http: reqwest::Client,
}

impl Node {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req =
            self.http.request(method, format!("{}{path}", self.base)).bearer_auth("test-api-key-0123456789");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Rounds its webhook worker finished over the outbox.
    async fn polls(&self) -> f64 {
        let page =
            self.http.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        metric(&page, "handoff_webhook_polls_total")
    }
}
