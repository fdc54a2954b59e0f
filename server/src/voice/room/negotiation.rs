//! Negotiation with one member: the server always offers; a change while an offer is out waits for
//! its answer, then one more offer carries every change since.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use handoff_protocol::voice::{ServerSignal, VoiceErrorCode};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCSdpType, RTCSessionDescription};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender};

use super::VoiceRoom;
use crate::voice::level;
use crate::voice::peer;
use crate::voice::uplink::Output;

impl VoiceRoom {
    /// Adds `speaker`'s track to `listener`'s connection and makes the uplink write to it.
    pub(super) async fn add_track(
        &self,
        speaker: u64,
        listener: u64,
        pc: &Arc<dyn PeerConnection>,
    ) -> Option<Arc<dyn RtpSender>> {
        let (track, ssrc) = peer::audio_track(speaker.to_string(), format!("voice-{speaker}"));
        // A transceiver of its own: `add_track` would reuse a speaker's receiving transceiver, turning the
        // uplink's m-line into a two-way one, and a client answering a re-offer may never surface a
        // track that arrives on an m-line it already sends on.
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Sendonly,
            streams: vec![speaker.to_string()],
            send_encodings: vec![],
        };
        let added =
            match pc.add_transceiver_from_track(track.clone() as Arc<dyn TrackLocal>, Some(init)).await {
                Ok(transceiver) => transceiver.sender().await,
                Err(e) => Err(e),
            };
        match added {
            Ok(Some(sender)) => {
                self.members[&speaker].speaking.add_output(Output { listener, track, ssrc });
                Some(sender)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(speaker, listener, error = %e, "cannot add a forwarded track");
                None
            }
        }
    }

    /// Sends an offer to `conn_id`, or marks one due after the answer to the offer that is out.
    pub(super) async fn negotiate(&mut self, conn_id: u64) {
        let speaks = self.speaks(conn_id);
        let Some(peer) = self.joined.get_mut(&conn_id) else { return };
        if !speaks && peer.senders.is_empty() && !peer.negotiated {
            // An observer with nobody to hear yet: an offer without an m-line would carry nothing.
            return;
        }
        if peer.offered {
            peer.again = true;
            return;
        }
        if peer.restart {
            peer.restart = false;
            if let Err(e) = peer.pc.restart_ice().await {
                tracing::debug!(conn = conn_id, error = %e, "ICE restart refused");
            }
        }
        let pc = peer.pc.clone();
        let offer = match pc.create_offer(None).await {
            Ok(offer) => offer,
            Err(e) => return tracing::warn!(conn = conn_id, error = %e, "cannot create an offer"),
        };
        if let Err(e) = pc.set_local_description(offer.clone()).await {
            return tracing::warn!(conn = conn_id, error = %e, "cannot set the offer");
        }
        peer.offered = true;
        peer.negotiated = true;
        if let Some(id) = level::extension_id(&offer.sdp) {
            self.members[&conn_id].speaking.level_id.store(id, Ordering::Relaxed);
        }
        self.send_to(conn_id, &ServerSignal::Offer { sdp: offer.sdp }).await;
    }

    pub(super) async fn answer(&mut self, conn_id: u64, sdp: String) {
        let Some(peer) = self.joined.get_mut(&conn_id) else {
            return self.error(conn_id, VoiceErrorCode::NotJoined, "join voice first").await;
        };
        if !peer.offered {
            tracing::debug!(conn = conn_id, "an answer with no offer out; ignored");
            return;
        }
        let mut answer = RTCSessionDescription::default();
        answer.sdp_type = RTCSdpType::Answer;
        answer.sdp = sdp;
        peer.offered = false;
        if let Err(e) = peer.pc.set_remote_description(answer).await {
            tracing::debug!(conn = conn_id, error = %e, "answer refused");
        }
        if std::mem::take(&mut peer.again) {
            self.negotiate(conn_id).await;
        }
    }
}
