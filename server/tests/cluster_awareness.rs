//! Cluster mode: a client joining a room on one node sees the cursors and presence of the clients on
//! the other nodes at once, not only when they next renew their state (y-protocols renews every 15 s).
//! Needs `redis-server` on PATH and PostgreSQL (common/postgres.rs); each is a failure when missing.

mod common;

use common::postgres::Database;
use common::redis::RedisServer;
use common::{TestServer, YClient, file};
use handoff_protocol::api::PromoteResponse;

const NODES: usize = 2;

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

/// The room's WebSocket URL on node `node` for `token` (the promote answer names node 0).
fn url_on(room: &PromoteResponse, cluster: &Cluster, node: usize, token: &str) -> String {
    let http_to_ws = |base: &str| base.replacen("http", "ws", 1);
    let base =
        room.ws_url.replacen(&http_to_ws(&cluster.nodes[0].base), &http_to_ws(&cluster.nodes[node].base), 1);
    format!("{base}/{}?token={token}", room.room.id)
}

/// The name the candidate's token carries (`common::submission`): what every other client must see,
/// whatever name the candidate's client wrote into its state.
const CANDIDATE: &str = "Cam Candidate";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_on_a_node_that_loads_the_room_sees_the_clients_of_another_node() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let room = cluster.nodes[0].room_with(&[file("a.py", "x = 1\n")]).await;
    let mut candidate = YClient::synced(&url_on(&room, &cluster, 0, &room.tokens.candidate)).await;
    // A name the token does not carry: node 0 rewrites it before anyone else sees it.
    candidate.set_user("Mallory").await;
    // Node 0 holds the state once a second client there is told of it.
    let mut witness = YClient::synced(&url_on(&room, &cluster, 0, &room.tokens.observer)).await;
    witness
        .wait_for("the candidate's presence on node 0", |c| c.others().contains(&CANDIDATE.to_owned()))
        .await;

    // Node 1 has not loaded the room: its first joiner arrives after the candidate set its state, and
    // the candidate sends nothing more.
    let mut joiner = YClient::synced(&url_on(&room, &cluster, 1, &room.tokens.interviewer)).await;
    joiner
        .wait_for("the candidate's presence, relayed from node 0", |c| {
            c.others().contains(&CANDIDATE.to_owned())
        })
        .await;
    assert!(
        !joiner.others().contains(&"Mallory".to_owned()),
        "the name is the token's: {:?}",
        joiner.others()
    );
    for node in cluster.nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_on_a_node_that_holds_the_room_gets_the_other_nodes_states_in_its_greeting() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis).await;
    let room = cluster.nodes[0].room_with(&[file("a.py", "x = 1\n")]).await;
    // Node 1 holds the room (a client there) before the candidate on node 0 sets its state.
    let mut first = YClient::synced(&url_on(&room, &cluster, 1, &room.tokens.observer)).await;
    let mut candidate = YClient::synced(&url_on(&room, &cluster, 0, &room.tokens.candidate)).await;
    candidate.set_user("Cam").await;
    first
        .wait_for("the candidate's presence on node 1", |c| c.others().contains(&CANDIDATE.to_owned()))
        .await;

    // The next joiner on node 1 has it in the greeting: by the time it is synced (the server's answer
    // to its sync step 1 comes after the presence it queued at the join), without reading further.
    let joiner = YClient::synced(&url_on(&room, &cluster, 1, &room.tokens.interviewer)).await;
    assert!(
        joiner.others().contains(&CANDIDATE.to_owned()),
        "the greeting carries the other node's presence: {:?}",
        joiner.others()
    );
    for node in cluster.nodes {
        node.stop().await;
    }
}
