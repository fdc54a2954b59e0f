//! Hostile awareness (issue 18, findings 2–4), end to end against the real server with raw Yjs clients:
//! a flood of states stays bounded, a candidate cannot pose as someone else, and colours that would
//! inject CSS never reach the other browsers.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{TestServer, YClient, sample_files};
use handoff_protocol::frame::{self, CLOSE_POLICY, CLOSE_TOO_BIG};
use handoff_protocol::limits::{
    MAX_AWARENESS_ENTRIES_PER_MESSAGE, MAX_AWARENESS_IDS_PER_CONNECTION, MAX_AWARENESS_STATE_BYTES,
    MAX_AWARENESS_STATES_PER_ROOM,
};
use serde_json::{Value, json};
use yrs::ClientID;
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;

/// An awareness message setting `states` (client id, clock, JSON state).
fn awareness_msg(states: impl IntoIterator<Item = (u64, u32, Value)>) -> Vec<u8> {
    let clients = states
        .into_iter()
        .map(|(id, clock, state)| {
            let json: Arc<str> = state.to_string().into();
            (ClientID::new(id), AwarenessUpdateEntry { clock, json })
        })
        .collect();
    frame::encode_awareness(&AwarenessUpdate { clients })
}

/// An awareness message written entry by entry, as lib0 encodes it, duplicates included.
fn raw_awareness_msg(entries: &[(u64, u32, Value)]) -> Vec<u8> {
    fn var(out: &mut Vec<u8>, mut n: u64) {
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    let mut payload = Vec::new();
    var(&mut payload, entries.len() as u64);
    for (id, clock, state) in entries {
        let json = state.to_string();
        var(&mut payload, *id);
        var(&mut payload, u64::from(*clock));
        var(&mut payload, json.len() as u64);
        payload.extend_from_slice(json.as_bytes());
    }
    let mut msg = vec![1];
    var(&mut msg, payload.len() as u64);
    msg.extend_from_slice(&payload);
    msg
}

/// Every state a client holds, by client id.
fn states(c: &YClient) -> HashMap<u64, Value> {
    c.awareness
        .iter()
        .filter_map(|(id, s)| Some((id.get(), serde_json::from_str(s.data.as_deref()?).ok()?)))
        .collect()
}

fn own_id(c: &YClient) -> u64 {
    c.doc().client_id().get()
}

/// Sets `state` as the client's presence and sends it, as a provider does.
async fn announce(c: &mut YClient, state: Value) {
    c.awareness.set_local_state(state).unwrap();
    let update = c.awareness.update_with_clients([c.doc().client_id()]).unwrap();
    c.send_raw(frame::encode_awareness(&update)).await;
}

#[tokio::test]
async fn an_awareness_flood_is_refused_and_a_late_joiner_gets_a_bounded_presence() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut ivy = YClient::synced(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    announce(&mut ivy, json!({"user": {"name": "Ivy Interviewer"}})).await;
    let mut bad = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;

    announce(&mut bad, json!({"user": {"name": "Cam Candidate"}})).await;
    // Within the entry limit, states just under the size limit, each for a fresh client id.
    let pad = "x".repeat(MAX_AWARENESS_STATE_BYTES - 100);
    let many =
        (1..=MAX_AWARENESS_ENTRIES_PER_MESSAGE as u64).map(|i| (1_000_000 + i, 1, json!({"pad": pad})));
    bad.send_raw(awareness_msg(many)).await;
    // The candidate's own presence, changed after the flood, marks when the room has handled it.
    announce(&mut bad, json!({"user": {"name": "Cam Candidate"}, "after": true})).await;
    let bad_id = own_id(&bad);
    ivy.wait_for("the candidate's presence after the flood", |c| {
        states(c).get(&bad_id).is_some_and(|s| s["after"] == true)
    })
    .await;

    // A late joiner is told of the interviewer and at most the candidate's allowance of ids.
    let mut obs = YClient::synced(&TestServer::ws(&room, &room.tokens.observer)).await;
    let ivy_id = own_id(&ivy);
    obs.wait_for("the observer sees the candidate", |c| states(c).contains_key(&bad_id)).await;
    obs.wait_for("the observer sees the interviewer", |c| states(c).contains_key(&ivy_id)).await;
    let seen = states(&obs);
    assert!(
        seen.len() <= 1 + MAX_AWARENESS_IDS_PER_CONNECTION && seen.len() <= MAX_AWARENESS_STATES_PER_ROOM,
        "late joiner holds {} states; one connection may introduce {MAX_AWARENESS_IDS_PER_CONNECTION}",
        seen.len()
    );
    let bytes: usize = seen.values().map(|v| v.to_string().len()).sum();
    assert!(
        bytes <= seen.len() * (MAX_AWARENESS_STATE_BYTES + 1024),
        "late joiner got {bytes} bytes of presence"
    );

    // A message with more entries than the limit closes the connection (checked before decoding them).
    let flood = (1..=100_000u64).map(|i| (2_000_000 + i, 1, json!({})));
    bad.send_raw(awareness_msg(flood)).await;
    let (code, reason) = bad.wait_closed().await;
    assert_eq!(code, CLOSE_POLICY, "flood closes with 1008, got {code} {reason}");
    assert!(reason.contains("awareness"), "reason names awareness: {reason}");

    // The attacker's states left with it; the interviewer's connection was never disturbed.
    ivy.wait_for("the candidate's presence is withdrawn", |c| !states(c).contains_key(&bad_id)).await;
    assert!(states(&ivy).len() <= 1, "only the interviewer remains: {:?}", states(&ivy).keys());
    assert!(ivy.closed.is_none());
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_awareness_state_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut bad = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let big = json!({"user": {"name": "Cam"}, "pad": "x".repeat(MAX_AWARENESS_STATE_BYTES)});
    announce(&mut bad, big).await;
    let (code, reason) = bad.wait_closed().await;
    assert_eq!(code, CLOSE_TOO_BIG, "oversized state closes with 1009, got {code} {reason}");
    server.stop().await;
}

#[tokio::test]
async fn a_candidate_cannot_take_over_or_claim_presence() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut ivy = YClient::synced(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    announce(&mut ivy, json!({"user": {"name": "Ivy Interviewer", "role": "interviewer"}})).await;
    let mut bad = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let ivy_id = own_id(&ivy);
    bad.wait_for("the candidate sees the interviewer", |c| states(c).contains_key(&ivy_id)).await;

    // Overwrite the interviewer's entry with a higher clock, and claim the interviewer's name and role.
    let fake = json!({"user": {"name": "Mallory", "role": "interviewer", "color": "#ff0000"}});
    bad.send_raw(awareness_msg([(ivy_id, 1000, fake)])).await;
    announce(&mut bad, json!({"user": {"name": "Ivy Interviewer", "role": "interviewer"}})).await;
    let bad_id = own_id(&bad);
    ivy.wait_for("the candidate's presence arrives", |c| states(c).contains_key(&bad_id)).await;

    let mut obs = YClient::synced(&TestServer::ws(&room, &room.tokens.observer)).await;
    obs.wait_for("the observer sees both", |c| {
        states(c).contains_key(&ivy_id) && states(c).contains_key(&bad_id)
    })
    .await;
    for (who, seen) in [("interviewer", states(&ivy)), ("late observer", states(&obs))] {
        let theirs = &seen[&bad_id]["user"];
        assert_eq!(theirs["role"], "candidate", "{who} sees the candidate's role from its token: {theirs}");
        assert_eq!(
            theirs["name"], "Cam Candidate",
            "{who} sees the candidate's name from its token: {theirs}"
        );
        let ivys = &seen[&ivy_id]["user"];
        assert_eq!(ivys["name"], "Ivy Interviewer", "{who} sees the interviewer's own entry: {ivys}");
        assert_eq!(ivys["role"], "interviewer", "{who} sees the interviewer's own entry: {ivys}");
    }
    server.stop().await;
}

#[tokio::test]
async fn awareness_colours_that_are_not_hex_never_reach_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut ivy = YClient::synced(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    let mut cam = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let evil = "red; background-image:url(http://127.0.0.1:9/steal)";
    let user = json!({"name": "Cam Candidate", "role": "candidate", "color": evil, "colorLight": evil});
    announce(&mut cam, json!({"user": user})).await;
    announce(
        &mut ivy,
        json!({"user": {"name": "Ivy Interviewer", "color": "#12ab56", "colorLight": "#12ab5633"}}),
    )
    .await;
    let (cam_id, ivy_id) = (own_id(&cam), own_id(&ivy));
    ivy.wait_for("Cam's presence arrives", |c| states(c).contains_key(&cam_id)).await;
    cam.wait_for("Ivy's presence arrives", |c| states(c).contains_key(&ivy_id)).await;

    let is_hex = |v: &Value| {
        v.as_str().is_some_and(|s| {
            s.starts_with('#')
                && matches!(s.len(), 4 | 7 | 9)
                && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
        })
    };
    let cams = &states(&ivy)[&cam_id]["user"];
    for field in ["color", "colorLight"] {
        assert!(cams[field].is_null() || is_hex(&cams[field]), "{field} reached others as {}", cams[field]);
    }
    // A valid colour is kept as the client chose it.
    let ivys = &states(&cam)[&ivy_id]["user"];
    assert_eq!(ivys["color"], "#12ab56");
    assert_eq!(ivys["colorLight"], "#12ab5633");
    server.stop().await;
}

#[tokio::test]
async fn a_client_id_twice_in_one_message_cannot_smuggle_a_spoof() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&sample_files()).await;
    let mut ivy = YClient::synced(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    let mut bad = YClient::synced(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let bad_id = own_id(&bad);
    // Clients apply entries in order: the first (a spoof at a high clock) would stick, the second (a
    // conforming state at a lower clock) would be ignored by them, yet it is the one a map keeps.
    let spoof = json!({"user": {"name": "Ivy Interviewer", "role": "interviewer"}});
    let honest = json!({"user": {"name": "Cam Candidate", "role": "candidate"}});
    bad.send_raw(raw_awareness_msg(&[(bad_id, 10, spoof), (bad_id, 5, honest)])).await;
    announce(&mut ivy, json!({"user": {"name": "Ivy Interviewer", "role": "interviewer"}})).await;
    let (code, reason) = bad.wait_closed().await;
    assert_eq!(code, frame::CLOSE_INVALID_PAYLOAD, "duplicate ids close with 1007, got {code} {reason}");
    let mut obs = YClient::synced(&TestServer::ws(&room, &room.tokens.observer)).await;
    let ivy_id = own_id(&ivy);
    obs.wait_for("the observer sees the interviewer", |c| states(c).contains_key(&ivy_id)).await;
    for (who, seen) in [("interviewer", states(&ivy)), ("late observer", states(&obs))] {
        if let Some(theirs) = seen.get(&bad_id) {
            assert_eq!(theirs["user"]["role"], "candidate", "{who} sees {theirs}");
        }
    }
    server.stop().await;
}
