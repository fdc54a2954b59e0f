//! Cluster mode's commits on their own (no export flushes the log here): the node holding a room's
//! lease stores what its publisher and reader hand it, and reads the room's stream for whatever they
//! could not (a burst past its buffer, the time PostgreSQL was down). Every update reaches PostgreSQL
//! once. The only test of its binary: it reads the process-wide count of committed entries.
//! Set-up in common/cluster.rs.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Proxy, candidate_url, converge, rebuilt_text, stored_log};
use common::postgres::Database;
use common::redis::RedisServer;
use common::{PATIENCE, TestServer, YClient, file};

const NODES: usize = 2;
/// Edits each client makes per round, one at a time.
const EDITS: usize = 20;
/// Edits one client sends at once: more than a room's buffer for the committer holds.
const BURST: usize = 400;

/// Waits until the log PostgreSQL holds rebuilds to `text` (the committers store it by themselves),
/// then checks it is gap-free from 1; returns its length.
async fn stored_as(db: &Database, room: &str, path: &str, text: &str) -> usize {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let log = stored_log(db, room).await;
        if rebuilt_text(&log, path) == text {
            let seqs: Vec<i64> = log.iter().map(|(s, _)| *s).collect();
            assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "the stored log is gap-free from 1");
            return log.len();
        }
        assert!(tokio::time::Instant::now() < deadline, "the committers store every update");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Entries committed from the bus in this process (every node of the test), and those of them
/// committed from what the publishers and readers handed over.
async fn committed(node: &TestServer) -> (usize, usize) {
    let page = node.metrics_page().await;
    // A count not made yet is not on the page.
    let count = |event: &str| {
        let name = format!("handoff_cluster_events_total{{event=\"{event}\"}} ");
        page.lines().find_map(|l| l.strip_prefix(&name)).map_or(0, |v| v.trim().parse().unwrap())
    };
    (count("committed"), count("committed_handed_over"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_reaches_postgresql_once_handed_over_or_read_from_the_stream() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(db.port()).await;
    let cluster = Cluster::start_each(&db.url_via(proxy.port), &vec![redis.url(); NODES], |_| {}).await;
    let path = "a.py";
    let room = cluster.nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let id = room.room.id.clone();
    let mut clients = Vec::new();
    for node in 0..NODES {
        clients.push(YClient::synced(&candidate_url(&room, &cluster, node)).await);
    }
    clients[0].insert(path, Some(0), "# start\n").await;
    let text = converge(&mut clients, path, &["# start"]).await;
    let before = stored_as(&db, &id, path, &text).await;
    let committed_before = committed(&cluster.nodes[0]).await;

    // Both nodes' clients type in turn (one node publishes, the other reads: the lease holder is
    // handed both), then one sends a burst at once.
    for k in 0..EDITS {
        for (i, client) in clients.iter_mut().enumerate() {
            client.insert(path, None, &format!("<{i}.{k}>")).await;
        }
    }
    for k in 0..BURST {
        clients[1].insert(path, None, &format!("[{k}]")).await;
    }
    let (last0, last1, burst) =
        (format!("<0.{}>", EDITS - 1), format!("<1.{}>", EDITS - 1), format!("[{}]", BURST - 1));
    let text = converge(&mut clients, path, &[&last0, &last1, &burst]).await;
    let after = stored_as(&db, &id, path, &text).await;
    assert_eq!(after - before, NODES * EDITS + BURST, "one entry per edit");
    let committed_after = committed(&cluster.nodes[0]).await;
    assert_eq!(committed_after.0 - committed_before.0, after - before, "each entry was committed once");
    assert!(committed_after.1 > committed_before.1, "the lease holder took what it was handed");

    // PostgreSQL is cut off while both type: the commits fail, and once it is back the lease holder
    // reads what it missed from the stream.
    proxy.set_cut(true);
    for k in 0..EDITS {
        for (i, client) in clients.iter_mut().enumerate() {
            client.insert(path, None, &format!("({i}.{k})")).await;
        }
    }
    let (cut0, cut1) = (format!("(0.{})", EDITS - 1), format!("(1.{})", EDITS - 1));
    let text = converge(&mut clients, path, &[&cut0, &cut1]).await;
    proxy.set_cut(false);
    let last = stored_as(&db, &id, path, &text).await;
    assert_eq!(last - after, NODES * EDITS, "one entry per edit");
    cluster.stop().await;
}
