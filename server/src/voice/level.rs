//! Speaking levels from the RFC 6464 audio-level RTP header extension, which the sender's encoder sets
//! on every packet: the loudness of the packet's audio as attenuation below full scale (0 to 127 dBov),
//! with a voice-activity bit. The server reads it from the header; it never decodes the audio.

/// The header extension's URI, as offers name it.
pub(crate) const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// Attenuation (dBov below full scale) at and beyond which a packet counts as silence (level 0):
/// a quiet room's noise floor sits around -60 to -70 dBov.
const SILENCE_DBOV: u8 = 70;

/// A packet's level from the extension's one-byte payload: 0 (silence) to 1 (full scale), linear in dB.
#[cfg(test)]
fn level(payload: &[u8]) -> f32 {
    payload.first().map_or(0.0, |byte| level_of_attenuation(byte & 0x7f))
}

/// The level of a packet whose extension says `dbov` (0 or below: str0m's parsed value, the
/// attenuation negated).
pub(super) fn level_of_dbov(dbov: i8) -> f32 {
    level_of_attenuation(dbov.unsigned_abs().min(127))
}

fn level_of_attenuation(attenuation: u8) -> f32 {
    if attenuation >= SILENCE_DBOV {
        return 0.0;
    }
    f32::from(SILENCE_DBOV - attenuation) / f32::from(SILENCE_DBOV)
}

/// The extension id an SDP assigns to the audio-level extension (`a=extmap:ID[/dir] URI`).
pub(crate) fn extension_id(sdp: &str) -> Option<u8> {
    sdp.lines().find_map(|line| {
        let rest = line.strip_prefix("a=extmap:")?;
        let (id, uri) = rest.split_once(' ')?;
        (uri.trim() == AUDIO_LEVEL_URI).then(|| id.split('/').next()?.parse().ok())?
    })
}

/// The extension's payload for `level` (for clients that send packets): the inverse of [`level`], with
/// the voice-activity bit set when not silent.
pub(crate) fn payload(level: f32) -> u8 {
    let level = level.clamp(0.0, 1.0);
    if level <= 0.0 {
        return 127;
    }
    let attenuation = (f32::from(SILENCE_DBOV) * (1.0 - level)).round() as u8;
    0x80 | attenuation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_run_from_silence_to_full_scale() {
        assert_eq!(level(&[127]), 0.0);
        assert_eq!(level(&[0x80 | 70]), 0.0);
        assert_eq!(level(&[0]), 1.0);
        assert!((level(&[0x80 | 35]) - 0.5).abs() < 1e-6, "the voice bit is not part of the level");
        assert_eq!(level(&[]), 0.0);
        assert!((level_of_dbov(-35) - 0.5).abs() < 1e-6);
        assert_eq!(level_of_dbov(-127), 0.0);
        assert_eq!(level_of_dbov(i8::MIN), 0.0);
        for l in [0.0, 0.25, 0.5, 1.0] {
            assert!((level(&[payload(l)]) - l).abs() < 0.02, "{l}");
        }
    }

    #[test]
    fn the_extension_id_is_read_from_the_offer() {
        let sdp = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:3 urn:other\r\na=extmap:5/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
        assert_eq!(extension_id(sdp), Some(5));
        assert_eq!(extension_id("a=extmap:1 urn:other"), None);
    }
}
