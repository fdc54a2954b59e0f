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

mod malformed;
