//! Voice through the SFU: the real server on 127.0.0.1:0, Rust WebRTC clients on loopback (no STUN),
//! signalling over the room's WebSocket (message 101). Every wait is on a condition with a generous
//! deadline; nothing is timed.

mod common;

use common::voice::{HEARD, SERIAL, client, fixture, gauge, joined, room, start, wait_gauge};
use common::{PATIENCE, TestServer, YClient};
use handoff_protocol::frame::{CLOSE_INVALID_PAYLOAD, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, EXT_VOICE_SIGNAL};
use handoff_protocol::voice::{
    ClientSignal, LeftReason, MAX_VOICE_PARTICIPANTS, MAX_VOICE_SIGNAL_BYTES, VoiceErrorCode,
    encode_client_signal, encode_frame,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_speakers_hear_each_other_and_a_mute_stops_a_speaker() {
    let _serial = SERIAL.lock().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interviewer_mutes_the_candidate_who_cannot_unmute() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let (ivy, ivy_id) = client(&room, &room.tokens.interviewer, true).await;
    let (mut cam, cam_id) = client(&room, &room.tokens.candidate, true).await;
    joined(&ivy, 1).await;
    joined(&cam, 2).await;
    cam.start_sending(fixture());
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cam_id) >= HEARD).await, "{ivy:?}");

    // The candidate may not mute the interviewer.
    cam.mute_member(&ivy_id, true).await;
    assert!(cam.wait_for(PATIENCE, |s| s.errors.contains(&VoiceErrorCode::Forbidden)).await, "{cam:?}");
    assert_eq!(ivy.seen().muted(&ivy_id), Some(false));

    ivy.mute_member(&cam_id, true).await;
    let muted_by_interviewer = |s: &handoff_server::test_support::voice::Seen| {
        s.participants.iter().any(|p| p.member == cam_id && p.muted && p.muted_by_interviewer)
    };
    assert!(cam.wait_for(PATIENCE, muted_by_interviewer).await, "{cam:?}");
    assert!(ivy.wait_for(PATIENCE, muted_by_interviewer).await, "{ivy:?}");
    cam.mute(false).await;
    assert!(
        cam.wait_for(PATIENCE, |s| s.errors.contains(&VoiceErrorCode::MutedByInterviewer)).await,
        "{cam:?}"
    );
    // Still muted, and not forwarded: a stretch of Cam's packets goes by unheard.
    let heard = ivy.seen().packets_from(&cam_id);
    let sent = cam.sent();
    assert!(cam.wait_for(PATIENCE, |_| cam.sent() >= sent + 2 * HEARD).await);
    assert!(ivy.seen().packets_from(&cam_id) <= heard + 5, "{ivy:?}");
    assert!(muted_by_interviewer(&ivy.seen()));

    ivy.mute_member(&cam_id, false).await;
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cam_id) >= heard + HEARD).await, "{ivy:?}");
    for c in [ivy, cam] {
        c.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_removes_the_speakers_track_from_the_others() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let packets = fixture();
    let (mut ivy, _) = client(&room, &room.tokens.interviewer, true).await;
    let (mut cam, cam_id) = client(&room, &room.tokens.candidate, true).await;
    let (mut cal, cal_id) = client(&room, &room.tokens.candidate, true).await;
    for (c, n) in [(&ivy, 1), (&cam, 2), (&cal, 3)] {
        joined(c, n).await;
    }
    for c in [&mut ivy, &mut cam, &mut cal] {
        c.start_sending(packets.clone());
    }
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cal_id) >= HEARD).await, "{ivy:?}");
    let offers = ivy.seen().offers;

    cal.leave().await;
    let renegotiated = |s: &handoff_server::test_support::voice::Seen| {
        s.participants.len() == 2 && s.offers > offers && !s.offered_streams.contains(&cal_id)
    };
    assert!(ivy.wait_for(PATIENCE, renegotiated).await, "{ivy:?}");
    assert!(ivy.seen().offered_streams.contains(&cam_id), "Cam's track stays: {ivy:?}");
    let cal_heard = ivy.seen().packets_from(&cal_id);
    let cam_heard = ivy.seen().packets_from(&cam_id);
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cam_id) >= cam_heard + 2 * HEARD).await);
    assert!(ivy.seen().packets_from(&cal_id) <= cal_heard + 5, "Cal still heard: {ivy:?}");
    wait_gauge(&server, "handoff_voice_peer_connections", 2.0).await;

    // Cal comes back: heard again, on a new track.
    joined(&cal, 3).await;
    assert!(ivy.wait_for(PATIENCE, |s| s.packets_from(&cal_id) >= cal_heard + HEARD).await, "{ivy:?}");
    for c in [ivy, cam, cal] {
        c.close().await;
    }
    wait_gauge(&server, "handoff_voice_peer_connections", 0.0).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_room_closes_every_peer_connection() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let (ivy, _) = client(&room, &room.tokens.interviewer, true).await;
    let (cam, _) = client(&room, &room.tokens.candidate, true).await;
    let (olga, _) = client(&room, &room.tokens.observer, false).await;
    joined(&ivy, 1).await;
    joined(&cam, 2).await;
    joined(&olga, 3).await;
    wait_gauge(&server, "handoff_voice_peer_connections", 3.0).await;

    let (status, body) =
        server.call(reqwest::Method::POST, &format!("/api/v1/rooms/{}/end", room.room.id), None).await;
    assert_eq!(status, 200, "{body}");
    for c in [&ivy, &cam, &olga] {
        let ended =
            c.wait_for(PATIENCE, |s| s.left == Some(LeftReason::RoomEnded) && s.closed.is_some()).await;
        assert!(ended, "{c:?}");
    }
    wait_gauge(&server, "handoff_voice_peer_connections", 0.0).await;
    wait_gauge(&server, "handoff_voice_participants", 0.0).await;
    wait_gauge(&server, "handoff_voice_uplinks", 0.0).await;
    for c in [ivy, cam, olga] {
        c.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_listens_and_its_uplink_is_refused() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let packets = fixture();
    // The observer's client tries to speak: it offers an uplink and sends packets.
    let (mut olga, olga_id) = client(&room, &room.tokens.observer, true).await;
    joined(&olga, 1).await;
    olga.start_sending(packets.clone());
    let (mut ivy, ivy_id) = client(&room, &room.tokens.interviewer, true).await;
    joined(&ivy, 2).await;
    ivy.start_sending(packets.clone());

    assert!(olga.wait_for(PATIENCE, |s| s.packets_from(&ivy_id) >= 2 * HEARD).await, "{olga:?}");
    let seen = ivy.seen();
    assert_eq!(seen.packets_from(&olga_id), 0, "{seen:?}");
    assert!(!seen.offered_streams.contains(&olga_id) && !seen.tracks.contains(&olga_id), "{seen:?}");
    assert!(seen.participants.iter().any(|p| p.member == olga_id), "the observer is listed: {seen:?}");
    assert_eq!(gauge(&server, "handoff_voice_uplinks").await, 1.0, "only Ivy's uplink is read");
    for c in [olga, ivy] {
        c.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_without_voice_or_a_server_without_voice_refuses_join() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let quiet = room(&server, false).await;
    let (ivy, _) = client(&quiet, &quiet.tokens.interviewer, true).await;
    ivy.join().await.unwrap();
    assert!(ivy.wait_for(PATIENCE, |s| s.errors.contains(&VoiceErrorCode::VoiceOff)).await, "{ivy:?}");
    assert!(ivy.seen().participants.is_empty() && ivy.seen().offers == 0);
    assert_eq!(gauge(&server, "handoff_voice_peer_connections").await, 0.0);
    ivy.close().await;
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.voice = false).await;
    let loud = room(&server, true).await;
    let (ivy, _) = client(&loud, &loud.tokens.interviewer, true).await;
    ivy.join().await.unwrap();
    assert!(ivy.wait_for(PATIENCE, |s| s.errors.contains(&VoiceErrorCode::VoiceOff)).await, "{ivy:?}");
    assert!(ivy.seen().offers == 0);
    ivy.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_voice_frames_close_only_their_connection() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let (ivy, ivy_id) = client(&room, &room.tokens.interviewer, true).await;
    joined(&ivy, 1).await;
    let oversized = {
        let sdp = "a".repeat(MAX_VOICE_SIGNAL_BYTES);
        serde_json::to_vec(&ClientSignal::Answer { sdp }).unwrap()
    };
    let cases: [(Vec<u8>, u16); 4] = [
        (encode_frame(b"{not json"), CLOSE_INVALID_PAYLOAD),
        (encode_frame(br#"{"type":"dance"}"#), CLOSE_INVALID_PAYLOAD),
        (encode_frame(&oversized), CLOSE_TOO_BIG),
        (vec![EXT_VOICE_SIGNAL, 10, b'{'], CLOSE_PROTOCOL_ERROR),
    ];
    for (frame, code) in cases {
        let (bad, _) = client(&room, &room.tokens.candidate, true).await;
        bad.send_raw(frame).await;
        assert!(bad.wait_for(PATIENCE, |s| s.closed.is_some()).await, "{bad:?}");
        assert_eq!(bad.seen().closed, Some(code), "{bad:?}");
        bad.close().await;
    }
    // A stock client (no `ext=voice`) that sends a voice signal breaks the protocol.
    let mut stock = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;
    stock.send_raw(encode_client_signal(&ClientSignal::Join)).await;
    let (code, _) = stock.wait_closed().await;
    assert_eq!(code, CLOSE_PROTOCOL_ERROR);

    // Ivy never noticed: still connected, still in voice, still heard by the server.
    ivy.mute(true).await;
    assert!(ivy.wait_for(PATIENCE, |s| s.muted(&ivy_id) == Some(true)).await, "{ivy:?}");
    assert!(ivy.seen().closed.is_none());
    assert_eq!(gauge(&server, "handoff_voice_peer_connections").await, 1.0);
    ivy.close().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_client_never_receives_a_voice_frame() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let mut stock = YClient::synced(&TestServer::ws(&room, &room.tokens.observer)).await;
    let (mut ivy, ivy_id) = client(&room, &room.tokens.interviewer, true).await;
    let (cam, _) = client(&room, &room.tokens.candidate, true).await;
    joined(&ivy, 1).await;
    joined(&cam, 2).await;
    ivy.start_sending(fixture());
    assert!(cam.wait_for(PATIENCE, |s| s.packets_from(&ivy_id) >= HEARD && !s.levels.is_empty()).await);
    ivy.mute(true).await;
    cam.leave().await;
    assert!(ivy.wait_for(PATIENCE, |s| s.participants.len() == 1).await);
    // An edit after all of that: the stock client receives it, and nothing of voice before it.
    let mut writer = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;
    writer.insert("main.py", Some(0), "# heard\n").await;
    stock.wait_for("the edit", |c| c.text("main.py").is_some_and(|t| t.starts_with("# heard"))).await;
    assert_eq!(stock.extension_messages, 0);
    for c in [ivy, cam] {
        c.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_socket_leaves_voice_and_an_ice_restart_keeps_the_audio() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    let (mut ivy, ivy_id) = client(&room, &room.tokens.interviewer, true).await;
    let (mut cam, cam_id) = client(&room, &room.tokens.candidate, true).await;
    joined(&ivy, 1).await;
    joined(&cam, 2).await;
    ivy.start_sending(fixture());
    cam.start_sending(fixture());
    assert!(cam.wait_for(PATIENCE, |s| s.packets_from(&ivy_id) >= HEARD).await, "{cam:?}");

    // Cam's network blips: a restart brings a new offer with new ICE credentials, and audio goes on.
    let (offers, ufrag) = (cam.seen().offers, cam.seen().ice_ufrag);
    cam.restart_ice().await;
    let restarted = |s: &handoff_server::test_support::voice::Seen| s.offers > offers && s.ice_ufrag != ufrag;
    assert!(cam.wait_for(PATIENCE, restarted).await, "{cam:?}");
    let heard = cam.seen().packets_from(&ivy_id);
    assert!(cam.wait_for(PATIENCE, |s| s.packets_from(&ivy_id) >= heard + HEARD).await, "{cam:?}");

    // Cam's WebSocket is gone without a leave: the server takes Cam out of voice by itself.
    cam.drop_socket().await;
    assert!(ivy.wait_for(PATIENCE, |s| s.participants.len() == 1).await, "{ivy:?}");
    assert!(ivy.wait_for(PATIENCE, |s| !s.offered_streams.contains(&cam_id)).await, "{ivy:?}");
    wait_gauge(&server, "handoff_voice_peer_connections", 1.0).await;
    ivy.close().await;
    cam.close().await;
    wait_gauge(&server, "handoff_voice_peer_connections", 0.0).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_is_full_at_its_limit() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    // Observers are cheap members: nobody speaks, so none is even offered a connection yet.
    let mut members = Vec::new();
    for n in 1..=MAX_VOICE_PARTICIPANTS {
        let (c, _) = client(&room, &room.tokens.observer, false).await;
        joined(&c, n).await;
        members.push(c);
    }
    let (late, _) = client(&room, &room.tokens.observer, false).await;
    late.join().await.unwrap();
    assert!(late.wait_for(PATIENCE, |s| s.errors.contains(&VoiceErrorCode::TooMany)).await, "{late:?}");
    assert_eq!(late.seen().participants.len(), MAX_VOICE_PARTICIPANTS);
    // One leaves: there is room again.
    members.pop().unwrap().leave().await;
    assert!(late.wait_for(PATIENCE, |s| s.participants.len() == MAX_VOICE_PARTICIPANTS - 1).await);
    joined(&late, MAX_VOICE_PARTICIPANTS).await;
    members.push(late);
    for c in members {
        c.close().await;
    }
    wait_gauge(&server, "handoff_voice_peer_connections", 0.0).await;
    server.stop().await;
}
