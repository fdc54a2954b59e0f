//! Reads the Opus packets out of an Ogg Opus file (RFC 7845), reassembling packets that span pages and
//! skipping the two header packets. Only what the voice fixture needs: no checksum check, one stream.

/// Why a file is not Ogg Opus as read here.
#[derive(Debug, thiserror::Error)]
#[error("not an Ogg Opus file: {0}")]
pub struct OggError(&'static str);

/// The Opus packets of `file`, in order, without the `OpusHead` and `OpusTags` headers.
pub fn opus_packets(file: &[u8]) -> Result<Vec<Vec<u8>>, OggError> {
    let mut packets = Vec::new();
    let mut partial = Vec::new();
    let mut at = 0;
    while at < file.len() {
        let page = file.get(at..).ok_or(OggError("truncated page"))?;
        if page.len() < 27 || &page[..4] != b"OggS" {
            return Err(OggError("missing page capture pattern"));
        }
        let segments = usize::from(page[26]);
        let table = page.get(27..27 + segments).ok_or(OggError("truncated segment table"))?;
        let mut body = 27 + segments;
        for &lacing in table {
            let len = usize::from(lacing);
            let bytes = page.get(body..body + len).ok_or(OggError("truncated segment"))?;
            partial.extend_from_slice(bytes);
            body += len;
            // A lacing value under 255 ends a packet; 255 continues it in the next segment.
            if lacing < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        at += body;
    }
    if packets.first().is_none_or(|p| !p.starts_with(b"OpusHead")) {
        return Err(OggError("no OpusHead"));
    }
    Ok(packets.into_iter().skip(2).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_holds_three_seconds_of_20_ms_packets() {
        let file = include_bytes!("../../tests/fixtures/voice/tone-440hz-3s.opus");
        let packets = opus_packets(file).unwrap();
        assert!((150..=152).contains(&packets.len()), "{} packets", packets.len());
        assert!(packets.iter().all(|p| !p.is_empty() && p.len() < 400));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(opus_packets(b"not ogg at all, clearly not ogg").is_err());
        assert!(opus_packets(b"OggS").is_err());
    }
}
