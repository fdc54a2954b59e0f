//! The voice scenario's arithmetic: each speaker's send log (when each RTP sequence number left), and
//! each listener's view of one speaker's stream (packets received, forwarding latency, RFC 3550
//! interarrival jitter). Nothing is put in the Opus payload: an arrival is matched to its send by the
//! speaker's stream id and the RTP sequence number, which the SFU forwards unchanged.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::stats::Latency;

/// Send instants kept per speaker: the last this many packets (20 s at 50 packets/s), each in slot
/// `sequence % SEND_RING`. An arrival older than that finds its slot reused by a later sequence number
/// and is not matched (it counts as lost), which no packet on loopback comes near.
pub const SEND_RING: usize = 1024;

/// Bits of a slot holding nanoseconds since the log's epoch: 2^47 ns is 39 hours, far past any run.
const NANOS_BITS: u32 = 47;
const NANOS_MASK: u64 = (1 << NANOS_BITS) - 1;
/// The bit of a slot marking a packet sent inside the measured window.
const MEASURED_BIT: u64 = 1 << NANOS_BITS;
/// A slot never written (its nanoseconds are all ones, which no packet of a run reaches).
const EMPTY: u64 = u64::MAX;

/// When one speaker sent each of its recent packets. Written by the speaker's send hook, read by its
/// listeners' receive hooks, without locks: each slot is one atomic word (sequence number, measured
/// flag, nanoseconds since the epoch).
#[derive(Debug)]
pub struct SendLog {
    epoch: Instant,
    slots: Box<[AtomicU64]>,
    /// Whether packets sent now are measured (shared by every speaker of a run).
    window: Arc<AtomicBool>,
    /// Packets sent inside the measured window.
    measured: AtomicU64,
}

/// What the log knows of one sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub at: Instant,
    /// Sent inside the measured window.
    pub measured: bool,
}

impl SendLog {
    pub fn new(epoch: Instant, window: Arc<AtomicBool>) -> SendLog {
        let slots = (0..SEND_RING).map(|_| AtomicU64::new(EMPTY)).collect();
        SendLog { epoch, slots, window, measured: AtomicU64::new(0) }
    }

    /// Notes that packet `sequence` left at `at`.
    pub fn record(&self, sequence: u16, at: Instant) {
        let measured = self.window.load(Ordering::Relaxed);
        if measured {
            self.measured.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let word =
            (u64::from(sequence) << 48) | if measured { MEASURED_BIT } else { 0 } | nanos.min(NANOS_MASK - 1);
        self.slots[usize::from(sequence) % SEND_RING].store(word, Ordering::Relaxed);
    }

    /// When packet `sequence` left, if the log still holds it.
    pub fn lookup(&self, sequence: u16) -> Option<Sent> {
        let word = self.slots[usize::from(sequence) % SEND_RING].load(Ordering::Relaxed);
        if word == EMPTY || (word >> 48) as u16 != sequence {
            return None;
        }
        let at = self.epoch + Duration::from_nanos(word & NANOS_MASK);
        Some(Sent { at, measured: word & MEASURED_BIT != 0 })
    }

    /// Packets sent inside the measured window.
    pub fn measured(&self) -> u64 {
        self.measured.load(Ordering::Relaxed)
    }
}

/// One listener's view of one speaker's stream, over the measured window.
#[derive(Debug, Default, Clone)]
pub struct StreamStats {
    /// Measured packets received (a duplicate counts again; see `out_of_order`).
    pub received: u64,
    /// Arrivals whose sequence number is not after every earlier one's: reordered or duplicated.
    pub out_of_order: u64,
    highest_sequence: Option<u16>,
    /// Transit time (arrival − send) of the previous arrival, in ns.
    last_transit_ns: Option<i128>,
    /// RFC 3550 §6.4.1 interarrival jitter, in ns: the running mean of the transit-time difference of
    /// consecutive arrivals, with gain 1/16.
    pub jitter_ns: f64,
}

impl StreamStats {
    /// Counts an arrival of `sequence` that took `transit` (arrival − the speaker's send instant);
    /// returns the change of transit time from the previous arrival (|D| of RFC 3550), if there was one.
    pub fn arrival(&mut self, sequence: u16, transit: Duration) -> Option<Duration> {
        self.received += 1;
        // Serial-number order (RFC 1982): after the highest so far when less than half the space ahead.
        match self.highest_sequence {
            Some(highest) if matches!(sequence.wrapping_sub(highest), 0 | 0x8000..) => self.out_of_order += 1,
            _ => self.highest_sequence = Some(sequence),
        }
        let transit_ns = transit.as_nanos() as i128;
        let d = self.last_transit_ns.map(|last| (transit_ns - last).unsigned_abs());
        self.last_transit_ns = Some(transit_ns);
        let d = d?;
        self.jitter_ns += (d as f64 - self.jitter_ns) / 16.0;
        Some(Duration::from_nanos(u64::try_from(d).unwrap_or(u64::MAX)))
    }
}

/// Everything one listener measured: each speaker's stream (by stream id) and the histograms over all
/// of them. Shared between the listener's track readers behind a mutex: each arrival holds it for a few
/// additions.
#[derive(Debug, Default)]
pub struct Heard {
    pub streams: std::collections::HashMap<String, StreamStats>,
    /// Arrival − the speaker's send instant.
    pub forwarding: Latency,
    /// |D|: how much each arrival's transit time differs from the previous one's on its stream.
    pub variation: Latency,
}

impl Heard {
    /// Counts a measured arrival from `stream`.
    pub fn arrival(&mut self, stream: &str, sequence: u16, transit: Duration) {
        self.forwarding.record(transit);
        let stats = match self.streams.get_mut(stream) {
            Some(s) => s,
            None => self.streams.entry(stream.to_owned()).or_default(),
        };
        if let Some(d) = stats.arrival(sequence, transit) {
            self.variation.record(d);
        }
    }
}

/// A listener's [`Heard`], shared with its receive hook.
pub type SharedHeard = Arc<Mutex<Heard>>;

/// Locks a listener's tally; a poisoned one is still a consistent tally (its holder only adds).
pub fn lock(heard: &SharedHeard) -> std::sync::MutexGuard<'_, Heard> {
    heard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Loss and jitter over a run's listeners.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Delivery {
    /// Measured packets sent × the listeners of their room.
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    /// lost ÷ expected, in percent.
    pub loss_percent: f64,
    pub out_of_order: u64,
    /// RFC 3550 jitter at the end of the window: the mean and the largest over listener streams, µs.
    pub jitter_mean_us: f64,
    pub jitter_max_us: f64,
}

impl Delivery {
    /// Sums `streams` (every listener's stream of every speaker) against `expected` deliveries.
    pub fn of<'a>(expected: u64, streams: impl IntoIterator<Item = &'a StreamStats>) -> Delivery {
        let (mut received, mut out_of_order, mut count, mut sum, mut max) = (0, 0, 0u64, 0.0, 0.0f64);
        for s in streams {
            received += s.received;
            out_of_order += s.out_of_order;
            count += 1;
            sum += s.jitter_ns;
            max = max.max(s.jitter_ns);
        }
        // Duplicates would count twice; a loss is a packet missing, never a negative number.
        let lost = expected.saturating_sub(received);
        Delivery {
            expected,
            received,
            lost,
            loss_percent: if expected == 0 { 0.0 } else { 100.0 * lost as f64 / expected as f64 },
            out_of_order,
            jitter_mean_us: if count == 0 { 0.0 } else { sum / count as f64 / 1_000.0 },
            jitter_max_us: max / 1_000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_log_finds_recent_packets_and_marks_the_window() {
        let epoch = Instant::now();
        let window = Arc::new(AtomicBool::new(false));
        let log = SendLog::new(epoch, window.clone());
        let at = |ms| epoch + Duration::from_millis(ms);
        assert_eq!(log.lookup(7), None, "nothing sent yet");
        log.record(65_535, at(1));
        window.store(true, Ordering::Relaxed);
        log.record(0, at(21));
        log.record(1, at(41));
        assert_eq!(log.lookup(65_535), Some(Sent { at: at(1), measured: false }));
        assert_eq!(log.lookup(0), Some(Sent { at: at(21), measured: true }));
        assert_eq!(log.measured(), 2);
        // A sequence number a ring's length later takes the slot: the older packet is forgotten.
        log.record(1 + SEND_RING as u16, at(99));
        assert_eq!(log.lookup(1), None);
        assert_eq!(log.lookup(1 + SEND_RING as u16).map(|s| s.at), Some(at(99)));
    }

    #[test]
    fn jitter_follows_rfc_3550_and_steady_transit_has_none() {
        let mut steady = StreamStats::default();
        for seq in 0..100u16 {
            steady.arrival(seq, Duration::from_micros(500));
        }
        assert_eq!((steady.received, steady.out_of_order), (100, 0));
        assert_eq!(steady.jitter_ns, 0.0);

        // Transit alternating 1 ms and 3 ms: |D| is always 2 ms, and J climbs toward it by 1/16 a step.
        let mut s = StreamStats::default();
        assert_eq!(s.arrival(0, Duration::from_millis(1)), None, "no previous arrival");
        assert_eq!(s.arrival(1, Duration::from_millis(3)), Some(Duration::from_millis(2)));
        assert!((s.jitter_ns - 2e6 / 16.0).abs() < 1e-6, "{}", s.jitter_ns);
        for seq in 2..400u16 {
            s.arrival(seq, Duration::from_millis(if seq % 2 == 0 { 1 } else { 3 }));
        }
        assert!((s.jitter_ns - 2e6).abs() < 1e3, "converges on |D|: {}", s.jitter_ns);
    }

    #[test]
    fn reordering_and_duplicates_are_counted_across_the_wrap() {
        let mut s = StreamStats::default();
        for seq in [65_534, 65_535, 0, 2, 1, 2] {
            s.arrival(seq, Duration::from_millis(1));
        }
        assert_eq!((s.received, s.out_of_order), (6, 2), "1 after 2, then 2 again");
    }

    #[test]
    fn loss_is_what_never_arrived() {
        let full = StreamStats { received: 100, ..StreamStats::default() };
        let short = StreamStats { received: 97, jitter_ns: 4_000.0, ..StreamStats::default() };
        let d = Delivery::of(200, [&full, &short]);
        assert_eq!((d.expected, d.received, d.lost), (200, 197, 3));
        assert!((d.loss_percent - 1.5).abs() < 1e-9);
        assert_eq!((d.jitter_mean_us, d.jitter_max_us), (2.0, 4.0));
        // More received than expected (duplicates) is no loss, never a wrap-around.
        assert_eq!(Delivery::of(50, [&full]).lost, 0);
        assert_eq!(Delivery::of(0, []), Delivery::default());
    }

    #[test]
    fn a_listener_tallies_each_speaker_apart() {
        let mut h = Heard::default();
        h.arrival("7", 10, Duration::from_micros(300));
        h.arrival("7", 11, Duration::from_micros(500));
        h.arrival("9", 10, Duration::from_micros(400));
        assert_eq!(h.streams.len(), 2);
        assert_eq!(h.streams["7"].received, 2);
        assert_eq!((h.forwarding.count(), h.variation.count()), (3, 1));
    }
}
