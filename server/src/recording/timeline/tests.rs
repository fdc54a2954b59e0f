//! Crafted packet streams: in order, reordered, duplicated, wrapped, reset, muted and random. None may
//! panic, and whatever comes in, positions only go forward.

use super::*;

const FRAME: u32 = 960; // 20 ms
const T0: u64 = 1_700_000_000_000;

/// A 20 ms CELT packet that says which packet it was.
fn packet(seq: u16, timestamp: u32, arrived_at_ms: u64) -> Arrived {
    Arrived { seq, timestamp, arrived_at_ms, payload: vec![0xF8, (seq >> 8) as u8, seq as u8] }
}

/// The `n`th packet of a stream starting at `seq0`/`ts0`, arriving on time.
fn nth(seq0: u16, ts0: u32, n: u32) -> Arrived {
    packet(seq0.wrapping_add(n as u16), ts0.wrapping_add(n * FRAME), T0 + u64::from(n) * 20)
}

/// Pushes everything, then drains: what the file would get.
fn run(t: &mut Timeline, packets: impl IntoIterator<Item = Arrived>) -> (Vec<Placed>, Vec<Refused>) {
    let (mut placed, mut refused) = (Vec::new(), Vec::new());
    for p in packets {
        match t.push(p) {
            Ok(out) => placed.extend(out),
            Err(r) => refused.push(r),
        }
    }
    placed.extend(t.drain());
    (placed, refused)
}

fn audio_seqs(placed: &[Placed]) -> Vec<u16> {
    placed
        .iter()
        .filter_map(|p| match &p.payload {
            Payload::Audio(b) => Some(u16::from_be_bytes([b[1], b[2]])),
            Payload::Silence(_) => None,
        })
        .collect()
}

fn assert_forward(placed: &[Placed]) {
    for w in placed.windows(2) {
        assert!(w[1].end > w[0].end, "positions go forward: {w:?}");
    }
}

#[test]
fn an_ordered_stream_is_written_as_sent_from_the_first_arrival() {
    let mut t = Timeline::default();
    let (placed, refused) = run(&mut t, (0..150).map(|n| nth(100, 5_000, n)));
    assert!(refused.is_empty());
    assert_eq!(audio_seqs(&placed), (100..250).collect::<Vec<u16>>());
    assert_eq!(placed.last().unwrap().end, 150 * 960);
    assert_eq!(t.duration_ms(), 3_000);
    assert_eq!(t.started_at_ms(), Some(T0));
    assert_eq!(t.anchors(), [Anchor { at_ms: T0, sample: 0 }]);
    assert_forward(&placed);
}

#[test]
fn reordered_packets_are_put_back_in_order_and_duplicates_and_late_ones_refused() {
    let mut t = Timeline::default();
    let mut stream: Vec<Arrived> = (0..40).map(|n| nth(7, 0, n)).collect();
    stream.swap(3, 5);
    stream.swap(10, 11);
    stream.insert(20, nth(7, 0, 18)); // a duplicate still held
    stream.push(nth(7, 0, 2)); // far too late: its place was written
    let (placed, refused) = run(&mut t, stream);
    assert_eq!(audio_seqs(&placed), (7..47).collect::<Vec<u16>>());
    assert_eq!(refused, [Refused::Duplicate, Refused::Late]);
    assert_eq!(t.duration_ms(), 800);
    assert_forward(&placed);
}

#[test]
fn sequence_numbers_and_timestamps_wrap() {
    let mut t = Timeline::default();
    let (placed, refused) = run(&mut t, (0..100).map(|n| nth(65_500, u32::MAX - 10 * FRAME, n)));
    assert!(refused.is_empty());
    assert_eq!(audio_seqs(&placed).len(), 100);
    assert_eq!(placed.last().unwrap().end, 100 * 960, "no gap and no jump at the wrap");
    assert!(placed.iter().all(|p| matches!(p.payload, Payload::Audio(_))));
    assert_eq!(t.reanchors, 0);
}

#[test]
fn a_mute_becomes_silence_and_an_anchor_where_speech_resumes() {
    let mut t = Timeline::default();
    let mut stream: Vec<Arrived> = (0..50).map(|n| nth(0, 0, n)).collect();
    // Muted for two seconds: the SFU forwarded nothing, the sender's timestamps went on.
    stream.extend((150..200).map(|n| nth(0, 0, n)));
    let (placed, _) = run(&mut t, stream);
    assert_eq!(placed.last().unwrap().end, 200 * 960, "the gap is kept, not dropped");
    let silent: u64 = placed
        .iter()
        .zip(std::iter::once(0).chain(placed.iter().map(|p| p.end)))
        .filter(|(p, _)| matches!(p.payload, Payload::Silence(_)))
        .map(|(p, start)| p.end - start)
        .sum();
    assert_eq!(silent, 100 * 960);
    assert_eq!(
        t.anchors(),
        [Anchor { at_ms: T0, sample: 0 }, Anchor { at_ms: T0 + 3_000, sample: 150 * 960 }]
    );
    assert_eq!(t.reanchors, 0);
}

#[test]
fn timestamps_that_jump_or_go_back_yield_to_the_room_clock() {
    let mut t = Timeline::default();
    let mut stream: Vec<Arrived> = (0..50).map(|n| nth(0, 0, n)).collect();
    // The sender's timestamp leaps half the 32-bit range ahead, then resets far back, while packets
    // keep arriving every 20 ms.
    stream.extend(
        (50..100).map(|n| packet(n as u16, (n * FRAME).wrapping_add(1 << 31), T0 + u64::from(n) * 20)),
    );
    stream.extend((100..150).map(|n| packet(n as u16, n * FRAME / 7, T0 + u64::from(n) * 20)));
    let (placed, refused) = run(&mut t, stream);
    assert!(refused.is_empty());
    assert_forward(&placed);
    assert_eq!(audio_seqs(&placed).len(), 150);
    let end_ms = placed.last().unwrap().end / 48;
    assert!((2_990..=3_100).contains(&end_ms), "the file keeps the room's pace: {end_ms} ms");
    assert_eq!(t.reanchors, 2);
    assert_eq!(t.anchors().len(), 3);
}

#[test]
fn a_restarted_sequence_goes_on_after_what_was_written() {
    let mut t = Timeline::default();
    let mut stream: Vec<Arrived> = (0..30).map(|n| nth(40_000, 0, n)).collect();
    stream.extend((30..60).map(|n| nth(1_000, 7, n)));
    let (placed, refused) = run(&mut t, stream);
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(audio_seqs(&placed).len(), 60);
    assert_forward(&placed);
}

#[test]
fn invalid_packets_are_refused_and_a_too_long_recording_stops() {
    let mut t = Timeline::default();
    let bad = Arrived { seq: 1, timestamp: 0, arrived_at_ms: T0, payload: vec![] };
    assert_eq!(t.push(bad).unwrap_err(), Refused::Invalid);
    t.next_sample = MAX_RECORDING_MS * 48;
    assert_eq!(t.push(nth(0, 0, 0)).unwrap_err(), Refused::TooLong);
}

#[test]
fn anchors_follow_the_room_clock_every_few_seconds() {
    let mut t = Timeline::default();
    let minute = 60_000 / 20;
    let (_, _) = run(&mut t, (0..minute).map(|n| nth(0, 0, n)));
    let anchors = t.anchors();
    assert_eq!(anchors.len() as u64, 60_000 / ANCHOR_EVERY_MS);
    for a in anchors {
        assert_eq!(a.sample, (a.at_ms - T0) * 48, "{a:?}");
    }
}

#[test]
fn random_streams_never_panic_and_only_go_forward() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..200 {
        let mut t = Timeline::default();
        let mut at = T0;
        let packets: Vec<Arrived> = (0..300)
            .map(|_| {
                let r = next();
                at = at.saturating_add(r % 50).saturating_sub((r >> 8) % 5);
                let payload = match r % 7 {
                    0 => vec![],
                    1 => vec![0xFB, (r >> 16) as u8],
                    _ => vec![(r >> 24) as u8, 1, 2],
                };
                Arrived {
                    seq: (r >> 32) as u16 % 64,
                    timestamp: (r >> 40) as u32,
                    arrived_at_ms: at,
                    payload,
                }
            })
            .collect();
        let (placed, _) = run(&mut t, packets);
        assert_forward(&placed);
        let anchors = t.anchors();
        for w in anchors.windows(2) {
            assert!(w[1].at_ms > w[0].at_ms && w[1].sample > w[0].sample, "{w:?}");
        }
    }
}
