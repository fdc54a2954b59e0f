//! Forwarding a speaker's packets: unless the speaker is muted (mute is enforced here, by not
//! forwarding nor recording), each packet's level is noted, the packet is recorded, and it is written
//! into every other member's `Rtc` unchanged but for the SSRC of the listener's m-line, then sent.

use str0m::rtp::{RtpPacket, RtpWrite};

use super::event_loop::EventLoop;
use crate::clock::now_ms;
use crate::metrics::METRICS;
use crate::recording::RtpAudio;
use crate::voice::level;

impl EventLoop {
    /// Forwards every packet the last drains received. A listener drained after a write could emit
    /// packets of its own, so this runs until none is left.
    pub(super) fn forward(&mut self) {
        let mut batch = std::mem::take(&mut self.forwarding);
        while !self.received.is_empty() {
            std::mem::swap(&mut batch, &mut self.received);
            for (speaker, packet) in batch.drain(..) {
                self.forward_one(speaker, &packet);
            }
        }
        self.forwarding = batch;
    }

    fn forward_one(&mut self, speaker: u64, packet: &RtpPacket) {
        self.current = Some(speaker);
        let Some(peer) = self.peers.get_mut(&speaker) else { return };
        if !peer.speaks {
            return;
        }
        METRICS.voice_packets_in.inc();
        if !peer.uplink_started {
            peer.uplink_started = true;
            METRICS.voice_uplinks.inc();
            peer.recorder = peer.recording.take().and_then(|(recorders, who)| recorders.start(who));
        }
        if peer.speaking.muted() {
            METRICS.voice_packets_muted.inc();
            return;
        }
        if let Some(dbov) = packet.header.ext_vals.audio_level {
            peer.speaking.heard(level::level_of_dbov(dbov));
        }
        if let Some(recorder) = peer.recorder.as_mut() {
            recorder.packet(RtpAudio {
                sequence: packet.header.sequence_number,
                timestamp: packet.header.timestamp,
                payload: &packet.payload,
                arrived_at_ms: now_ms(),
            });
        }
        let room = peer.room.clone();
        let members = self.rooms.get(&room).map_or(0, Vec::len);
        let mut written = 0;
        for index in 0..members {
            let Some(&listener) = self.rooms.get(&room).and_then(|m| m.get(index)) else { break };
            if listener == speaker {
                continue;
            }
            self.current = Some(listener);
            let Some(peer) = self.peers.get_mut(&listener) else { continue };
            let Some(&mid) = peer.outputs.get(&speaker) else { continue };
            let mut api = peer.rtc.direct_api();
            // None until the listener has answered the offer that carries this track.
            let Some(stream) = api.stream_tx_by_mid(mid, None) else { continue };
            let header = &packet.header;
            let write = RtpWrite::new(
                header.payload_type,
                packet.seq_no,
                header.timestamp,
                packet.timestamp,
                packet.payload.clone(),
            )
            .marker(header.marker)
            .ext_vals(header.ext_vals.clone());
            stream.write_rtp(write);
            written += 1;
            self.drain(listener);
        }
        METRICS.voice_packets_forwarded.inc_by(written);
    }
}
