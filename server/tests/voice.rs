//! Voice through the SFU: the real server on 127.0.0.1:0, Rust WebRTC clients on loopback (no STUN),
//! signalling over the room's WebSocket (message 101). Every wait is on a condition with a generous
//! deadline; nothing is timed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PATIENCE, TestServer, YClient, metric, sample_files};
use handoff_protocol::api::PromoteResponse;
use handoff_protocol::frame::{CLOSE_INVALID_PAYLOAD, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, EXT_VOICE_SIGNAL};
use handoff_protocol::voice::{
    ClientSignal, LeftReason, MAX_VOICE_SIGNAL_BYTES, VoiceErrorCode, encode_client_signal, encode_frame,
};
use handoff_server::test_support::voice::{VoiceClient, opus_packets};
use serde_json::json;

/// Packets a listener must receive from each speaker before the test believes it hears them.
const HEARD: u64 = 25;

fn fixture() -> Arc<Vec<Vec<u8>>> {
    let file = include_bytes!("fixtures/voice/tone-440hz-3s.opus");
    Arc::new(opus_packets(file).expect("the fixture is Ogg Opus"))
}

async fn start(
    dir: &std::path::Path,
    configure: impl FnOnce(&mut handoff_server::config::Config),
) -> TestServer {
    let mut config = common::config(dir);
    config.voice_bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
    configure(&mut config);
    TestServer::start_with(config).await
}

async fn room(server: &TestServer, voice: bool) -> PromoteResponse {
    let id = server.submit(&sample_files()).await;
    let body = json!({"interviewer": {"name": "Ivy Interviewer"}, "voice": voice});
    let (status, body) =
        server.call(reqwest::Method::POST, &format!("/api/v1/submissions/{id}/promote"), Some(&body)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// Connects a client and waits for its first `state` (which names it).
async fn client(room: &PromoteResponse, token: &str, speaks: bool) -> (VoiceClient, String) {
    let client = VoiceClient::connect(&TestServer::ws(room, token), speaks).await.expect("connects");
    assert!(client.wait_for(PATIENCE, |s| s.me.is_some()).await, "no state on connect: {client:?}");
    let me = client.seen().me.unwrap();
    (client, me)
}

async fn joined(client: &VoiceClient, n: usize) {
    client.join().await.expect("joins");
    assert!(client.wait_for(PATIENCE, |s| s.participants.len() >= n).await, "not in voice: {client:?}");
}

async fn gauge(server: &TestServer, name: &str) -> f64 {
    metric(&server.metrics_page().await, name)
}

async fn wait_gauge(server: &TestServer, name: &str, want: f64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = gauge(server, name).await;
        if now == want {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} is {now}, expected {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_speakers_hear_each_other_and_a_mute_stops_a_speaker() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let packets = fixture();
    let (mut ivy, ivy_id) = client(&room, &room.tokens.interviewer, true).await;
    let (mut cam, cam_id) = client(&room, &room.tokens.candidate, true).await;
    let (mut cal, cal_id) = client(&room, &room.tokens.candidate, true).await;
    joined(&ivy, 1).await;
    joined(&cam, 2).await;
    joined(&cal, 3).await;
    for c in [&mut ivy, &mut cam, &mut cal] {
        c.start_sending(packets.clone());
    }
    let all = [(&ivy, &ivy_id), (&cam, &cam_id), (&cal, &cal_id)];
    for (listener, me) in all {
        let others: Vec<&String> = all.iter().map(|(_, id)| *id).filter(|id| *id != me).collect();
        let heard = listener
            .wait_for(PATIENCE, |s| {
                others.iter().all(|o| s.packets_from(o) >= HEARD && s.tracks.contains(*o))
            })
            .await;
        assert!(heard, "{me} does not hear {others:?}: {listener:?}");
        assert_eq!(listener.seen().packets_from(me), 0, "nobody hears themselves");
    }
    assert_eq!(gauge(&server, "handoff_voice_peer_connections").await, 3.0);
    assert!(
        ivy.wait_for(PATIENCE, |s| s.levels.get(&cam_id).is_some_and(|l| *l > 0.5)).await,
        "levels: {ivy:?}"
    );

    // Cam mutes: the state says so, and Ivy stops hearing Cam (while still hearing Cal).
    cam.mute(true).await;
    assert!(ivy.wait_for(PATIENCE, |s| s.muted(&cam_id) == Some(true)).await, "mute not shown");
    let muted_at = ivy.seen().packets_from(&cam_id);
    let cal_at = ivy.seen().packets_from(&cal_id);
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cal_id) >= cal_at + 2 * HEARD).await);
    // Packets already on their way when the mute landed may still arrive; a few, not a stream.
    let after = ivy.seen().packets_from(&cam_id);
    assert!(after <= muted_at + 5, "Cam still heard while muted: {muted_at} then {after}");
    cam.mute(false).await;
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cam_id) >= after + HEARD).await, "unmute: {ivy:?}");

    for c in [ivy, cam, cal] {
        c.close().await;
    }
    wait_gauge(&server, "handoff_voice_peer_connections", 0.0).await;
    server.stop().await;
}
