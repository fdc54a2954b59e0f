//! Cluster mode: the node that commits a room's log snapshots it every `--snapshot-every` entries, from
//! what PostgreSQL holds; a node that loads the room later reads that snapshot, the log after it and the
//! stream, and ends up with the live document. Needs `redis-server` on PATH and PostgreSQL
//! (common/postgres.rs); each is a failure when missing, never a skip.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, spawn_node, stored_log};
use common::postgres::{Database, connect};
use common::redis::RedisServer;
use common::{PATIENCE, YClient, file, metric};
use handoff_protocol::api::PromoteResponse;
use yrs::{Doc, GetString, Map, ReadTxn, StateVector, Transact, Update, updates::decoder::Decode};

const NODES: usize = 3;
/// Small, so that a few dozen edits pass it more than once.
const SNAPSHOT_EVERY: u64 = 20;
const EDITS_PER_CLIENT: usize = 15;

/// The candidate's WebSocket URL on the node at `base` (the promote answer names `promoted_on`).
fn candidate_url(room: &PromoteResponse, promoted_on: &str, base: &str) -> String {
    let http_to_ws = |b: &str| b.replacen("http", "ws", 1);
    let ws = room.ws_url.replacen(&http_to_ws(promoted_on), &http_to_ws(base), 1);
    format!("{ws}/{}?token={}", room.room.id, room.tokens.candidate)
}

/// Waits until every client's `path` holds each of `parts` and all are equal; returns the text.
async fn converge(clients: &mut [YClient], path: &str, parts: &[String]) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        for c in clients.iter_mut() {
            c.step(Duration::from_millis(20)).await;
        }
        let texts: Vec<String> = clients.iter().map(|c| c.text(path).unwrap_or_default()).collect();
        if texts.iter().all(|t| *t == texts[0]) && parts.iter().all(|p| texts[0].contains(p.as_str())) {
            return texts[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the clients did not converge: {texts:?}");
    }
}

/// The room's snapshot in PostgreSQL once it covers at least `seq`: `(upto_seq, state)`.
async fn snapshot_past(db: &Database, room: &str, seq: i64) -> (i64, Vec<u8>) {
    let client = connect(&db.url).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let row = client
            .query_opt("SELECT upto_seq, state_v1 FROM room_snapshots WHERE room_id = $1", &[&room])
            .await
            .unwrap();
        if let Some(row) = row.filter(|r| r.get::<_, i64>(0) >= seq) {
            return (row.get(0), row.get(1));
        }
        assert!(tokio::time::Instant::now() < deadline, "no snapshot covers entry {seq}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A document built from `updates`, in order.
fn doc_of<'a>(updates: impl IntoIterator<Item = &'a [u8]>) -> Doc {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        for update in updates {
            txn.apply_update(Update::decode_v1(update).expect("a stored update decodes")).unwrap();
        }
    }
    doc
}

fn text_of(doc: &Doc, path: &str) -> String {
    let files = doc.get_or_insert_map("files");
    let txn = doc.transact();
    match files.get(&txn, path) {
        Some(yrs::Out::YText(text)) => text.get_string(&txn),
        other => panic!("{path} is not a text in the document: {other:?}"),
    }
}

fn state_vector(doc: &Doc) -> StateVector {
    doc.transact().state_vector()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_loads_a_room_from_the_snapshot_plus_the_tail_and_the_log_stays_whole() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = Cluster::start_each(&db.url, &vec![redis.url(); NODES], |config| {
        config.snapshot_every = SNAPSHOT_EVERY;
    })
    .await;
    let nodes = &cluster.nodes;
    let path = "a.py";
    let room = nodes[0].room_with(&[file(path, "x = 1\n")]).await;
    let id = room.room.id.clone();
    let mut clients = Vec::new();
    for node in nodes {
        clients.push(YClient::synced(&candidate_url(&room, &nodes[0].base, &node.base)).await);
    }
    let mut parts = Vec::new();
    for k in 0..EDITS_PER_CLIENT {
        for (n, client) in clients.iter_mut().enumerate() {
            let part = format!("<{n}.{k}>");
            client.insert(path, None, &part).await;
            parts.push(part);
        }
    }
    converge(&mut clients, path, &parts).await;

    // The committing node snapshots what PostgreSQL holds: exactly the entries up to its seq.
    let edits = (NODES * EDITS_PER_CLIENT) as i64;
    let (upto, state) = snapshot_past(&db, &id, SNAPSHOT_EVERY as i64).await;
    let log = stored_log(&db, &id).await;
    let covered: Vec<&[u8]> = log.iter().filter(|(s, _)| *s <= upto).map(|(_, u)| &u[..]).collect();
    assert_eq!(covered.len() as i64, upto, "the snapshot's entries are all in the log");
    let snapshot = doc_of([&state[..]]);
    let replayed = doc_of(covered);
    assert_eq!(state_vector(&snapshot), state_vector(&replayed), "the snapshot holds entries 1..={upto}");
    assert_eq!(text_of(&snapshot, path), text_of(&replayed, path));

    // More typing, some of it perhaps still only in Redis when the new node loads.
    for k in 0..3 {
        let part = format!("<after {k}>");
        clients[0].insert(path, Some(0), &part).await;
        parts.push(part);
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut newcomer, base) =
        spawn_node(dir.path(), &db, &redis, &["--snapshot-every", &SNAPSHOT_EVERY.to_string()]);
    clients.push(YClient::synced(&candidate_url(&room, &nodes[0].base, &base)).await);
    let text = converge(&mut clients, path, &parts).await;

    // The new node read the snapshot and fewer entries than the log holds.
    let page = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    assert_eq!(metric(&page, "handoff_room_loads_total{from=\"snapshot\"}"), 1.0, "{page}");
    let replayed = metric(&page, "handoff_room_load_entries_total");
    let (status, _) = nodes[1].call(reqwest::Method::GET, &format!("/api/v1/rooms/{id}/export"), None).await;
    assert_eq!(status, 200);
    let log = stored_log(&db, &id).await;
    assert!(log.len() as i64 > edits, "every edit is in the log ({} entries)", log.len());
    // Whichever snapshot it found, it covers `upto` at least: the load replayed what follows at most.
    let after = log.len() as i64 - upto;
    assert!(
        replayed <= after as f64,
        "the load replayed {replayed} entries, more than the {after} after the snapshot"
    );
    assert!(replayed < log.len() as f64, "fewer than the whole log");
    let seqs: Vec<i64> = log.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "the stored log is gap-free from 1");
    let whole = doc_of(log.iter().map(|(_, u)| &u[..]));
    assert_eq!(text_of(&whole, path), text, "the whole log still rebuilds the live document");

    newcomer.kill().unwrap();
    newcomer.wait().unwrap();
    cluster.stop().await;
}
