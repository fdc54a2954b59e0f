//! What the recorder reads of an Opus packet: how long it lasts and whether it is stereo, from its TOC
//! byte (RFC 6716 §3.1). Nothing is decoded or re-encoded. Also the silent packets that fill a gap.

/// Longest an Opus packet may last, in 48 kHz samples: 120 ms (RFC 6716 §3.2.5). A packet that claims
/// more is malformed and is not recorded.
const MAX_PACKET_SAMPLES: u32 = 5_760;

/// The packet's duration in 48 kHz samples; `None` for a packet that is not valid Opus (empty, a
/// frame count of 0, over 120 ms).
pub(super) fn samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = usize::from(toc >> 3);
    let frame: u32 = match config {
        0..=11 => [480, 960, 1_920, 2_880][config % 4],
        12..=15 => [480, 960][config % 2],
        _ => [120, 240, 480, 960][config % 4],
    };
    let frames = match toc & 0b11 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(packet.get(1)? & 0x3F),
    };
    let total = frame * frames;
    (frames > 0 && total <= MAX_PACKET_SAMPLES).then_some(total)
}

/// Whether the packet carries two channels.
pub(super) fn is_stereo(packet: &[u8]) -> bool {
    packet.first().is_some_and(|toc| toc & 0b100 != 0)
}

/// Silent CELT packets (mono, fullband, one frame) of 20, 10, 5 and 2.5 ms with their length in samples:
/// the TOC byte, then a range-coded frame whose first symbol is CELT's silence flag.
const SILENCE: [(&[u8], u64); 4] = [
    (&[0xF8, 0xFF, 0xFE], 960),
    (&[0xF0, 0xFF, 0xFE], 480),
    (&[0xE8, 0xFF, 0xFE], 240),
    (&[0xE0, 0xFF, 0xFE], 120),
];

/// Silent packets lasting `gap` samples, longest first. The shortest is 2.5 ms (120 samples, the
/// shortest CELT frame): the rest of a gap under that is not filled.
pub(super) fn silence(mut gap: u64) -> impl Iterator<Item = (&'static [u8], u64)> {
    std::iter::from_fn(move || {
        let (packet, len) = SILENCE.iter().copied().find(|(_, len)| *len <= gap)?;
        gap -= len;
        Some((packet, len))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_the_toc() {
        assert_eq!(samples(&[0xF8, 0xFF, 0xFE]), Some(960), "CELT fullband 20 ms");
        assert_eq!(samples(&[0x78, 1]), Some(960), "hybrid fullband 20 ms");
        assert_eq!(samples(&[0x08 | 0b01, 0]), Some(1_920), "SILK narrowband 20 ms, two frames");
        assert_eq!(samples(&[0x18 | 0b11, 0x02]), Some(5_760), "SILK 60 ms, two frames: 120 ms");
        assert_eq!(samples(&[0x18 | 0b11, 0x03]), None, "three 60 ms frames are over 120 ms");
        assert_eq!(samples(&[0xF8 | 0b11, 0]), None, "no frames");
        assert_eq!(samples(&[0xF8 | 0b11]), None, "frame count missing");
        assert_eq!(samples(&[]), None);
        assert!(is_stereo(&[0xFC]) && !is_stereo(&[0xF8]));
    }

    #[test]
    fn silence_fills_a_gap_to_the_shortest_frame() {
        let filled: Vec<u64> = silence(960 * 2 + 480 + 120 + 119)
            .map(|(p, n)| {
                assert_eq!(samples(p), Some(n as u32));
                n
            })
            .collect();
        assert_eq!(filled, [960, 960, 480, 120]);
        assert_eq!(silence(119).count(), 0);
    }
}
