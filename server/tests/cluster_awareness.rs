//! Cluster mode: a client joining a room on one node sees the cursors and presence of the clients on
//! the other nodes at once, not only when they next renew their state (y-protocols renews every 15 s).
//! Needs `redis-server` on PATH and PostgreSQL (common/postgres.rs); each is a failure when missing.

mod common;

use common::cluster::Cluster;
use common::postgres::Database;
use common::redis::RedisServer;
use common::{YClient, file};

const NODES: usize = 2;

/// The name the candidate's token carries (`common::submission`): what every other client must see,
/// whatever name the candidate's client wrote into its state.
const CANDIDATE: &str = "Cam Candidate";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_on_a_node_that_loads_the_room_sees_the_clients_of_another_node() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = Cluster::start_each(&db.url, &vec![redis.url(); NODES], |_| {}).await;
    let room = cluster.nodes[0].room_with(&[file("a.py", "x = 1\n")]).await;
    let mut candidate = YClient::synced(&cluster.url_on(&room, 0, &room.tokens.candidate)).await;
    // A name the token does not carry: node 0 rewrites it before anyone else sees it.
    candidate.set_user("Mallory").await;
    // Node 0 holds the state once a second client there is told of it.
    let mut witness = YClient::synced(&cluster.url_on(&room, 0, &room.tokens.observer)).await;
    witness
        .wait_for("the candidate's presence on node 0", |c| c.others().contains(&CANDIDATE.to_owned()))
        .await;

    // Node 1 has not loaded the room: its first joiner arrives after the candidate set its state, and
    // the candidate sends nothing more.
    let mut joiner = YClient::synced(&cluster.url_on(&room, 1, &room.tokens.interviewer)).await;
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
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_on_a_node_that_holds_the_room_gets_the_other_nodes_states_in_its_greeting() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = Cluster::start_each(&db.url, &vec![redis.url(); NODES], |_| {}).await;
    let room = cluster.nodes[0].room_with(&[file("a.py", "x = 1\n")]).await;
    // Node 1 holds the room (a client there) before the candidate on node 0 sets its state.
    let mut first = YClient::synced(&cluster.url_on(&room, 1, &room.tokens.observer)).await;
    let mut candidate = YClient::synced(&cluster.url_on(&room, 0, &room.tokens.candidate)).await;
    candidate.set_user("Cam").await;
    first
        .wait_for("the candidate's presence on node 1", |c| c.others().contains(&CANDIDATE.to_owned()))
        .await;

    // The next joiner on node 1 has it in the greeting: by the time it is synced (the server's answer
    // to its sync step 1 comes after the presence it queued at the join), without reading further.
    let joiner = YClient::synced(&cluster.url_on(&room, 1, &room.tokens.interviewer)).await;
    assert!(
        joiner.others().contains(&CANDIDATE.to_owned()),
        "the greeting carries the other node's presence: {:?}",
        joiner.others()
    );
    cluster.stop().await;
}
