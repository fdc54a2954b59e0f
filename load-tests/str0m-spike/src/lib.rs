//! What the spike's server and clients share: the Opus fixture's packets, the signalling lines and the
//! codec set both sides configure.

use std::time::Instant;

use str0m::rtp::Extension;
use str0m::{Rtc, RtcConfig};

/// The repository's Opus fixture (Ogg, 20 ms packets), the same audio `handoff-load voice` sends.
pub const FIXTURE: &[u8] = include_bytes!("../../../server/tests/fixtures/voice/tone-440hz-3s.opus");

/// RTP clock ticks per 20 ms Opus packet (48 kHz).
pub const TICKS_PER_PACKET: u64 = 960;

/// First line of a signalling request that joins a room: `JOIN <room>`, then the SDP offer until the
/// client shuts its write half; the server answers with the SDP answer and closes.
pub const JOIN: &str = "JOIN";

/// First line of a signalling request for the server's counters: the answer is one line,
/// `<forwarded packets> <user ticks> <system ticks>` (ticks of /proc/self/stat).
pub const STATS: &str = "STATS";

/// Both sides negotiate Opus only (what the SFU forwards) and two RTP header extensions: RFC 6464
/// audio level (the real SFU reads it for speaking indicators) and the mid. That is what the webrtc
/// SFU negotiates for audio since it dropped transport-wide congestion control (docs/PERFORMANCE.md,
/// Voice, change 2). With SPIKE_EXTENSIONS=default, str0m's own set instead (it adds transport-wide
/// sequence numbers, whose feedback str0m then sends and reads, and absolute send time).
pub fn rtc(ice_lite: bool, rtp_mode: bool, now: Instant) -> Rtc {
    let config = RtcConfig::new()
        .set_ice_lite(ice_lite)
        .set_rtp_mode(rtp_mode)
        .clear_codecs()
        .enable_opus(true, false);
    let config = if std::env::var("SPIKE_EXTENSIONS").is_ok_and(|v| v == "default") {
        config
    } else {
        config
            .clear_extension_map()
            .set_extension(1, Extension::AudioLevel)
            .set_extension(4, Extension::RtpMid)
    };
    config.build(now)
}

/// The Opus packets of an Ogg Opus file, without its two header packets (OpusHead, OpusTags).
pub fn opus_packets(file: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut current = Vec::new();
    let mut at = 0;
    while at + 27 <= file.len() && &file[at..at + 4] == b"OggS" {
        let segments = file[at + 26] as usize;
        let table = &file[at + 27..at + 27 + segments];
        let mut body = at + 27 + segments;
        for &lace in table {
            current.extend_from_slice(&file[body..body + lace as usize]);
            body += lace as usize;
            // A lacing value under 255 ends a packet; 255 continues it into the next segment.
            if lace < 255 {
                packets.push(std::mem::take(&mut current));
            }
        }
        at = body;
    }
    packets.split_off(2.min(packets.len()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fixture_parses_into_three_seconds_of_20ms_packets() {
        let packets = super::opus_packets(super::FIXTURE);
        // 150 packets of audio, and one more for the encoder's pre-skip.
        assert!((150..=152).contains(&packets.len()), "{} packets", packets.len());
        assert!(packets.iter().all(|p| !p.is_empty()));
    }
}
