//! The client's PeerConnection events: its candidates trickled to the server, the tracks it receives
//! counted per stream id (the speaker).

use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::voice::{ClientSignal, IceCandidate, encode_client_signal};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnectionEventHandler, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};

use super::Shared;

/// The client's PeerConnection events: candidates trickled to the server, tracks counted.
pub(super) struct ClientEvents {
    pub(super) shared: Arc<Shared>,
    pub(super) out: mpsc::Sender<Message>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientEvents {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Ok(init) = event.candidate.to_json() else { return };
        let candidate = IceCandidate {
            candidate: init.candidate,
            sdp_mid: init.sdp_mid,
            sdp_mline_index: init.sdp_mline_index,
            username_fragment: init.username_fragment,
        };
        let frame = encode_client_signal(&ClientSignal::Candidate { candidate: Some(candidate) });
        let _ = self.out.try_send(Message::Binary(Bytes::from(frame)));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.shared.update(|s| s.pc_state = Some(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let stream = track.stream_id().await;
            shared.update(|s| {
                s.tracks.insert(stream.clone());
            });
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(_) => shared.update(|s| {
                        *s.packets.entry(stream.clone()).or_insert(0) += 1;
                    }),
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}
