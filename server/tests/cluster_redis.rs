//! Cluster mode when Redis fails: a restart (with AOF), a node cut off from Redis for a while (a proxy
//! in between), a Redis that lost its data (restarted without AOF), and the bound on what a node
//! queues for Redis. Set-up in common/cluster.rs.

mod common;

use std::time::Duration;

use common::cluster::{
    Cluster, Proxy, assert_log_whole, candidate_url, converge, rebuilt_text, start_cluster, stored_log,
};
use common::postgres::Database;
use common::redis::RedisServer;
use common::{YClient, file};
use yrs::updates::decoder::Decode;
use yrs::{ReadTxn, Transact};

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
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_converges_once_back() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.port).await;
    let cluster = Cluster::start_each(&db.url, &[redis.url(), proxy.redis_url()], |_| {}).await;
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
    cluster.stop().await;
}

/// Connects until the node takes the join (a room held off refuses it with 1013 meanwhile).
async fn join_when_taken(url: &str) -> YClient {
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    loop {
        let mut client = YClient::connect(url).await;
        while !client.synced && client.closed.is_none() {
            client.step(Duration::from_millis(50)).await;
        }
        if client.synced {
            return client;
        }
        let (code, _) = client.closed.clone().unwrap();
        assert_eq!(code, 1013, "a join is refused with 1013 (try again later) meanwhile");
        assert!(tokio::time::Instant::now() < deadline, "the node takes joins again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_its_data_is_detected_and_the_log_stays_whole() {
    let db = Database::create().await;
    let mut redis = RedisServer::start_without_persistence();
    let cluster = start_cluster(&db, &redis).await;
    let path = "a.py";
    let room = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let mut clients = Vec::new();
    for node in 0..cluster.nodes.len() {
        clients.push(YClient::synced(&candidate_url(&room, &cluster, node)).await);
    }
    let mut parts: Vec<String> = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        parts.push(format!("<before {i}>"));
        c.insert(path, None, parts.last().unwrap()).await;
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let text = converge(&mut clients, path, &refs).await;
    // PostgreSQL holds those (the lease holder commits on its own)...
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    while rebuilt_text(&stored_log(&db, &room.room.id).await, path) != text {
        assert!(tokio::time::Instant::now() < deadline, "the edits are committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and Redis more, which every node has applied.
    for (i, c) in clients.iter_mut().enumerate() {
        parts.push(format!("<late {i}>"));
        c.insert(path, Some(0), parts.last().unwrap()).await;
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    converge(&mut clients, path, &refs).await;

    // Redis dies and comes back empty (no AOF); the clients keep typing meanwhile and after.
    tokio::task::block_in_place(|| {
        redis.kill();
        redis.start_again();
    });
    for round in 0..5 {
        for (i, c) in clients.iter_mut().enumerate() {
            parts.push(format!("<after {i}.{round}>"));
            c.insert(path, None, parts.last().unwrap()).await;
            c.step(Duration::from_millis(50)).await;
        }
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let text = converge(&mut clients, path, &refs).await;
    assert_log_whole(&db, &cluster.nodes[1], &room.room.id, path, &text).await;
    let page = cluster.nodes[0].metrics_page().await;
    assert!(
        page.contains("handoff_cluster_events_total{event=\"redis_data_lost\"}"),
        "the lost data is counted"
    );
    cluster.stop().await;
}

/// The queue's bound in `a_node_cut_off_from_redis_holds_its_room_off_past_the_queue_bound`.
const QUEUE_BYTES: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_holds_its_room_off_past_the_queue_bound() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.port).await;
    // A small bound, so that a few pastes reach it.
    let cluster = Cluster::start_each(&db.url, &[redis.url(), proxy.redis_url()], |config| {
        config.redis_queue_bytes = QUEUE_BYTES;
    })
    .await;
    let path = "a.py";
    let room = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let mut watcher = YClient::synced(&candidate_url(&room, &cluster, 0)).await;
    let mut typist = YClient::synced(&candidate_url(&room, &cluster, 1)).await;
    typist.insert(path, Some(0), "# before\n").await;
    watcher.wait_for("the typist's edit", |c| c.text(path).is_some_and(|t| t.contains("# before"))).await;

    // Cut off from Redis, the typist's node queues what it pastes, up to its bound: then it closes
    // the room's clients with 1013 rather than queueing on.
    proxy.set_cut(true);
    let chunk = "y".repeat(64 << 10);
    let most = QUEUE_BYTES / chunk.len() + 8;
    let mut pasted = 0;
    while typist.closed.is_none() {
        assert!(pasted < most, "the node holds the room off once it queued {QUEUE_BYTES} bytes");
        typist.insert(path, None, &chunk).await;
        pasted += 1;
        typist.step(Duration::from_millis(10)).await;
    }
    assert_eq!(typist.wait_closed().await.0, 1013, "closed with 1013 (try again later)");
    let mut refused = YClient::connect(&candidate_url(&room, &cluster, 1)).await;
    assert_eq!(refused.wait_closed().await.0, 1013, "a join to the held-off room is refused meanwhile");

    // Back on Redis, the queue drains, the node takes joins again and the typist sends what it holds.
    proxy.set_cut(false);
    let mut back = join_when_taken(&candidate_url(&room, &cluster, 1)).await;
    let theirs = back.doc().transact().state_vector();
    let missing = typist.doc().transact().encode_diff_v1(&theirs);
    back.doc().transact_mut().apply_update(yrs::Update::decode_v1(&missing).unwrap()).unwrap();
    back.send_raw(handoff_protocol::frame::encode_update(&missing)).await;
    let mut clients = vec![watcher, back];
    let text = converge(&mut clients, path, &["# before"]).await;
    assert_eq!(text.matches('y').count(), pasted * chunk.len(), "every pasted byte is in the room");
    assert_log_whole(&db, &cluster.nodes[0], &room.room.id, path, &text).await;
    cluster.stop().await;
}
