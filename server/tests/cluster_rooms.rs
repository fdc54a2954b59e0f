//! Cluster mode, what a room does besides its document: room events (a pushed question) reach the
//! members on every node, and a room's voice runs on one node (its voice home), so a join on another
//! node is refused with a reason instead of leaving the members unable to hear each other.
//! Needs `redis-server` on PATH and PostgreSQL (common/postgres.rs); each is a failure when missing.

mod common;

use common::cluster::Cluster;
use common::postgres::Database;
use common::redis::RedisServer;
use common::voice::joined;
use common::{PATIENCE, YClient, file};
use handoff_protocol::api::PromoteResponse;
use handoff_protocol::frame::EXT_ROOM_EVENT;
use handoff_protocol::interview::RoomEvent;
use handoff_protocol::voice::VoiceErrorCode;
use handoff_server::test_support::voice::VoiceClient;
use reqwest::Method;
use serde_json::json;

const NODES: usize = 2;

/// The name the interviewer's token carries (`TestServer::promote`, `common::voice::room`).
const INTERVIEWER: &str = "Ivy Interviewer";

async fn start_cluster(db: &Database, redis: &RedisServer, voice: bool) -> Cluster {
    Cluster::start_each(&db.url, &vec![redis.url(); NODES], |config| {
        config.voice = voice;
        config.voice_bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
    })
    .await
}

/// The texts of the questions among a client's room events, in the order they arrived.
fn questions(client: &YClient) -> Vec<String> {
    client
        .extension_frames
        .iter()
        .filter(|f| f.first() == Some(&EXT_ROOM_EVENT))
        .map(|f| {
            // The message number, a varuint length (one byte for these short events), then the JSON.
            assert!(f[1] < 0x80, "a short event: {f:?}");
            match serde_json::from_slice::<RoomEvent>(&f[2..]).expect("a room event") {
                RoomEvent::Question(q) => q.text,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_pushed_on_one_node_reaches_the_members_on_every_node_once() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis, false).await;
    let room = cluster.nodes[0].room_with(&[file("a.py", "x = 1\n")]).await;
    let path = format!("/api/v1/rooms/{}/questions", room.room.id);
    let events = |node, token| format!("{}&ext=events", cluster.url_on(&room, node, token));
    let mut ivy = YClient::synced(&events(0, &room.tokens.interviewer)).await;
    ivy.set_user("Ivy").await;
    let mut cam = YClient::synced(&events(1, &room.tokens.candidate)).await;
    // Node 1 reads the room's stream once it relays node 0's presence (asked for after its read
    // position stands): from then on whatever node 0 publishes reaches it.
    cam.wait_for("the interviewer's presence, relayed from node 0", |c| {
        c.others().contains(&INTERVIEWER.to_owned())
    })
    .await;

    let first = json!({"text": "Why a dict and a list?"});
    let (status, body) =
        cluster.nodes[0].call_as(Method::POST, &path, &room.tokens.interviewer, Some(&first)).await;
    assert_eq!(status, 201, "{body}");
    cam.wait_for("the question pushed on node 0", |c| !questions(c).is_empty()).await;
    assert_eq!(questions(&cam), ["Why a dict and a list?"]);

    // The second is pushed on node 1: node 0's interviewer gets it through the bus after the first,
    // and never the first twice (node 0 drops its own echo, which the stream holds before the second).
    let second = json!({"text": "What does put() cost?"});
    let (status, body) =
        cluster.nodes[1].call_as(Method::POST, &path, &room.tokens.interviewer, Some(&second)).await;
    assert_eq!(status, 201, "{body}");
    ivy.wait_for("the question pushed on node 1", |c| questions(c).len() >= 2).await;
    assert_eq!(questions(&ivy), ["Why a dict and a list?", "What does put() cost?"]);
    cam.wait_for("the question pushed on node 1", |c| questions(c).len() >= 2).await;
    assert_eq!(questions(&cam), ["Why a dict and a list?", "What does put() cost?"]);
    cluster.stop().await;
}

/// Connects a voice client to node `node` and waits for its first `state`.
async fn voice_client(cluster: &Cluster, room: &PromoteResponse, node: usize, token: &str) -> VoiceClient {
    let client = VoiceClient::connect(&cluster.url_on(room, node, token), true).await.expect("connects");
    assert!(client.wait_for(PATIENCE, |s| s.me.is_some()).await, "no state on connect: {client:?}");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_voice_runs_on_one_node_and_moves_once_its_members_leave() {
    let db = Database::create().await;
    let redis = RedisServer::start();
    let cluster = start_cluster(&db, &redis, true).await;
    let room = common::voice::room(&cluster.nodes[0], true).await;
    let ivy = voice_client(&cluster, &room, 0, &room.tokens.interviewer).await;
    let cam = voice_client(&cluster, &room, 1, &room.tokens.candidate).await;

    // Ivy's join makes node 0 the room's voice home; Cam, on node 1, is told voice runs elsewhere.
    joined(&ivy, 1).await;
    cam.join().await.unwrap();
    let refused =
        |s: &handoff_server::test_support::voice::Seen| s.errors.contains(&VoiceErrorCode::VoiceOnOtherNode);
    assert!(cam.wait_for(PATIENCE, refused).await, "{cam:?}");
    assert!(cam.seen().participants.is_empty(), "nobody is in voice on node 1: {cam:?}");

    // Ivy leaves: node 0 lets go of the room's voice before telling Ivy, so node 1 can take it.
    ivy.leave().await;
    assert!(ivy.wait_for(PATIENCE, |s| s.participants.is_empty()).await, "{ivy:?}");
    joined(&cam, 1).await;
    // Now node 0 is the other node.
    ivy.join().await.unwrap();
    assert!(ivy.wait_for(PATIENCE, refused).await, "{ivy:?}");

    ivy.close().await;
    cam.close().await;
    cluster.stop().await;
}
