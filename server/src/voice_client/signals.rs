//! The server's signals as the client acts on them: offers answered (adding the uplink on the first),
//! candidates added, state, levels, errors and `left` recorded.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use handoff_protocol::voice::{ClientSignal, ServerSignal, decode_server_frame, encode_client_signal};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSdpType, RTCSessionDescription};

use super::{Call, Shared};
use crate::voice::audio_level_extension_id;

/// One frame from the server: voice signals are acted on; y-sync frames are ignored.
pub(super) async fn on_frame(
    frame: &[u8],
    shared: &Arc<Shared>,
    call: &tokio::sync::Mutex<Option<Call>>,
    out: &mpsc::Sender<Message>,
    level_id: &AtomicU8,
) {
    match frame.first() {
        Some(&handoff_protocol::frame::EXT_VOICE_SIGNAL) => {}
        Some(0..=3) => return,
        _ => return shared.update(|s| s.unexpected += 1),
    }
    let Ok(signal) = decode_server_frame(frame) else { return shared.update(|s| s.unexpected += 1) };
    shared.update(|s| s.signals += 1);
    match signal {
        ServerSignal::Config { .. } => {}
        ServerSignal::Offer { sdp } => {
            if let Some(id) = audio_level_extension_id(&sdp) {
                level_id.store(id, Ordering::Relaxed);
            }
            let streams = offered_streams(&sdp);
            let ufrag = sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).map(str::to_owned);
            shared.update(|s| {
                s.offers += 1;
                s.offered_streams = streams;
                s.ice_ufrag = ufrag;
            });
            let mut guard = call.lock().await;
            let Some(call) = guard.as_mut() else { return };
            let mut offer = RTCSessionDescription::default();
            offer.sdp_type = RTCSdpType::Offer;
            offer.sdp = sdp;
            if let Err(e) = call.pc.set_remote_description(offer).await {
                tracing::warn!(error = %e, "voice client: offer refused");
                return;
            }
            if !call.uplink_added
                && let Some((track, _)) = &call.uplink
            {
                call.uplink_added = call.pc.add_track(track.clone() as Arc<dyn TrackLocal>).await.is_ok();
            }
            let answer = match call.pc.create_answer(None).await {
                Ok(answer) => answer,
                Err(e) => return tracing::warn!(error = %e, "voice client: cannot answer"),
            };
            if call.pc.set_local_description(answer.clone()).await.is_err() {
                return;
            }
            let frame = encode_client_signal(&ClientSignal::Answer { sdp: answer.sdp });
            let _ = out.send(Message::Binary(Bytes::from(frame))).await;
        }
        ServerSignal::Candidate { candidate: Some(c) } => {
            if let Some(call) = call.lock().await.as_ref() {
                let init = RTCIceCandidateInit {
                    candidate: c.candidate,
                    sdp_mid: c.sdp_mid,
                    sdp_mline_index: c.sdp_mline_index,
                    username_fragment: c.username_fragment,
                    ..Default::default()
                };
                let _ = call.pc.add_ice_candidate(init).await;
            }
        }
        ServerSignal::Candidate { candidate: None } => {}
        ServerSignal::State { you, participants } => shared.update(|s| {
            s.me = Some(you);
            s.participants = participants;
        }),
        ServerSignal::Levels { levels } => shared.update(|s| {
            for l in levels {
                let max = s.levels.entry(l.member).or_insert(0.0);
                *max = max.max(l.level);
            }
        }),
        ServerSignal::Error { code, .. } => shared.update(|s| s.errors.push(code)),
        ServerSignal::Left { reason } => {
            shared.update(|s| s.left = Some(reason));
            if let Some(call) = call.lock().await.take() {
                let _ = call.pc.close().await;
            }
        }
    }
}

/// The stream ids an offer sends (`a=msid:STREAM TRACK` in sending m-lines).
fn offered_streams(sdp: &str) -> BTreeSet<String> {
    let mut streams = BTreeSet::new();
    let mut sending = false;
    let mut msid = None;
    let mut flush = |sending: bool, msid: &mut Option<String>| {
        if let Some(m) = msid.take().filter(|_| sending) {
            streams.insert(m);
        }
    };
    for line in sdp.lines() {
        if line.starts_with("m=") {
            flush(sending, &mut msid);
            sending = false;
        } else if line == "a=sendonly" || line == "a=sendrecv" {
            sending = true;
        } else if let Some(rest) = line.strip_prefix("a=msid:") {
            msid = rest.split_whitespace().next().map(str::to_owned);
        }
    }
    flush(sending, &mut msid);
    streams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_streams_are_the_sending_m_lines() {
        let sdp = "v=0\r\nm=audio 9 x 111\r\na=recvonly\r\nm=audio 9 x 111\r\na=sendonly\r\na=msid:42 voice-42\r\nm=audio 9 x 111\r\na=inactive\r\na=msid:7 voice-7\r\n";
        assert_eq!(offered_streams(sdp), BTreeSet::from(["42".to_owned()]));
    }
}
