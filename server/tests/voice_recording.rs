//! Voice recording through the real SFU: a candidate speaks over WebRTC on loopback (the fixture, 20 ms
//! packets), mutes for a stretch, speaks again and leaves; the export lists one recording lasting the
//! time they spoke, the mute kept as silence, starting on the room clock between joining and being heard.

mod common;

use std::time::Duration;

use common::voice::{HEARD, SERIAL, client, fixture, joined, room, start};
use common::{PATIENCE, TestServer};
use reqwest::Method;
use serde_json::Value;

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn recordings(server: &TestServer, room: &str) -> Vec<Value> {
    let (status, export) = server.call(Method::GET, &format!("/api/v1/rooms/{room}/export"), None).await;
    assert_eq!(status, 200, "{export}");
    export["recordings"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speaker_over_webrtc_is_recorded_mute_included() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let id = room.room.id.clone();
    let (ivy, _) = client(&room, &room.tokens.interviewer, false).await;
    let (mut cam, cam_id) = client(&room, &room.tokens.candidate, true).await;
    joined(&ivy, 1).await;
    let before_join = now_ms();
    joined(&cam, 2).await;
    cam.start_sending(fixture());
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cam_id) >= 1).await, "{ivy:?}");
    let heard_at = now_ms();
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cam_id) >= HEARD).await, "{ivy:?}");

    // A mute: the SFU forwards and records nothing while the sender's clock runs on.
    cam.mute(true).await;
    assert!(ivy.wait_for(PATIENCE, |s| s.muted(&cam_id) == Some(true)).await);
    // A second of packets sent while muted.
    let sent_at_mute = cam.sent();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while cam.sent() < sent_at_mute + 50 {
        assert!(tokio::time::Instant::now() < deadline, "the sender stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cam.mute(false).await;
    let heard = ivy.seen().packets_from(&cam_id);
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cam_id) >= heard + HEARD).await, "{ivy:?}");
    cam.stop_sending();
    let stopped_at = now_ms();
    cam.leave().await;

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let recs = loop {
        let recs = recordings(&server, &id).await;
        if recs.len() == 1 && recs[0]["duration_ms"].as_u64() > Some(0) {
            break recs;
        }
        assert!(tokio::time::Instant::now() < deadline, "not recorded: {recs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rec = &recs[0];
    assert_eq!(rec["role"], "candidate");
    let started = rec["started_at_ms"].as_u64().unwrap();
    assert!((before_join..=heard_at).contains(&started), "{before_join} <= {started} <= {heard_at}");
    // The file lasts from the first packet that arrived to the last, the mute kept as silence: the time
    // the candidate was sending once the connection carried their packets.
    let spoke_ms = stopped_at - started;
    let duration = rec["duration_ms"].as_u64().unwrap();
    assert!(duration.abs_diff(spoke_ms) * 10 <= spoke_ms, "recorded {duration} ms, spoke {spoke_ms} ms");
    assert!(rec["anchors"].as_array().unwrap().len() >= 2, "an anchor where speech resumed: {rec}");
    ivy.close().await;
    cam.close().await;
    server.stop().await;
}
