//! Framing tests against golden bytes produced by the JavaScript reference implementation.
//!
//! The `GOLDEN_*` constants were produced once with node 20 and yjs 13.6.33, y-protocols 1.0.7 and
//! lib0 0.2.120 (a scratch npm project outside the repository). The script:
//! - `doc = new Y.Doc(); doc.clientID = 42`; `t = new Y.Text(); doc.getMap('files').set('main.py', t)`;
//!   `t.insert(0, "print('hi')\n")`.
//! - step 1: `writeVarUint(e, 0); syncProtocol.writeSyncStep1(e, doc)`.
//! - step 2: `writeVarUint(e, 0); syncProtocol.writeSyncStep2(e, doc, Y.encodeStateVector(new Y.Doc()))`
//!   (the answer to an empty state vector).
//! - update: the `doc.on('update')` payload of a following `t.insert(0, '# ')`, written with
//!   `writeVarUint(e, 0); syncProtocol.writeUpdate(e, update)`.
//! - awareness: `aw = new Awareness(doc); aw.setLocalState({user: {name: 'Ada', color: '#30bced'}})`
//!   (clock 1), written with `writeVarUint(e, 1); writeVarUint8Array(e, encodeAwarenessUpdate(aw, [42]))`.
//! - permission denied: `writeVarUint(e, 2); authProtocol.writePermissionDenied(e, 'read-only')`.
//! - query awareness: `writeVarUint(e, 3)`.

use std::collections::HashMap;
use std::sync::Arc;

use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::{ClientID, Doc, GetString, Map, Out, ReadTxn, StateVector, Transact};

use super::*;

/// Sync step 1: `[0 sync][0 step1][len 3][sv: 1 client, 42 → clock 13]`.
const GOLDEN_STEP1: &[u8] = &[0x00, 0x00, 0x03, 0x01, 0x2a, 0x0d];
/// Offset of the step 1 payload (state vector) in [`GOLDEN_STEP1`].
const STEP1_PAYLOAD: Range<usize> = 3..6;

/// Sync step 2 answering an empty state vector: the whole doc (`files` → `main.py` → "print('hi')\n").
const GOLDEN_STEP2: &[u8] = &[
    0x00, 0x01, 0x27, 0x01, 0x02, 0x2a, 0x00, 0x27, 0x01, 0x05, 0x66, 0x69, 0x6c, 0x65, 0x73, 0x07, 0x6d,
    0x61, 0x69, 0x6e, 0x2e, 0x70, 0x79, 0x02, 0x04, 0x00, 0x2a, 0x00, 0x0c, 0x70, 0x72, 0x69, 0x6e, 0x74,
    0x28, 0x27, 0x68, 0x69, 0x27, 0x29, 0x0a, 0x00,
];
const STEP2_PAYLOAD: Range<usize> = 3..42;

/// Update message: inserting "# " at offset 0 of `main.py`.
const GOLDEN_UPDATE: &[u8] =
    &[0x00, 0x02, 0x0b, 0x01, 0x01, 0x2a, 0x0d, 0x44, 0x2a, 0x01, 0x02, 0x23, 0x20, 0x00];
const UPDATE_PAYLOAD: Range<usize> = 3..14;

/// Awareness message: client 42, clock 1, state `{"user":{"name":"Ada","color":"#30bced"}}`.
const GOLDEN_AWARENESS: &[u8] = &[
    0x01, 0x2d, 0x01, 0x2a, 0x01, 0x29, 0x7b, 0x22, 0x75, 0x73, 0x65, 0x72, 0x22, 0x3a, 0x7b, 0x22, 0x6e,
    0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0x41, 0x64, 0x61, 0x22, 0x2c, 0x22, 0x63, 0x6f, 0x6c, 0x6f, 0x72,
    0x22, 0x3a, 0x22, 0x23, 0x33, 0x30, 0x62, 0x63, 0x65, 0x64, 0x22, 0x7d, 0x7d,
];
const AWARENESS_PAYLOAD: Range<usize> = 2..47;
const AWARENESS_JSON: &str = r##"{"user":{"name":"Ada","color":"#30bced"}}"##;

/// Auth message: permission denied, reason "read-only".
const GOLDEN_DENIED: &[u8] = &[0x02, 0x00, 0x09, 0x72, 0x65, 0x61, 0x64, 0x2d, 0x6f, 0x6e, 0x6c, 0x79];

/// Query-awareness message.
const GOLDEN_QUERY: &[u8] = &[0x03];

/// Splits a frame that must hold exactly one message spanning the whole frame.
fn split_one(frame: &[u8]) -> MessageKind {
    let msgs = split_frame(frame).expect("golden frame splits");
    assert_eq!(msgs.len(), 1, "one message in {frame:?}");
    assert_eq!(msgs[0].message, 0..frame.len(), "message range covers the frame");
    msgs[0].kind.clone()
}

fn main_py(doc: &Doc) -> Option<String> {
    let files = doc.get_or_insert_map("files");
    let txn = doc.transact();
    match files.get(&txn, "main.py")? {
        Out::YText(text) => Some(text.get_string(&txn)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Splitting the goldens

#[test]
fn split_step1() {
    assert_eq!(split_one(GOLDEN_STEP1), MessageKind::SyncStep1 { state_vector: STEP1_PAYLOAD });
}

#[test]
fn split_step2() {
    assert_eq!(split_one(GOLDEN_STEP2), MessageKind::SyncStep2 { update: STEP2_PAYLOAD });
}

#[test]
fn split_update() {
    assert_eq!(split_one(GOLDEN_UPDATE), MessageKind::Update { update: UPDATE_PAYLOAD });
}

#[test]
fn split_awareness() {
    assert_eq!(split_one(GOLDEN_AWARENESS), MessageKind::Awareness { update: AWARENESS_PAYLOAD });
    assert_eq!(&GOLDEN_AWARENESS[AWARENESS_PAYLOAD][4..], AWARENESS_JSON.as_bytes());
}

#[test]
fn split_permission_denied() {
    assert_eq!(split_one(GOLDEN_DENIED), MessageKind::Auth);
}

#[test]
fn split_query_awareness() {
    assert_eq!(split_one(GOLDEN_QUERY), MessageKind::QueryAwareness);
}

#[test]
fn split_two_concatenated_messages() {
    let mut frame = GOLDEN_STEP1.to_vec();
    frame.extend_from_slice(GOLDEN_AWARENESS);
    let msgs = split_frame(&frame).unwrap();
    let n = GOLDEN_STEP1.len();
    assert_eq!(
        msgs,
        vec![
            FrameMessage { kind: MessageKind::SyncStep1 { state_vector: STEP1_PAYLOAD }, message: 0..n },
            FrameMessage {
                kind: MessageKind::Awareness {
                    update: AWARENESS_PAYLOAD.start + n..AWARENESS_PAYLOAD.end + n
                },
                message: n..frame.len(),
            },
        ]
    );
    // Each message range is itself a valid one-message frame, byte-identical to its golden.
    assert_eq!(&frame[msgs[0].message.clone()], GOLDEN_STEP1);
    assert_eq!(&frame[msgs[1].message.clone()], GOLDEN_AWARENESS);
}

#[test]
fn split_all_goldens_concatenated() {
    let goldens = [GOLDEN_STEP1, GOLDEN_STEP2, GOLDEN_UPDATE, GOLDEN_AWARENESS, GOLDEN_DENIED, GOLDEN_QUERY];
    let frame = goldens.concat();
    let msgs = split_frame(&frame).unwrap();
    assert_eq!(msgs.len(), goldens.len());
    for (msg, golden) in msgs.iter().zip(goldens) {
        assert_eq!(&frame[msg.message.clone()], golden);
    }
}

#[test]
fn split_extension() {
    let frame = [EXT_ROOM_EVENT, 0x03, 0xaa, 0xbb, 0xcc];
    assert_eq!(split_one(&frame), MessageKind::Extension { tag: EXT_ROOM_EVENT, payload: 2..5 });
    let frame = [EXT_LAST, 0x00];
    assert_eq!(split_one(&frame), MessageKind::Extension { tag: EXT_LAST, payload: 2..2 });
    // One past the reserved range is unknown.
    assert_eq!(split_frame(&[EXT_LAST + 1, 0x00]), Err(FrameError::UnknownType(120)));
    assert_eq!(split_frame(&[EXT_FIRST - 1, 0x00]), Err(FrameError::UnknownType(99)));
}

#[test]
fn split_permission_granted_has_no_reason() {
    // y-protocols reads a reason only after PERMISSION_DENIED (0).
    assert_eq!(split_one(&[0x02, 0x01]), MessageKind::Auth);
}

// ---------------------------------------------------------------------------------------------
// Our encoders reproduce the goldens

#[test]
fn encode_step1_matches_golden() {
    let sv = decode_state_vector(&GOLDEN_STEP1[STEP1_PAYLOAD]).unwrap();
    assert_eq!(sv.get(&ClientID::new(42)), 13);
    assert_eq!(encode_sync_step1(&sv), GOLDEN_STEP1);
}

#[test]
fn encode_step2_matches_golden() {
    let payload = &GOLDEN_STEP2[STEP2_PAYLOAD];
    let update = decode_update(payload).unwrap();
    assert_eq!(update.encode_v1(), payload, "yrs re-encodes the JS update byte-identically");
    assert_eq!(encode_sync_step2(&update.encode_v1()), GOLDEN_STEP2);

    // A yrs doc holding the same content answers an empty state vector with the same bytes.
    let doc = Doc::with_client_id(42);
    doc.transact_mut().apply_update(update).unwrap();
    assert_eq!(main_py(&doc).as_deref(), Some("print('hi')\n"));
    let full = doc.transact().encode_state_as_update_v1(&StateVector::default());
    assert_eq!(encode_sync_step2(&full), GOLDEN_STEP2);
    // And its step 1 is the golden step 1.
    assert_eq!(encode_sync_step1(&doc.transact().state_vector()), GOLDEN_STEP1);
}

#[test]
fn encode_update_matches_golden() {
    let payload = &GOLDEN_UPDATE[UPDATE_PAYLOAD];
    let update = decode_update(payload).unwrap();
    assert_eq!(update.encode_v1(), payload);
    assert_eq!(encode_update(&update.encode_v1()), GOLDEN_UPDATE);

    // Applied after step 2, the update yields the JS doc's final text.
    let doc = Doc::with_client_id(7);
    let base = decode_update(&GOLDEN_STEP2[STEP2_PAYLOAD]).unwrap();
    doc.transact_mut().apply_update(base).unwrap();
    doc.transact_mut().apply_update(update).unwrap();
    assert_eq!(main_py(&doc).as_deref(), Some("# print('hi')\n"));
    assert_eq!(doc.transact().state_vector().get(&ClientID::new(42)), 15);
}

#[test]
fn encode_awareness_matches_golden() {
    let decoded = decode_awareness(&GOLDEN_AWARENESS[AWARENESS_PAYLOAD]).unwrap();
    assert_eq!(decoded.clients.len(), 1);
    let entry = &decoded.clients[&ClientID::new(42)];
    assert_eq!(entry.clock, 1);
    assert_eq!(&*entry.json, AWARENESS_JSON);
    // With one client the encoding is deterministic (no HashMap iteration order involved).
    assert_eq!(encode_awareness(&decoded), GOLDEN_AWARENESS);

    // Built from scratch rather than decoded.
    let built = AwarenessUpdate {
        clients: HashMap::from([(
            ClientID::new(42),
            AwarenessUpdateEntry { clock: 1, json: Arc::from(AWARENESS_JSON) },
        )]),
    };
    assert_eq!(encode_awareness(&built), GOLDEN_AWARENESS);
}

#[test]
fn awareness_state_must_be_json() {
    // Same framing as the golden, with a state that is not JSON.
    let bad = AwarenessUpdate {
        clients: HashMap::from([(
            ClientID::new(42),
            AwarenessUpdateEntry { clock: 1, json: Arc::from("{\"user\":") },
        )]),
    };
    let frame = encode_awareness(&bad);
    let MessageKind::Awareness { update } = split_one(&frame) else { panic!("awareness frame") };
    assert!(matches!(decode_awareness(&frame[update]), Err(FrameError::InvalidPayload(_))));
    // `null` is JSON: it is how y-protocols announces that a client's state was removed.
    let removed = AwarenessUpdate {
        clients: HashMap::from([(
            ClientID::new(42),
            AwarenessUpdateEntry { clock: 2, json: Arc::from("null") },
        )]),
    };
    let frame = encode_awareness(&removed);
    assert_eq!(frame[frame.len() - 4..], *b"null");
    decode_awareness(&frame[2..]).unwrap();
}

#[test]
fn encode_permission_denied_matches_golden() {
    assert_eq!(encode_permission_denied("read-only"), GOLDEN_DENIED);
}

#[test]
fn encode_query_awareness_matches_golden() {
    assert_eq!(encode_query_awareness(), GOLDEN_QUERY);
}

#[test]
fn our_encodings_split_back() {
    let sv = decode_state_vector(&GOLDEN_STEP1[STEP1_PAYLOAD]).unwrap();
    let frame = encode_sync_step1(&sv);
    assert!(matches!(split_one(&frame), MessageKind::SyncStep1 { .. }));
    assert!(
        matches!(split_one(&encode_sync_step2(&[0, 0])), MessageKind::SyncStep2 { update } if update == (3..5))
    );
    assert!(matches!(split_one(&encode_update(&[0, 0])), MessageKind::Update { update } if update == (3..5)));
    assert_eq!(split_one(&encode_permission_denied("")), MessageKind::Auth);
    assert_eq!(split_one(&encode_query_awareness()), MessageKind::QueryAwareness);
}

// ---------------------------------------------------------------------------------------------
// Decoders accept the golden payloads

#[test]
fn decoders_accept_golden_payloads() {
    decode_state_vector(&GOLDEN_STEP1[STEP1_PAYLOAD]).unwrap();
    decode_update(&GOLDEN_STEP2[STEP2_PAYLOAD]).unwrap();
    decode_update(&GOLDEN_UPDATE[UPDATE_PAYLOAD]).unwrap();
    decode_awareness(&GOLDEN_AWARENESS[AWARENESS_PAYLOAD]).unwrap();
}

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
