//! Malformed frames, and garbage payloads that must never panic out of the decoders.

use super::*;

// ---------------------------------------------------------------------------------------------
// Malformed frames

#[test]
fn empty_frame() {
    assert_eq!(split_frame(&[]), Err(FrameError::Empty));
}

#[test]
fn truncated_varint() {
    assert!(matches!(split_frame(&[0x80]), Err(FrameError::Truncated(_))));
    // Sync type present, subtype varint cut.
    assert!(matches!(split_frame(&[0x00, 0x80]), Err(FrameError::Truncated(_))));
    // Sync message with no payload length at all.
    assert!(matches!(split_frame(&[0x00, 0x00]), Err(FrameError::Truncated(_))));
    // Auth message with no flag.
    assert!(matches!(split_frame(&[0x02]), Err(FrameError::Truncated(_))));
}

#[test]
fn length_prefix_past_end() {
    // Step 1 claiming 4 payload bytes with 3 present.
    assert!(matches!(split_frame(&[0x00, 0x00, 0x04, 0x01, 0x2a, 0x0d]), Err(FrameError::Truncated(_))));
    // Every strict prefix of a golden is truncated.
    for golden in [GOLDEN_STEP1, GOLDEN_STEP2, GOLDEN_UPDATE, GOLDEN_AWARENESS, GOLDEN_DENIED] {
        for cut in 1..golden.len() {
            assert!(
                matches!(split_frame(&golden[..cut]), Err(FrameError::Truncated(_))),
                "prefix {cut} of {golden:?}"
            );
        }
    }
    // A valid message followed by a truncated one fails as a whole.
    let mut frame = GOLDEN_QUERY.to_vec();
    frame.extend_from_slice(&GOLDEN_AWARENESS[..10]);
    assert!(matches!(split_frame(&frame), Err(FrameError::Truncated(_))));
    // A length that does not fit in usize arithmetic.
    let frame = [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert!(matches!(split_frame(&frame), Err(FrameError::Truncated(_))));
}

#[test]
fn varint_overflow() {
    // 11 continuation bytes: more than the 10 groups a u64 needs.
    assert_eq!(split_frame(&[0xff; 11]), Err(FrameError::VarintOverflow));
    assert_eq!(split_frame(&[0x80; 12]), Err(FrameError::VarintOverflow));
    // A 10th group with more than the one bit that fits must not wrap around: `0x80 ×9, 0x02` is
    // 2^64, which would wrap to 0 (= a sync message) if the high bits were silently dropped.
    let mut frame = vec![0x80; 9];
    frame.push(0x02);
    frame.extend_from_slice(&GOLDEN_STEP1[1..]);
    assert_eq!(split_frame(&frame), Err(FrameError::VarintOverflow));
    // u64::MAX itself (10 bytes, last group 0x01) is a valid varint: an unknown type.
    let mut frame = vec![0xff; 9];
    frame.push(0x01);
    assert_eq!(split_frame(&frame), Err(FrameError::UnknownType(u64::MAX)));
    // Non-minimal but in-range encodings are accepted, as lib0 does: 0x80 0x00 is 0.
    assert!(matches!(
        split_frame(&[0x80, 0x00, 0x00, 0x00]),
        Ok(m) if m[0].kind == MessageKind::SyncStep1 { state_vector: 4..4 }
    ));
}

#[test]
fn unknown_message_type() {
    assert_eq!(split_frame(&[0x07]), Err(FrameError::UnknownType(7)));
    assert_eq!(split_frame(&[0x04, 0x00]), Err(FrameError::UnknownType(4)));
    // A known message followed by an unknown one fails as a whole.
    let mut frame = GOLDEN_QUERY.to_vec();
    frame.push(0x07);
    assert_eq!(split_frame(&frame), Err(FrameError::UnknownType(7)));
}

#[test]
fn unknown_sync_type() {
    assert_eq!(split_frame(&[0x00, 0x05, 0x00]), Err(FrameError::UnknownSyncType(5)));
    assert_eq!(split_frame(&[0x00, 0x03, 0x01, 0x00]), Err(FrameError::UnknownSyncType(3)));
}

// ---------------------------------------------------------------------------------------------
// Garbage payloads never panic out of the decoders

/// A fixed-seed 64-bit LCG (Knuth's MMIX constants); the high byte of each step is the output.
struct Lcg(u64);

impl Lcg {
    fn next_u8(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8
    }
}

fn assert_ok_or_invalid<T: std::fmt::Debug>(r: Result<T, FrameError>, input: &[u8]) {
    match r {
        Ok(_) | Err(FrameError::InvalidPayload(_)) => {}
        Err(other) => panic!("unexpected error {other:?} for {input:?}"),
    }
}

/// yrs `debug_assert!`s that a decoded client id fits in 53 bits, so some of these inputs panic inside
/// yrs in debug builds; the decoders must contain that (in release builds the assertion is compiled out).
#[test]
fn garbage_update_payloads() {
    let fixed: &[&[u8]] = &[
        &[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3],
        &[],
        &[0x01],
        &[0x01, 0x01, 0x2a, 0x00, 0xff],
        &GOLDEN_STEP2[STEP2_PAYLOAD.start..STEP2_PAYLOAD.end - 5],
    ];
    for input in fixed {
        assert_ok_or_invalid(decode_update(input), input);
        assert_ok_or_invalid(decode_state_vector(input), input);
        assert_ok_or_invalid(decode_awareness(input), input);
    }
    assert!(matches!(
        decode_update(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]),
        Err(FrameError::InvalidPayload(_))
    ));

    let mut rng = Lcg(0x5eed_1234_abcd_0001);
    for _ in 0..500 {
        let len = usize::from(rng.next_u8() % 64);
        let input: Vec<u8> = (0..len).map(|_| rng.next_u8()).collect();
        assert_ok_or_invalid(decode_update(&input), &input);
        assert_ok_or_invalid(decode_state_vector(&input), &input);
        assert_ok_or_invalid(decode_awareness(&input), &input);
    }

    // Mutated goldens: plausible-looking updates with one byte flipped.
    for i in 0..500 {
        let mut input = GOLDEN_STEP2[STEP2_PAYLOAD].to_vec();
        let at = i % input.len();
        input[at] ^= rng.next_u8() | 1;
        assert_ok_or_invalid(decode_update(&input), &input);
    }
}

#[test]
fn garbage_frames_never_panic() {
    let mut rng = Lcg(42);
    for _ in 0..500 {
        let len = usize::from(rng.next_u8() % 32) + 1;
        let frame: Vec<u8> = (0..len).map(|_| rng.next_u8()).collect();
        if let Ok(msgs) = split_frame(&frame) {
            // Every range the splitter returns is inside the frame and the messages tile it.
            let mut pos = 0;
            for m in msgs {
                assert_eq!(m.message.start, pos);
                assert!(m.message.end <= frame.len());
                pos = m.message.end;
            }
            assert_eq!(pos, frame.len());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Close codes

#[test]
fn close_codes() {
    assert_eq!(FrameError::Empty.close_code(), CLOSE_PROTOCOL_ERROR);
    assert_eq!(FrameError::Truncated("x").close_code(), CLOSE_PROTOCOL_ERROR);
    assert_eq!(FrameError::VarintOverflow.close_code(), CLOSE_PROTOCOL_ERROR);
    assert_eq!(FrameError::UnknownType(7).close_code(), CLOSE_UNSUPPORTED);
    assert_eq!(FrameError::UnknownSyncType(5).close_code(), CLOSE_UNSUPPORTED);
    assert_eq!(FrameError::InvalidPayload("x".into()).close_code(), CLOSE_INVALID_PAYLOAD);
    assert_eq!([CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED, CLOSE_INVALID_PAYLOAD], [1002, 1003, 1007]);
}

// ---------------------------------------------------------------------------------------------
// Allocation bombs

#[test]
fn huge_leading_counts_are_refused_cheaply() {
    // A few bytes declaring ~2^28 (and 2^32 - 1) entries. yrs would reserve a hash map that size before
    // reading any entry; the decoders refuse the count up front.
    let bombs: &[&[u8]] = &[
        &[0xe8, 0xbc, 0xc2, 0x78],
        &[0xed, 0xbf, 0x81, 0xd0, 0x0a, 0x00],
        &[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3],
        &[0x05, 0x00, 0x00, 0x00],
    ];
    // The error is the up-front check's, so yrs never saw the payload.
    let refused = Err(FrameError::InvalidPayload("entry count exceeds payload size".into()));
    for bomb in bombs {
        assert_eq!(decode_update(bomb).map(drop), refused, "{bomb:?}");
        assert_eq!(decode_state_vector(bomb).map(drop), refused, "{bomb:?}");
        assert_eq!(decode_awareness(bomb).map(drop), refused, "{bomb:?}");
    }
    // A count equal to the payload length still goes to yrs (and fails there, not here).
    assert!(matches!(decode_state_vector(&[0x03, 0x01, 0x01]), Err(FrameError::InvalidPayload(_))));
    // Empty payloads are invalid for all three.
    assert!(matches!(decode_update(&[]), Err(FrameError::InvalidPayload(_))));
    assert!(matches!(decode_state_vector(&[]), Err(FrameError::InvalidPayload(_))));
    assert!(matches!(decode_awareness(&[]), Err(FrameError::InvalidPayload(_))));
}

#[test]
fn awareness_limits_close_with_policy_codes() {
    use crate::limits::{MAX_AWARENESS_ENTRIES_PER_MESSAGE, MAX_AWARENESS_STATE_BYTES};
    let update = |n: u64, json: &str| AwarenessUpdate {
        clients: (1..=n)
            .map(|i| (ClientID::new(i), AwarenessUpdateEntry { clock: 1, json: Arc::from(json) }))
            .collect(),
    };
    let payload = |u: &AwarenessUpdate| {
        let frame = encode_awareness(u);
        let MessageKind::Awareness { update } = split_one(&frame) else { panic!("awareness frame") };
        frame[update].to_vec()
    };
    let at_limit = payload(&update(MAX_AWARENESS_ENTRIES_PER_MESSAGE as u64, "{}"));
    assert_eq!(decode_awareness(&at_limit).unwrap().clients.len(), MAX_AWARENESS_ENTRIES_PER_MESSAGE);
    let over = payload(&update(MAX_AWARENESS_ENTRIES_PER_MESSAGE as u64 + 1, "{}"));
    let err = decode_awareness(&over).unwrap_err();
    assert_eq!(err, FrameError::AwarenessEntries(MAX_AWARENESS_ENTRIES_PER_MESSAGE as u64 + 1));
    assert_eq!(err.close_code(), CLOSE_POLICY);

    let fits = format!("\"{}\"", "x".repeat(MAX_AWARENESS_STATE_BYTES - 2));
    decode_awareness(&payload(&update(1, &fits))).unwrap();
    let big = format!("\"{}\"", "x".repeat(MAX_AWARENESS_STATE_BYTES - 1));
    let err = decode_awareness(&payload(&update(1, &big))).unwrap_err();
    assert_eq!(err.close_code(), CLOSE_TOO_BIG);

    // The same client twice: [count 2, (id 7, clock 1, "{}"), (id 7, clock 2, "{}")].
    let twice = [2, 7, 1, 2, b'{', b'}', 7, 2, 2, b'{', b'}'];
    assert!(matches!(decode_awareness(&twice), Err(FrameError::InvalidPayload(_))));
}
