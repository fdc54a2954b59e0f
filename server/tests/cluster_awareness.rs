//! Cluster mode: a client joining a room on one node sees the cursors and presence of the clients on
//! the other nodes at once, not only when they next renew their state (y-protocols renews every 15 s).
//! Needs `redis-server` on PATH and PostgreSQL (common/postgres.rs); each is a failure when missing.

mod common;

use common::cluster::Cluster;
use common::postgres::Database;
use common::redis::RedisServer;
use common::{PATIENCE, YClient, file};
use handoff_protocol::frame;
use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};

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

/// A room held by one node keeps its clients' awareness off the bus (nobody else would read it); a
/// node that loads the room later still sees every state at once, and every move and departure after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_on_one_node_keeps_awareness_off_the_bus_yet_a_later_node_sees_every_change() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let mut conn =
        redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    // Node 1 lets go of a room a second after its last client leaves.
    let cluster = Cluster::start_each(&db.url, &vec![redis.url(); NODES], |c| c.room_idle_evict_s = 1).await;
    let room = cluster.nodes[0].room_with(&[file("a.py", "x = 1\n")]).await;
    let mut candidate = YClient::synced(&cluster.url_on(&room, 0, &room.tokens.candidate)).await;
    let mut witness = YClient::synced(&cluster.url_on(&room, 0, &room.tokens.observer)).await;
    witness.set_user("Wes").await;
    let node0 = &cluster.nodes[0];

    // Node 0 learns from its first messages' replies that no other node reads the room; from then on
    // each move stays on node 0.
    let mut line = 0;
    move_until_kept_local(node0, &mut candidate, &mut line).await;
    let (kept, last) = (kept_local(node0).await, last_entry(&mut conn, &room.room.id).await);
    for _ in 0..10 {
        line += 1;
        move_cursor(&mut candidate, line).await;
        witness.wait_for("the candidate's move on node 0", |c| cursor_of(c, CANDIDATE) == Some(line)).await;
    }
    assert_eq!(kept_local(node0).await, kept + 10, "every move stayed on node 0");
    assert_eq!(last_entry(&mut conn, &room.room.id).await, last, "no move went to the bus");

    // Node 1 loads the room: its joiner gets the latest state kept on node 0.
    let mut joiner = YClient::synced(&cluster.url_on(&room, 1, &room.tokens.interviewer)).await;
    joiner
        .wait_for("the candidate's last move, from node 0", |c| cursor_of(c, CANDIDATE) == Some(line))
        .await;
    // Moves after it reach node 1 too.
    for _ in 0..3 {
        line += 1;
        move_cursor(&mut candidate, line).await;
        joiner
            .wait_for("the candidate's next move, from node 0", |c| cursor_of(c, CANDIDATE) == Some(line))
            .await;
    }
    // So does a departure: the witness leaves node 0 and node 1's joiner stops seeing it.
    let observer = joiner.others().into_iter().find(|n| n != CANDIDATE).expect("the joiner sees the witness");
    witness.close().await;
    joiner.wait_for("the witness gone", |c| !c.others().contains(&observer)).await;

    // Node 1 lets go of the room: node 0 keeps its awareness to itself again.
    joiner.close().await;
    move_until_kept_local(node0, &mut candidate, &mut line).await;
    cluster.stop().await;
}

/// Moves the client's cursor, a line at a time, until `node` keeps a move to itself rather than
/// publishing it (bounded by [`PATIENCE`]).
async fn move_until_kept_local(node: &common::TestServer, c: &mut YClient, line: &mut u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let start = kept_local(node).await;
    while kept_local(node).await == start {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node keeps publishing the awareness of a room no other node reads"
        );
        *line += 1;
        move_cursor(c, *line).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Awareness messages `node` kept off the bus so far.
async fn kept_local(node: &common::TestServer) -> u64 {
    let page = node.metrics_page().await;
    page.lines()
        .find_map(|l| l.strip_prefix("handoff_cluster_events_total{event=\"awareness_kept_local\"} "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Sets the client's state to its name and a cursor on `line`, and sends it as a provider does.
async fn move_cursor(c: &mut YClient, line: u64) {
    c.awareness.set_local_state(json!({"user": {"name": "Cam"}, "cursor": {"line": line}})).unwrap();
    let update = c.awareness.update_with_clients([c.doc().client_id()]).unwrap();
    c.send_raw(frame::encode_awareness(&update)).await;
}

/// The cursor line of the other client named `name`, as `c` sees it.
fn cursor_of(c: &YClient, name: &str) -> Option<u64> {
    c.awareness.iter().find_map(|(_, state)| {
        let v: Value = serde_json::from_str(state.data.as_deref()?).ok()?;
        (v["user"]["name"] == name).then(|| v["cursor"]["line"].as_u64()).flatten()
    })
}

/// The id of the room stream's last entry (trimming never takes the last one).
async fn last_entry(conn: &mut MultiplexedConnection, room: &str) -> Option<String> {
    let key = format!("handoff:{{{room}}}:log");
    // Field values as bytes: an update's are binary.
    let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await
        .unwrap();
    entries.into_iter().next().map(|(id, _)| id)
}
