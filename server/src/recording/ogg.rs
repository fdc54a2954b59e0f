//! A small Ogg page writer for one Opus stream (RFC 3533, RFC 7845): the `OpusHead` and `OpusTags`
//! header pages, then audio pages whose granule position is the 48 kHz sample at the end of their last
//! packet (plus the pre-skip). Granule positions come from the caller and only go forward: the writer never subtracts
//! timestamps, so nothing a sender does to its RTP timestamps can make it panic or go back.

use std::io::{self, Write};

/// Packets per audio page: 50 packets of 20 ms make a page of one second. A page is written when the
/// next packet would not fit (this many packets, or a full segment table), or when the writer flushes.
const PAGE_PACKETS: usize = 50;

/// Segments per page, a limit of the format (one byte counts them).
const MAX_SEGMENTS: usize = 255;

/// Longest packet the writer accepts: one segment table's worth less one segment (the longest Opus
/// packet is far shorter). A longer packet is refused with an error.
pub(super) const MAX_PACKET_BYTES: usize = (MAX_SEGMENTS - 1) * 255;

/// Samples a player discards at the start (`OpusHead` pre-skip): none. The speaker's encoder delay is
/// unknown here, and with none the granule position is exactly the played sample, so sample 0 is the
/// room-clock moment the first packet arrived and an anchor's sample is a playback position as it is.
/// (`opusinfo` calls 0 implausibly low; players accept it: RFC 7845 sets no minimum.)
pub(super) const PRE_SKIP: u16 = 0;

const FLAG_BOS: u8 = 0x02;
const FLAG_EOS: u8 = 0x04;

/// Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value 0, no final xor.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 { (r << 1) ^ 0x04C1_1DB7 } else { r << 1 };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

pub(super) fn crc32(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |crc, b| (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize])
}

/// Segments a packet takes in the lacing table: one per 255 bytes, plus the closing one.
fn segments(packet: &[u8]) -> usize {
    packet.len() / 255 + 1
}

/// Writes one logical Ogg/Opus stream to `out`. Packets wait for their page in `pending`; the last one
/// always waits, so the final page (flagged end of stream) is never empty.
#[derive(Debug)]
pub(super) struct OggOpusWriter<W: Write> {
    out: W,
    serial: u32,
    page_seq: u32,
    /// Packets not yet on a page, each with the granule position at its end.
    pending: Vec<(Vec<u8>, u64)>,
    /// The granule position of the last packet added (the end of the audio so far, plus pre-skip).
    granule: u64,
}

impl<W: Write> OggOpusWriter<W> {
    /// Writes the two header pages. `tags` become `OpusTags` comments (`KEY=value`).
    pub(super) fn new(out: W, serial: u32, channels: u8, tags: &[String]) -> io::Result<Self> {
        let mut w =
            OggOpusWriter { out, serial, page_seq: 0, pending: Vec::new(), granule: u64::from(PRE_SKIP) };
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(channels);
        head.extend_from_slice(&PRE_SKIP.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0: mono or stereo
        w.write_page(FLAG_BOS, 0, &[(head, 0)])?;
        let mut comments = Vec::new();
        comments.extend_from_slice(b"OpusTags");
        let vendor = b"handoff";
        comments.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        comments.extend_from_slice(vendor);
        comments.extend_from_slice(&(tags.len() as u32).to_le_bytes());
        for tag in tags {
            comments.extend_from_slice(&(tag.len() as u32).to_le_bytes());
            comments.extend_from_slice(tag.as_bytes());
        }
        w.write_page(0, 0, &[(comments, 0)])?;
        Ok(w)
    }

    /// Adds one Opus packet ending at played sample `end` (48 kHz, from the file's first played
    /// sample). An end before the previous packet's is raised to it: positions never go back.
    pub(super) fn packet(&mut self, packet: &[u8], end: u64) -> io::Result<()> {
        if packet.len() > MAX_PACKET_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "Opus packet too long for one page"));
        }
        let used: usize = self.pending.iter().map(|(p, _)| segments(p)).sum();
        if self.pending.len() >= PAGE_PACKETS || used + segments(packet) > MAX_SEGMENTS {
            self.write_pending(self.pending.len(), 0)?;
        }
        self.granule = self.granule.max(end.saturating_add(u64::from(PRE_SKIP)));
        self.pending.push((packet.to_vec(), self.granule));
        Ok(())
    }

    /// The end of the audio added so far, in played samples.
    #[cfg(test)]
    pub(super) fn end(&self) -> u64 {
        self.granule - u64::from(PRE_SKIP)
    }

    /// Writes the packets waiting for a page (all but the last, kept for the final page), then
    /// flushes `out`: what a crash would lose is then on disk.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        if self.pending.len() > 1 {
            self.write_pending(self.pending.len() - 1, 0)?;
        }
        self.out.flush()
    }

    /// Writes the last page (flagged end of stream) and returns the output, flushed.
    pub(super) fn finish(mut self) -> io::Result<W> {
        self.write_pending(self.pending.len(), FLAG_EOS)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes the first `n` pending packets as one page.
    fn write_pending(&mut self, n: usize, flags: u8) -> io::Result<()> {
        let page: Vec<(Vec<u8>, u64)> = self.pending.drain(..n).collect();
        // A page's granule is the end of its last packet; an empty one (only a final page of a stream
        // with no audio) carries the stream's end.
        let granule = page.last().map_or(self.granule, |(_, g)| *g);
        self.write_page(flags, granule, &page)
    }

    fn write_page(&mut self, flags: u8, granule: u64, packets: &[(Vec<u8>, u64)]) -> io::Result<()> {
        let lacing: Vec<u8> = packets
            .iter()
            .flat_map(|(p, _)| std::iter::repeat_n(255u8, p.len() / 255).chain([(p.len() % 255) as u8]))
            .collect();
        let body_len: usize = packets.iter().map(|(p, _)| p.len()).sum();
        let mut page = Vec::with_capacity(27 + lacing.len() + body_len);
        page.extend_from_slice(b"OggS");
        page.push(0); // version
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.page_seq.to_le_bytes());
        page.extend_from_slice(&[0; 4]); // CRC, computed over the page with this field zero
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        for (p, _) in packets {
            page.extend_from_slice(p);
        }
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&page)?;
        self.page_seq += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_ogg() {
        // The check value of Ogg's CRC (CRC-32/MPEG-2's polynomial, initial value 0, no final xor):
        // the same function verified the CRC of a page of an Ogg/Opus file written by another muxer.
        assert_eq!(crc32(b"123456789"), 0x89A1_897F);
    }

    #[test]
    fn pages_carry_lacing_granules_and_flags() {
        let mut w = OggOpusWriter::new(Vec::new(), 7, 1, &["A=b".into()]).unwrap();
        let long = vec![0xF8; 600];
        w.packet(&long, 960).unwrap();
        w.packet(&[0xF8, 1], 500).unwrap(); // an end going back stays at the last one
        assert_eq!(w.end(), 960);
        w.flush().unwrap(); // writes the first packet; the last waits for the final page
        w.packet(&[0xF8, 2], 1_920).unwrap();
        let out = w.finish().unwrap();
        let pages = parse(&out);
        assert_eq!(pages.len(), 4);
        assert_eq!(pages[0].0 & FLAG_BOS, FLAG_BOS);
        assert!(pages[0].2[0].starts_with(b"OpusHead"));
        assert!(pages[1].2[0].starts_with(b"OpusTags"));
        let skip = u64::from(PRE_SKIP);
        assert_eq!(pages[2], (0, 960 + skip, vec![long]));
        assert_eq!(pages[3], (FLAG_EOS, 1_920 + skip, vec![vec![0xF8, 1], vec![0xF8, 2]]));
    }

    #[test]
    fn a_page_holds_at_most_its_packets_and_segments() {
        let mut w = OggOpusWriter::new(Vec::new(), 7, 1, &[]).unwrap();
        for n in 1..=120u64 {
            w.packet(&[0xF8; 3], n * 960).unwrap();
        }
        let big = vec![0xF8; 240 * 255];
        w.packet(&big, 121 * 960).unwrap();
        let pages = parse(&w.finish().unwrap());
        let counts: Vec<usize> = pages[2..].iter().map(|p| p.2.len()).collect();
        assert_eq!(counts, [50, 50, 20, 1]);
        assert_eq!(pages[3].1, 100 * 960 + u64::from(PRE_SKIP));
    }

    /// Pages as (flags, granule, packets), checking capture pattern, sequence and CRC.
    fn parse(mut data: &[u8]) -> Vec<(u8, u64, Vec<Vec<u8>>)> {
        let mut pages = Vec::new();
        while !data.is_empty() {
            assert_eq!(&data[..4], b"OggS");
            let n = data[26] as usize;
            let lacing = &data[27..27 + n];
            let len = 27 + n + lacing.iter().map(|&l| l as usize).sum::<usize>();
            let mut page = data[..len].to_vec();
            let crc = u32::from_le_bytes(page[22..26].try_into().unwrap());
            page[22..26].fill(0);
            assert_eq!(crc32(&page), crc);
            assert_eq!(u32::from_le_bytes(data[18..22].try_into().unwrap()) as usize, pages.len());
            let mut body = &data[27 + n..len];
            let mut packets = Vec::new();
            let mut cur = Vec::new();
            for &l in lacing {
                cur.extend_from_slice(&body[..l as usize]);
                body = &body[l as usize..];
                if l < 255 {
                    packets.push(std::mem::take(&mut cur));
                }
            }
            pages.push((data[5], u64::from_le_bytes(data[6..14].try_into().unwrap()), packets));
            data = &data[len..];
        }
        pages
    }
}
