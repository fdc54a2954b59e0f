//! Awareness decoding: whatever a client sends is refused, or decodes to states that encode and decode
//! again to the same states (what the server relays is what it checked). Whether each state is JSON is
//! the decoder's own check; it admits what a browser's `JSON.parse` admits, numbers out of f64's range
//! included (`999e999` is Infinity there), so serde_json's stricter `Value` is not the yardstick.
#![no_main]

use handoff_protocol::frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: handoff_fuzz::contain_panics(), |data: &[u8]| {
    let Ok(update) = frame::decode_awareness(data) else { return };
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
