//! Awareness decoding: whatever a client sends either is refused or decodes to states that are all JSON
//! and that encode and decode again to the same states (what the server relays is what it checked).
#![no_main]

use handoff_protocol::frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: handoff_fuzz::contain_panics(), |data: &[u8]| {
    let Ok(update) = frame::decode_awareness(data) else { return };
    for entry in update.clients.values() {
        assert!(serde_json::from_str::<serde_json::Value>(&entry.json).is_ok(), "accepted state is JSON");
    }
    let message = frame::encode_awareness(&update);
    let parts = frame::split_frame(&message).expect("our own encoding splits");
    let [part] = parts.as_slice() else { panic!("one message") };
    let frame::Kind::Awareness { update: range } = part.kind.clone() else { panic!("an awareness message") };
    let again = frame::decode_awareness(&message[range]).expect("our own encoding decodes");
    assert_eq!(again.clients.len(), update.clients.len());
    for (client, entry) in &update.clients {
        let other = &again.clients[client];
        assert_eq!((other.clock, &other.json), (entry.clock, &entry.json));
    }
});
