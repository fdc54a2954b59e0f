//! Cluster mode: three nodes on one PostgreSQL database and one test-owned Redis, with clients of one
//! room spread over them (set-up in common/cluster.rs; failures of Redis, PostgreSQL and nodes are in
//! cluster_redis.rs, cluster_postgres.rs and cluster_processes.rs). Needs `redis-server` on PATH,
//! PostgreSQL (common/postgres.rs) and Node with the interop packages (stock y-websocket); each is a
//! failure when missing, never a skip.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::cluster::{
    NODES, assert_log_whole, candidate_url, converge, rebuilt_text, redis_cli, start_cluster, stored_log,
    ws_base,
};
use common::postgres::Database;
use common::redis::RedisServer;
use common::{PATIENCE, YClient, file};
use handoff_protocol::api::PromoteResponse;
use serde_json::{Value, json};

const EDITS_PER_CLIENT: usize = 40;

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
    cluster.stop().await;
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
    cluster.stop().await;
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
    // No notification names the broken stream (the ordering script fails on it): a node finds it when
    // it reads every stream it holds, which it does every second.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cluster.nodes[1]
        .metrics_page()
        .await
        .contains("handoff_cluster_events_total{event=\"stream_failures\"}")
    {
        assert!(tokio::time::Instant::now() < deadline, "the broken stream is counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.stop().await;
}

/// `handoff_bus_hop_seconds` counts each update another node accepted once, where it is read from the
/// bus (from its notification or from the stream: never both); a node's own updates are no hop. (The test's nodes share one process, so one registry: the
/// count is the cluster's.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_update_read_from_another_node_counts_one_bus_hop() {
    const KEYS: usize = 12;
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let path = "a.py";
    let room = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let mut typist = YClient::synced(&candidate_url(&room, &cluster, 0)).await;
    let mut watcher = YClient::synced(&candidate_url(&room, &cluster, 1)).await;
    let hops =
        || async { common::metric(&cluster.nodes[1].metrics_page().await, "handoff_bus_hop_seconds_count") };
    let before = hops().await;
    for i in 0..KEYS {
        typist.insert(path, None, &i.to_string()).await;
    }
    let typed: String = (0..KEYS).map(|i| i.to_string()).collect();
    watcher.wait_for("every key on node 1", |c| c.text(path).is_some_and(|t| t.ends_with(&typed))).await;
    // One key back from node 1: node 0 reads it past its own twelve in the room's stream, so once the
    // typist has it, node 0 has read its own keys too. Those are no hop; the key back is one.
    watcher.insert(path, None, "!").await;
    typist
        .wait_for("the key from node 1", |c| c.text(path).is_some_and(|t| t.ends_with(&format!("{typed}!"))))
        .await;
    assert_eq!(hops().await - before, (KEYS + 1) as f64, "one hop per key read from another node");
    // Node 1 took keys from the notifications that carried them, without reading the stream (the
    // first may be read from it: node 1's own request for states lies before it).
    let page = cluster.nodes[1].metrics_page().await;
    let carried = page
        .lines()
        .find_map(|l| l.strip_prefix("handoff_cluster_events_total{event=\"carried\"} "))
        .map_or(0.0, |v| v.trim().parse().unwrap());
    assert!(carried >= 1.0, "no entry came with its notification");
    cluster.stop().await;
}

/// The nodes Redis lists among the readers of `room`'s stream.
async fn readers_of(conn: &mut redis::aio::MultiplexedConnection, room: &str) -> Vec<String> {
    let key = format!("handoff:{{{room}}}:readers");
    redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).query_async(conn).await.unwrap()
}

/// The room streams the notifications in `node`'s notification stream name, oldest first.
async fn notified(conn: &mut redis::aio::MultiplexedConnection, node: &str) -> Vec<String> {
    let key = format!("handoff:touched:{node}");
    // Values as bytes: a notification carries its entry, whose data is binary.
    let entries: Vec<(String, Vec<Vec<u8>>)> =
        redis::cmd("XRANGE").arg(key).arg("-").arg("+").query_async(conn).await.unwrap();
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            let stream = fields.chunks(2).find(|kv| kv[0] == b"s")?;
            String::from_utf8(stream[1].clone()).ok()
        })
        .collect()
}

/// Waits until `room` has `n` readers in Redis; returns them.
async fn wait_readers(conn: &mut redis::aio::MultiplexedConnection, room: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let readers = readers_of(conn, room).await;
        if readers.len() == n {
            return readers;
        }
        assert!(tokio::time::Instant::now() < deadline, "{room} has readers {readers:?}, not {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_news_reaches_only_the_nodes_holding_it_and_a_node_joining_later_converges() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let mut conn =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let path = "a.py";
    let shared = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let other = cluster.nodes[0].room_with(&[file(path, "y = 2\n")]).await;
    let (shared_log, other_log) =
        (format!("handoff:{{{}}}:log", shared.room.id), format!("handoff:{{{}}}:log", other.room.id));
    // `shared` is held on nodes 0 and 1; node 2 holds `other` only (with node 0).
    let mut shared_clients = vec![
        YClient::synced(&candidate_url(&shared, &cluster, 0)).await,
        YClient::synced(&candidate_url(&shared, &cluster, 1)).await,
    ];
    let mut other_clients = vec![
        YClient::synced(&candidate_url(&other, &cluster, 0)).await,
        YClient::synced(&candidate_url(&other, &cluster, 2)).await,
    ];
    let shared_readers = wait_readers(&mut conn, &shared.room.id, 2).await;
    let other_readers = wait_readers(&mut conn, &other.room.id, 2).await;
    let only = |a: &[String], b: &[String]| -> String {
        let rest: Vec<&String> = a.iter().filter(|n| !b.contains(n)).collect();
        assert_eq!(rest.len(), 1, "one node reads one room and not the other: {a:?} {b:?}");
        rest[0].clone()
    };
    let node1 = only(&shared_readers, &other_readers);
    let node2 = only(&other_readers, &shared_readers);

    shared_clients[0].insert(path, Some(0), "# shared, node 0\n").await;
    other_clients[0].insert(path, Some(0), "# other, node 0\n").await;
    converge(&mut shared_clients, path, &["# shared, node 0"]).await;
    converge(&mut other_clients, path, &["# other, node 0"]).await;
    // A notification is added with its entry: each node that converged was notified already.
    assert!(notified(&mut conn, &node1).await.contains(&shared_log), "node 1 is told of `shared`");
    let to_node2 = notified(&mut conn, &node2).await;
    assert!(to_node2.contains(&other_log), "node 2 is told of `other`: {to_node2:?}");
    assert!(!to_node2.contains(&shared_log), "node 2 holds no `shared` and is told nothing of it");
    assert!(!notified(&mut conn, &node1).await.contains(&other_log), "nor node 1 of `other`");
    // A killed node's notification stream goes by itself.
    let ttl: i64 =
        redis::cmd("PTTL").arg(format!("handoff:touched:{node2}")).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0, "node 2's notification stream lapses unless refreshed (PTTL {ttl})");

    // Node 2 attaches `shared` later: it reads what came before and is told what comes after.
    shared_clients.push(YClient::synced(&candidate_url(&shared, &cluster, 2)).await);
    wait_readers(&mut conn, &shared.room.id, 3).await;
    converge(&mut shared_clients, path, &["# shared, node 0"]).await;
    shared_clients[1].insert(path, None, "# shared, node 1\n").await;
    shared_clients[2].insert(path, None, "# shared, node 2\n").await;
    let text =
        converge(&mut shared_clients, path, &["# shared, node 0", "# shared, node 1", "# shared, node 2"])
            .await;
    assert!(notified(&mut conn, &node2).await.contains(&shared_log), "node 2 is told of `shared` now");
    assert_log_whole(&db, &cluster.nodes[2], &shared.room.id, path, &text).await;
    cluster.stop().await;
}
