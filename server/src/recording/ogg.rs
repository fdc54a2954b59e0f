//! A small Ogg page writer for one Opus stream (RFC 3533, RFC 7845): the `OpusHead` and `OpusTags`
//! header pages, then audio pages whose granule position is the 48 kHz sample at the end of their last
//! packet. Granule positions come from the caller and only go forward: the writer never subtracts
//! timestamps, so nothing a sender does to its RTP timestamps can make it panic or go back.

use std::io::{self, Write};

/// Packets per audio page: 50 packets of 20 ms make a page of one second. A page is written when it
/// holds this many packets (or its segment table is full, or the writer flushes): at most this much
/// audio waits in memory.
const PAGE_PACKETS: usize = 50;

/// Segments per page, a limit of the format (one byte counts them).
const MAX_SEGMENTS: usize = 255;

/// Longest packet the writer accepts: one segment table's worth less one segment (the longest Opus
/// packet is far shorter). A longer packet is refused with an error.
pub(super) const MAX_PACKET_BYTES: usize = (MAX_SEGMENTS - 1) * 255;

const FLAG_CONTINUED: u8 = 0x01;
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

/// Writes one logical Ogg/Opus stream to `out`.
#[derive(Debug)]
pub(super) struct OggOpusWriter<W: Write> {
    out: W,
    serial: u32,
    page_seq: u32,
    lacing: Vec<u8>,
    body: Vec<u8>,
    packets: usize,
    /// The granule position of the last packet added (the end of the audio so far).
    granule: u64,
}

impl<W: Write> OggOpusWriter<W> {
    /// Writes the two header pages. `tags` become `OpusTags` comments (`KEY=value`).
    pub(super) fn new(out: W, serial: u32, channels: u8, tags: &[String]) -> io::Result<Self> {
        let mut w = OggOpusWriter {
            out,
            serial,
            page_seq: 0,
            lacing: Vec::with_capacity(MAX_SEGMENTS),
            body: Vec::new(),
            packets: 0,
            granule: 0,
        };
        let mut head = Vec::with_capacity(19);
        head.extend_from_slice(b"OpusHead");
        head.push(1); // version
        head.push(channels);
        // Pre-skip 0: the first sample of the file is the first sample the speaker's packets carry, so
        // granule 0 is the room-clock moment the recording starts.
        head.extend_from_slice(&0u16.to_le_bytes());
        head.extend_from_slice(&48_000u32.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes()); // output gain
        head.push(0); // channel mapping family 0: mono or stereo
        w.add(&head)?;
        w.write_page(FLAG_BOS, 0)?;
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
        w.add(&comments)?;
        w.write_page(0, 0)?;
        Ok(w)
    }

    /// Adds one Opus packet ending at `granule` (48 kHz samples from the file's start). A granule
    /// before the previous packet's is raised to it: positions never go back.
    pub(super) fn packet(&mut self, packet: &[u8], granule: u64) -> io::Result<()> {
        if packet.len() > MAX_PACKET_BYTES {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "Opus packet too long for one page"));
        }
        if self.lacing.len() + packet.len() / 255 + 1 > MAX_SEGMENTS {
            self.flush_page(false)?;
        }
        self.granule = self.granule.max(granule);
        self.add(packet)?;
        if self.packets >= PAGE_PACKETS {
            self.flush_page(false)?;
        }
        Ok(())
    }

    /// The end of the audio written so far, in samples.
    #[cfg(test)]
    pub(super) fn granule(&self) -> u64 {
        self.granule
    }

    /// Writes the packets waiting for a full page, then flushes `out`: what a crash would lose is
    /// then on disk.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        if self.packets > 0 {
            self.flush_page(false)?;
        }
        self.out.flush()
    }

    /// Writes the last page (flagged end of stream) and returns the output, flushed.
    pub(super) fn finish(mut self) -> io::Result<W> {
        self.flush_page(true)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn add(&mut self, packet: &[u8]) -> io::Result<()> {
        // Lacing: 255 for each full segment, then the remainder (0 when the length is a multiple).
        let full = packet.len() / 255;
        self.lacing.extend(std::iter::repeat_n(255u8, full));
        self.lacing.push((packet.len() % 255) as u8);
        self.body.extend_from_slice(packet);
        self.packets += 1;
        Ok(())
    }

    fn flush_page(&mut self, eos: bool) -> io::Result<()> {
        let flags = if eos { FLAG_EOS } else { 0 };
        self.write_page(flags, self.granule)
    }

    fn write_page(&mut self, flags: u8, granule: u64) -> io::Result<()> {
        debug_assert!(flags & FLAG_CONTINUED == 0, "packets never span pages");
        let mut page = Vec::with_capacity(27 + self.lacing.len() + self.body.len());
        page.extend_from_slice(b"OggS");
        page.push(0); // version
        page.push(flags);
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&self.serial.to_le_bytes());
        page.extend_from_slice(&self.page_seq.to_le_bytes());
        page.extend_from_slice(&[0; 4]); // CRC, computed over the page with this field zero
        page.push(self.lacing.len() as u8);
        page.extend_from_slice(&self.lacing);
        page.extend_from_slice(&self.body);
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&page)?;
        self.page_seq += 1;
        self.lacing.clear();
        self.body.clear();
        self.packets = 0;
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
        w.packet(&[0xF8, 1], 500).unwrap(); // a granule going back stays at the last one
        assert_eq!(w.granule(), 960);
        let out = w.finish().unwrap();
        let pages = parse(&out);
        assert_eq!(pages.len(), 3);
        assert_eq!(pages[0].0 & FLAG_BOS, FLAG_BOS);
        assert!(pages[0].2[0].starts_with(b"OpusHead"));
        assert!(pages[1].2[0].starts_with(b"OpusTags"));
        assert_eq!(pages[2], (FLAG_EOS, 960, vec![long, vec![0xF8, 1]]));
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
