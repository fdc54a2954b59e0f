//! Frame splitting: any bytes a client sends either split into messages whose ranges lie inside the
//! frame, each of which is itself a one-message frame of the same kind, or are refused with an error
//! that names a close code. Payload decoding never panics past the protocol crate.
#![no_main]

use handoff_protocol::frame::{self, MessageKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: handoff_fuzz::contain_panics(), |data: &[u8]| {
    let Ok(parts) = frame::split_frame(data) else { return };
    let mut end = 0;
    for part in parts {
        assert_eq!(part.message.start, end, "messages are contiguous");
        end = part.message.end;
        let message = &data[part.message.clone()];
        let again = frame::split_frame(message).expect("a split message is a frame by itself");
        assert_eq!(again.len(), 1, "one message per split part");
        assert_eq!(
            std::mem::discriminant(&again[0].kind),
            std::mem::discriminant(&part.kind),
            "the same kind when split alone"
        );
        // Decoding contains yrs' panics; an error is fine, a panic here is a finding.
        match part.kind {
            MessageKind::SyncStep1 { state_vector } => drop(frame::decode_state_vector(&data[state_vector])),
            MessageKind::SyncStep2 { update } | MessageKind::Update { update } => drop(frame::decode_update(&data[update])),
            MessageKind::Awareness { update } => drop(frame::decode_awareness(&data[update])),
            MessageKind::QueryAwareness | MessageKind::Auth | MessageKind::Extension { .. } => {}
        }
    }
    assert_eq!(end, data.len(), "the whole frame is consumed");
});
