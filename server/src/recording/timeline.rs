//! Where each packet of a speaker goes in the file, on the room clock. Pure: no I/O, no clock.
//!
//! RTP sequence numbers and timestamps are unwrapped to 64 bits against the newest packet, so a wrap is
//! just the next number. A few packets are held to put reordered ones back in order; a duplicate, or a
//! packet older than what was already written, is refused. A packet's place in the file comes from its
//! RTP timestamp (the sender's sample clock, continuous across a mute: the gap becomes silence), checked
//! against the room clock (its arrival): when the two disagree by more than [`CLOCK_TOLERANCE_MS`] (the
//! timestamps jumped, reset, or drifted), the room clock wins and the mapping starts again there.
//! Positions only ever go forward. Anchors record which room-clock moment each stretch of the file was
//! heard at: the first packet's arrival is sample 0, then one after every gap, re-anchoring, and every
//! [`ANCHOR_EVERY_MS`].

use std::collections::BTreeMap;

use handoff_protocol::recording::{Anchor, OPUS_SAMPLE_RATE};

use super::opus;

/// Packets held back to put reordered packets in order (160 ms of 20 ms packets). A packet arriving
/// after this many newer ones has had its place written over and is refused as late.
pub(super) const REORDER_PACKETS: usize = 8;

/// How far (ms) a packet's RTP timestamp may disagree with its arrival on the room clock, network
/// jitter and bursts included, before the room clock wins (the file's mapping is re-anchored there).
pub(super) const CLOCK_TOLERANCE_MS: u64 = 1_500;

/// A sequence number this far from the newest one is a new sequence (the sender restarted), not a
/// reordered packet: what was held is written and numbering goes on from there.
const SEQUENCE_RESET: i64 = 3_000;

/// A gap (no packets, e.g. a mute) at least this long gets an anchor where the audio resumes.
const GAP_ANCHOR_MS: u64 = 100;

/// An anchor is added at least this often (room-clock ms) while packets arrive, so the slow drift
/// between the sender's clock and the room clock shows in the anchors.
pub(super) const ANCHOR_EVERY_MS: u64 = 10_000;

/// Anchors kept per recording (over 22 hours at one per [`ANCHOR_EVERY_MS`]). At the limit, a new
/// anchor replaces the last one instead of being added.
pub(super) const MAX_ANCHORS: usize = 8_192;

/// Longest recording (6 h of audio, silence included). Packets past it are refused (`too_long`).
pub(super) const MAX_RECORDING_MS: u64 = 6 * 60 * 60 * 1000;

const SAMPLES_PER_MS: u64 = OPUS_SAMPLE_RATE / 1000;

/// One packet as the recorder got it.
#[derive(Debug, Clone)]
pub(super) struct Arrived {
    pub(super) seq: u16,
    pub(super) timestamp: u32,
    pub(super) arrived_at_ms: u64,
    pub(super) payload: Vec<u8>,
}

/// Why a packet is not recorded; the reason labels the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not an Opus packet (empty, bad frame count, over 120 ms).
    Invalid,
    /// Its sequence number is held already.
    Duplicate,
    /// Its place in the file was already written.
    Late,
    /// The recording reached [`MAX_RECORDING_MS`].
    TooLong,
}

impl Refused {
    pub(super) fn reason(self) -> &'static str {
        match self {
            Refused::Invalid => "invalid",
            Refused::Duplicate => "duplicate",
            Refused::Late => "late",
            Refused::TooLong => "too_long",
        }
    }
}

/// A packet to write, ending at sample `end` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Placed {
    pub(super) payload: Payload,
    pub(super) end: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Payload {
    Audio(Vec<u8>),
    /// Fills a gap.
    Silence(&'static [u8]),
}

impl Payload {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Payload::Audio(b) => b,
            Payload::Silence(b) => b,
        }
    }
}

#[derive(Debug)]
struct Held {
    ext_ts: i64,
    arrived_at_ms: u64,
    payload: Vec<u8>,
    samples: u32,
}

/// Ties the sender's timestamps to the file and the room clock from one packet on.
#[derive(Debug, Clone, Copy)]
struct Mapping {
    at_ms: u64,
    sample: u64,
    ext_ts: i64,
}

/// The newest packet's numbers, raw and unwrapped.
#[derive(Debug, Clone, Copy)]
struct Newest {
    seq: u16,
    ext_seq: i64,
    ts: u32,
    ext_ts: i64,
}

#[derive(Debug, Default)]
pub(super) struct Timeline {
    started_at_ms: Option<u64>,
    newest: Option<Newest>,
    held: BTreeMap<i64, Held>,
    /// The highest sequence number written.
    released: Option<i64>,
    mapping: Option<Mapping>,
    /// The end of what was placed: where the next packet starts at the earliest.
    next_sample: u64,
    anchors: Vec<Anchor>,
    /// Times the room clock overruled the sender's timestamps.
    pub(super) reanchors: u64,
}

impl Timeline {
    /// The room-clock ms of the file's first sample: the first packet's arrival.
    pub(super) fn started_at_ms(&self) -> Option<u64> {
        self.started_at_ms
    }

    pub(super) fn duration_ms(&self) -> u64 {
        self.next_sample / SAMPLES_PER_MS
    }

    pub(super) fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    /// Takes one packet; returns what can be written now, in file order.
    pub(super) fn push(&mut self, p: Arrived) -> Result<Vec<Placed>, Refused> {
        let samples = opus::samples(&p.payload).ok_or(Refused::Invalid)?;
        if self.next_sample >= MAX_RECORDING_MS * SAMPLES_PER_MS {
            return Err(Refused::TooLong);
        }
        let mut out = Vec::new();
        let (ext_seq, ext_ts) = self.unwrap(p.seq, p.timestamp, &mut out);
        if self.released.is_some_and(|r| ext_seq <= r) {
            return Err(Refused::Late);
        }
        if self.held.contains_key(&ext_seq) {
            return Err(Refused::Duplicate);
        }
        self.started_at_ms.get_or_insert(p.arrived_at_ms);
        self.held
            .insert(ext_seq, Held { ext_ts, arrived_at_ms: p.arrived_at_ms, payload: p.payload, samples });
        while self.held.len() > REORDER_PACKETS {
            self.release_first(&mut out);
        }
        Ok(out)
    }

    /// Everything still held, in order: the track ended.
    pub(super) fn drain(&mut self) -> Vec<Placed> {
        let mut out = Vec::new();
        while !self.held.is_empty() {
            self.release_first(&mut out);
        }
        out
    }

    /// The packet's sequence number and timestamp unwrapped against the newest packet's. A new
    /// sequence (a jump past [`SEQUENCE_RESET`]) first writes what is held, then numbers on from it.
    fn unwrap(&mut self, seq: u16, ts: u32, out: &mut Vec<Placed>) -> (i64, i64) {
        let Some(newest) = self.newest else {
            self.newest = Some(Newest { seq, ext_seq: 0, ts, ext_ts: 0 });
            return (0, 0);
        };
        let seq_step = i64::from(seq.wrapping_sub(newest.seq) as i16);
        let ts_step = i64::from(ts.wrapping_sub(newest.ts) as i32);
        if seq_step.abs() > SEQUENCE_RESET {
            while !self.held.is_empty() {
                self.release_first(out);
            }
            let ext_seq = self.released.unwrap_or(newest.ext_seq).max(newest.ext_seq) + 1;
            // The timestamp carries on from the newest too; the room clock places the packet.
            self.newest = Some(Newest { seq, ext_seq, ts, ext_ts: newest.ext_ts });
            return (ext_seq, newest.ext_ts);
        }
        let ext_seq = newest.ext_seq + seq_step;
        let ext_ts = newest.ext_ts + ts_step;
        if seq_step > 0 {
            self.newest = Some(Newest { seq, ext_seq, ts, ext_ts });
        }
        (ext_seq, ext_ts)
    }

    fn release_first(&mut self, out: &mut Vec<Placed>) {
        let Some((seq, held)) = self.held.pop_first() else { return };
        self.released = Some(seq);
        self.place(held, out);
    }

    fn place(&mut self, h: Held, out: &mut Vec<Placed>) {
        let next = self.next_sample;
        let mut reanchored = false;
        let start = match self.mapping {
            None => {
                let at_ms = self.started_at_ms.unwrap_or(h.arrived_at_ms);
                self.mapping = Some(Mapping { at_ms, sample: 0, ext_ts: h.ext_ts });
                self.anchors.push(Anchor { at_ms, sample: 0 });
                0
            }
            Some(m) => {
                let ts_sample = m.sample as i64 + (h.ext_ts - m.ext_ts);
                let clock_sample =
                    m.sample as i64 + (h.arrived_at_ms as i64 - m.at_ms as i64) * SAMPLES_PER_MS as i64;
                let tolerance = (CLOCK_TOLERANCE_MS * SAMPLES_PER_MS) as i64;
                if (ts_sample - clock_sample).abs() > tolerance || ts_sample < next as i64 - tolerance {
                    let sample = clock_sample.max(next as i64) as u64;
                    self.mapping = Some(Mapping { at_ms: h.arrived_at_ms, sample, ext_ts: h.ext_ts });
                    self.reanchors += 1;
                    reanchored = true;
                    sample
                } else {
                    ts_sample.max(next as i64) as u64
                }
            }
        };
        for (packet, len) in opus::silence(start - next) {
            self.next_sample += len;
            out.push(Placed { payload: Payload::Silence(packet), end: self.next_sample });
        }
        // The rest of the gap (under 2.5 ms) is not kept: the packet starts where the silence ends.
        let begins = self.next_sample;
        let gap = start - next >= GAP_ANCHOR_MS * SAMPLES_PER_MS;
        let last = self.anchors.last().copied();
        let due = last.is_some_and(|a| h.arrived_at_ms >= a.at_ms + ANCHOR_EVERY_MS);
        if (gap || due || reanchored) && last.is_some_and(|a| h.arrived_at_ms > a.at_ms && begins > a.sample)
        {
            let anchor = Anchor { at_ms: h.arrived_at_ms, sample: begins };
            if self.anchors.len() >= MAX_ANCHORS {
                self.anchors.pop();
            }
            self.anchors.push(anchor);
        }
        self.next_sample += u64::from(h.samples);
        out.push(Placed { payload: Payload::Audio(h.payload), end: self.next_sample });
    }
}

#[cfg(test)]
mod tests;
