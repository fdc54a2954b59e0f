//! Awareness as the server's edge reads it: whatever a client sends is refused, or decodes to states that
//! the edge vets as the connection's identity (`room::vet`: every state JSON, and whether it already
//! shows the token's name and role), and that encode and decode again to the same states, so what the
//! room relays is what was checked.
#![no_main]

use handoff_protocol::{Role, frame};
use handoff_server::test_support::room::{Identity, vet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: handoff_fuzz::contain_panics(), |data: &[u8]| {
    let Ok(update) = frame::decode_awareness_entries(data) else { return };
    let who = Identity { conn_id: 1, name: "Cam Candidate".into(), role: Role::Candidate };
    if vet(&update, &who).is_err() {
        return;
    }
    let message = frame::encode_awareness(&update);
    let parts = frame::split_frame(&message).expect("our own encoding splits");
    let [part] = parts.as_slice() else { panic!("one message") };
    let frame::MessageKind::Awareness { update: range } = part.kind.clone() else { panic!("an awareness message") };
    let again = frame::decode_awareness_entries(&message[range]).expect("our own encoding decodes");
    assert_eq!(again.clients.len(), update.clients.len());
    for (client, entry) in &update.clients {
        let other = &again.clients[client];
        assert_eq!((other.clock, &other.json), (entry.clock, &entry.json));
    }
    assert_eq!(vet(&again, &who), vet(&update, &who), "the states vet the same after the round trip");
});
