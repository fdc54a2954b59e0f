//! Cluster mode while PostgreSQL is unreachable (a proxy between the nodes and the server, cut for a
//! while): live editing goes on through Redis, loading a room and the API answer 503, a room whose
//! uncommitted backlog passes its bound is held off with 1013, and the commits catch up afterwards.
//! Set-up in common/cluster.rs.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, NODES, Proxy, assert_log_whole, candidate_url, come_back, converge};
use common::postgres::Database;
use common::redis::RedisServer;
use common::{PATIENCE, YClient, file};
use handoff_server::test_support::cluster::MAX_UNCOMMITTED;
use serde_json::Value;

/// Connects until the node takes the join (a room held off refuses it with 1013 meanwhile), then
/// sends what `old` holds beyond the room.
async fn back_when_taken(url: &str, old: &YClient) -> YClient {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut probe = YClient::connect(url).await;
        while !probe.synced && probe.closed.is_none() {
            probe.step(Duration::from_millis(50)).await;
        }
        if probe.synced {
            probe.close().await;
            return come_back(url, old).await;
        }
        assert_eq!(probe.closed.clone().unwrap().0, 1013, "refused with 1013 while held off");
        assert!(tokio::time::Instant::now() < deadline, "the room takes joins again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_editing_goes_on_loads_answer_503_and_a_backlog_is_held_off() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(db.port()).await;
    let cluster = Cluster::start_each(&db.url_via(proxy.port), &vec![redis.url(); NODES], |_| {}).await;
    let path = "a.py";
    let room = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let id = room.room.id.clone();
    // The room is loaded on nodes 1 and 2, not on node 0.
    let mut typists = Vec::new();
    for _ in 0..3 {
        typists.push(YClient::synced(&candidate_url(&room, &cluster, 1)).await);
    }
    let mut watcher = YClient::synced(&candidate_url(&room, &cluster, 2)).await;
    typists[0].insert(path, Some(0), "# before\n").await;
    watcher.wait_for("the edit before", |c| c.text(path).is_some_and(|t| t.contains("# before"))).await;

    proxy.set_cut(true);
    // Live editing goes on across nodes.
    typists[0].insert(path, Some(0), "# during\n").await;
    watcher.wait_for("the edit during", |c| c.text(path).is_some_and(|t| t.contains("# during"))).await;
    // Loading the room (a join where it is not in memory) and the API answer 503 with the error body.
    let http = reqwest::Client::new();
    let join = candidate_url(&room, &cluster, 0).replacen("ws", "http", 1);
    let resp = http.get(&join).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503, "a join that must load the room");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let (status, body) =
        cluster.nodes[0].call(reqwest::Method::GET, &format!("/api/v1/rooms/{id}"), None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");

    // Past the bound on what Redis holds uncommitted, every node holding the room closes its clients
    // with 1013 instead of letting the backlog grow.
    let each = MAX_UNCOMMITTED as usize / typists.len() + 10;
    for (i, typist) in typists.iter_mut().enumerate() {
        for k in 0..each {
            typist.insert(path, None, &format!("<{i}.{k}>")).await;
        }
    }
    for client in typists.iter_mut().chain(std::iter::once(&mut watcher)) {
        assert_eq!(client.wait_closed().await.0, 1013, "held off with 1013 (try again later)");
    }

    // PostgreSQL is back: the commits catch up, the room takes joins again, and the clients send what
    // they hold.
    proxy.set_cut(false);
    let mut clients = Vec::new();
    for (node, old) in [(1, &typists[0]), (1, &typists[1]), (2, &typists[2]), (2, &watcher)] {
        clients.push(back_when_taken(&candidate_url(&room, &cluster, node), old).await);
    }
    let last: Vec<String> = (0..typists.len()).map(|i| format!("<{i}.{}>", each - 1)).collect();
    let mut parts = vec!["# before", "# during"];
    parts.extend(last.iter().map(String::as_str));
    let text = converge(&mut clients, path, &parts).await;
    assert_log_whole(&db, &cluster.nodes[0], &id, path, &text).await;
    cluster.stop().await;
}
