//! The room core driven directly: inputs in, frames and events out, time given by hand. No sockets, no
//! tasks, no sleeping.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use handoff_protocol::api::FileEntry;
use handoff_protocol::export::PresenceKind;
use handoff_protocol::frame::{
    self, CLOSE_INVALID_PAYLOAD, CLOSE_ROOM_ENDED, CLOSE_SLOW_CONSUMER, EXT_FIRST, MessageKind,
};
use handoff_protocol::limits::SNAPSHOT_EVERY_UPDATES;
use handoff_protocol::{Role, schema};
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;
use yrs::{ClientID, Doc, GetString, Out, ReadTxn, StateVector, Text, Transact};

use super::*;
use crate::room::accepted_update;
use crate::store::RoomState;
#[path = "../../../tests/common/breaking.rs"]
mod breaking;
use breaking::breaking;

const IDLE_EVICT: Duration = Duration::from_secs(30);

/// A room core over a one-file submission, and the submission's preload for clients to start from.
fn room() -> (RoomCore<()>, Vec<u8>) {
    room_ordered_by(LogOrder::Room)
}

fn room_ordered_by(order: LogOrder) -> (RoomCore<()>, Vec<u8>) {
    let preload = schema::initial_update(&[FileEntry { path: "main.py".into(), content: "x\n".into() }]);
    let state = RoomState { snapshot: None, tail: vec![(1, preload.clone())] };
    let doc = rebuild(&state).expect("the preload applies");
    (RoomCore::new(Arc::from("room-1"), doc, 2, 1, SNAPSHOT_EVERY_UPDATES, IDLE_EVICT, order), preload)
}

fn at(room_ms: u64) -> Now {
    Now { room_ms, wall_ms: 1_700_000_000_000 + room_ms }
}

fn who(conn_id: u64, role: Role) -> Identity {
    Identity { conn_id, name: Arc::from(format!("user {conn_id}")), role }
}

fn join(core: &mut RoomCore<()>, conn_id: u64, role: Role, extensions: Extensions, now: Now) {
    core.join(who(conn_id, role), extensions, (), now).expect("the room takes the joiner");
}

/// A client document that starts from the preload, to type into.
struct Typist {
    doc: Doc,
}

impl Typist {
    fn new(client: u64, preload: &[u8]) -> Typist {
        let doc = Doc::with_client_id(client);
        let _ = schema::files_root(&doc);
        doc.transact_mut().apply_update(frame::decode_update(preload).expect("decodes")).expect("applies");
        Typist { doc }
    }

    /// Types `text` at the end of main.py and returns that edit as the message a client sends.
    fn types(&self, text: &str) -> ClientMessage {
        let before = self.doc.transact().state_vector();
        let root = schema::files_root(&self.doc);
        let file = {
            let txn = self.doc.transact();
            match yrs::Map::get(&root, &txn, "main.py") {
                Some(Out::YText(t)) => t,
                _ => panic!("main.py is text"),
            }
        };
        let len = file.get_string(&self.doc.transact()).len() as u32;
        file.insert(&mut self.doc.transact_mut(), len, text);
        let payload = Bytes::from(self.doc.transact().encode_diff_v1(&before));
        let update = accepted_update(&payload).expect("the edge accepts it");
        let message = Bytes::from(frame::encode_update(&payload));
        ClientMessage::Update { update, payload, message, step2: false }
    }
}

fn cursor(client: u64, who: &Identity) -> ClientMessage {
    let json = format!(r#"{{"user":{{"name":"{}","role":"{}"}}}}"#, who.name, who.role.as_str());
    let entry = AwarenessUpdateEntry { clock: 1, json: json.into() };
    let update = AwarenessUpdate { clients: [(ClientID::new(client), entry)].into_iter().collect() };
    let message = Bytes::from(frame::encode_awareness(&update));
    ClientMessage::Awareness { update, message, conforming: true }
}

/// Takes every frame queued, per member.
fn sent(core: &mut RoomCore<()>) -> Vec<(u64, Vec<Bytes>)> {
    core.take_undelivered();
    let mut out: Vec<_> = core.outgoing().map(|(conn, (), frames)| (conn, std::mem::take(frames))).collect();
    out.sort_by_key(|(conn, _)| *conn);
    out
}

fn frames_for(sent: &[(u64, Vec<Bytes>)], conn: u64) -> Vec<Bytes> {
    sent.iter().find(|(c, _)| *c == conn).map(|(_, f)| f.clone()).unwrap_or_default()
}

fn kind(frame: &[u8]) -> MessageKind {
    frame::split_frame(frame).expect("a valid frame").remove(0).kind
}

/// The members removed since the last call, with their close codes (`None`: left or gone).
fn removed(core: &mut RoomCore<()>) -> Vec<(u64, Option<u16>)> {
    core.events()
        .filter_map(|e| match e {
            Event::Removed { conn_id, reason, .. } => Some((conn_id, reason.map(|r| r.code))),
            _ => None,
        })
        .collect()
}

#[test]
fn a_joiner_is_greeted_with_the_state_vector_then_presence_and_recorded() {
    let (mut core, _) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(5));
    core.receive(1, vec![cursor(10, &who(1, Role::Candidate))], at(6));
    join(&mut core, 2, Role::Interviewer, Extensions::default(), at(7));
    let out = sent(&mut core);
    let second = frames_for(&out, 2);
    assert!(matches!(kind(&second[0]), MessageKind::SyncStep1 { .. }), "our state vector first");
    assert!(matches!(kind(&second[1]), MessageKind::Awareness { .. }), "then everyone's presence");
    let moves: Vec<_> = core
        .events()
        .filter_map(|e| match e {
            Event::Moved { event, room_ms } => Some((event.kind, event.conn_id, event.at_ms, room_ms)),
            _ => None,
        })
        .collect();
    let wall = |ms| at(ms).wall_ms;
    assert_eq!(moves, vec![(PresenceKind::Join, 1, wall(5), 5), (PresenceKind::Join, 2, wall(7), 7)]);
    assert_eq!(core.member_count(), 2);
}

#[test]
fn an_update_reaches_the_others_not_its_sender_and_is_logged_with_both_clocks() {
    let (mut core, preload) = room();
    for conn in [1, 2, 3] {
        join(&mut core, conn, Role::Candidate, Extensions::default(), at(0));
    }
    sent(&mut core);
    let typist = Typist::new(101, &preload);
    let edit = typist.types("y");
    let ClientMessage::Update { message, .. } = &edit else { unreachable!() };
    let message = message.clone();
    core.receive(1, vec![edit], at(40));
    let out = sent(&mut core);
    assert!(frames_for(&out, 1).is_empty(), "nothing back to the sender");
    for other in [2, 3] {
        assert_eq!(frames_for(&out, other), vec![message.clone()], "forwarded byte for byte");
    }
    let logged = core.pending();
    assert_eq!(logged.len(), 1);
    assert_eq!((logged[0].entry.seq, logged[0].entry.conn_id), (2, 1));
    assert_eq!((logged[0].room_ms, logged[0].entry.at_ms), (40, at(40).wall_ms));
    assert!(!core.events().any(|e| matches!(e, Event::Accepted(_))), "a single node publishes nothing");
}

#[test]
fn with_the_bus_ordering_an_update_is_published_unnumbered_and_a_remote_one_reaches_everyone() {
    let (mut core, preload) = room_ordered_by(LogOrder::Bus);
    for conn in [1, 2] {
        join(&mut core, conn, Role::Candidate, Extensions::default(), at(0));
    }
    sent(&mut core);
    core.events().for_each(drop);
    core.receive(1, vec![Typist::new(101, &preload).types("y")], at(40));
    let published: Vec<LogEntry> = core
        .events()
        .filter_map(|e| match e {
            Event::Accepted(entry) => Some(entry),
            _ => None,
        })
        .collect();
    assert_eq!(published.len(), 1, "published for the bus to number");
    assert_eq!((published[0].seq, published[0].conn_id, &*published[0].author), (0, 1, "user 1"));
    assert!(core.pending().is_empty() && core.take_commit(at(50), true).is_none(), "the bus commits");
    sent(&mut core);

    // Another node's update: applied, forwarded to every member here, never published again.
    let ClientMessage::Update { update, payload, .. } = Typist::new(202, &preload).types("z") else {
        unreachable!()
    };
    core.remote_update(update, &payload);
    let out = sent(&mut core);
    for member in [1, 2] {
        assert_eq!(frames_for(&out, member).len(), 1, "member {member} gets the remote update");
    }
    assert!(!core.events().any(|e| matches!(e, Event::Accepted(_))), "not published again");
    assert!(!core.distrusted());
}

#[test]
fn an_observers_update_is_refused_and_it_is_told_once() {
    let (mut core, preload) = room();
    join(&mut core, 1, Role::Observer, Extensions::default(), at(0));
    join(&mut core, 2, Role::Candidate, Extensions::default(), at(0));
    sent(&mut core);
    let typist = Typist::new(101, &preload);
    core.receive(1, vec![typist.types("a"), typist.types("b")], at(10));
    let out = sent(&mut core);
    let told = frames_for(&out, 1);
    assert_eq!(told.len(), 1, "said once, not per keystroke");
    assert!(matches!(kind(&told[0]), MessageKind::Auth));
    assert!(frames_for(&out, 2).is_empty(), "nothing relayed");
    assert!(core.pending().is_empty(), "nothing logged");
    assert_eq!(core.deadlines().commit_since, None);
}

#[test]
fn a_slow_member_is_closed_with_4001_and_its_cursor_withdrawn() {
    let (mut core, _) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    join(&mut core, 2, Role::Interviewer, Extensions::default(), at(0));
    core.receive(1, vec![cursor(10, &who(1, Role::Candidate))], at(1));
    sent(&mut core);
    removed(&mut core);
    core.undeliverable(1, Undelivered::Full, at(2));
    assert_eq!(removed(&mut core), vec![(1, Some(CLOSE_SLOW_CONSUMER))]);
    let out = sent(&mut core);
    let withdrawal = frames_for(&out, 2);
    assert_eq!(withdrawal.len(), 1);
    assert!(matches!(kind(&withdrawal[0]), MessageKind::Awareness { .. }));
    // A connection that is gone is removed without a close.
    core.undeliverable(2, Undelivered::Gone, at(3));
    assert_eq!(removed(&mut core), vec![(2, None)]);
    assert_eq!(core.member_count(), 0);
}

#[test]
fn updates_wait_for_one_group_commit_and_a_failed_one_is_retried_first() {
    let (mut core, preload) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    let typist = Typist::new(101, &preload);
    core.receive(1, vec![typist.types("a")], at(100));
    core.receive(1, vec![typist.types("b")], at(180));
    assert_eq!(core.deadlines().commit_since, Some(100), "the oldest pending update's time");
    let commit = core.take_commit(at(600), false).expect("something to commit");
    assert_eq!(commit.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert!(commit.snapshot.is_none());
    assert_eq!(commit.oldest_room_ms, Some(100));
    assert_eq!(core.deadlines().commit_since, None);
    // Typing goes on while the commit is in flight; then the commit fails.
    core.receive(1, vec![typist.types("c")], at(620));
    core.commit_failed(at(700));
    assert_eq!(core.pending().iter().map(|r| r.entry.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(core.deadlines().commit_since, Some(1200), "retried after a pause");
    let retry = core.take_commit(at(1200), false).expect("the retry");
    assert_eq!(retry.entries.len(), 3);
    core.commit_landed();
    assert!(core.take_commit(at(1300), false).is_none(), "nothing left");
}

#[test]
fn a_snapshot_rides_along_every_n_updates_and_on_the_last_commit() {
    let (mut core, preload) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    let typist = Typist::new(101, &preload);
    // The preload is one entry not covered by a snapshot.
    for i in 0..SNAPSHOT_EVERY_UPDATES - 2 {
        core.receive(1, vec![typist.types("k")], at(i));
    }
    let commit = core.take_commit(at(1_000), false).expect("entries");
    assert!(commit.snapshot.is_none(), "one short of the interval");
    core.commit_landed();
    core.receive(1, vec![typist.types("k")], at(1_001));
    let commit = core.take_commit(at(1_500), false).expect("entries");
    let snapshot = commit.snapshot.expect("due");
    assert_eq!(snapshot.upto_seq, SNAPSHOT_EVERY_UPDATES, "the preload and every update since");
    core.commit_landed();
    // The last commit (end, shutdown, eviction) snapshots whatever is left uncovered, and only that.
    core.receive(1, vec![typist.types("z")], at(1_600));
    assert!(core.take_commit(at(1_700), true).expect("entries").snapshot.is_some());
    core.commit_landed();
    assert!(core.take_commit(at(1_800), true).is_none(), "everything is covered");
}

#[test]
fn an_update_that_breaks_the_document_closes_its_sender_and_distrusts_the_room() {
    let (mut core, preload) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    join(&mut core, 2, Role::Candidate, Extensions::default(), at(0));
    sent(&mut core);
    removed(&mut core);
    let typist = Typist::new(101, &preload);
    let payload = Bytes::from(breaking(&preload));
    let update = accepted_update(&payload).expect("its bytes do not show its parent");
    let message = Bytes::from(frame::encode_update(&payload));
    let broken = ClientMessage::Update { update, payload, message, step2: false };
    core.receive(1, vec![broken, typist.types("never seen")], at(10));
    assert_eq!(removed(&mut core), vec![(1, Some(CLOSE_INVALID_PAYLOAD))]);
    assert!(core.distrusted());
    assert!(sent(&mut core).is_empty(), "nothing relayed");
    assert!(core.pending().is_empty(), "nothing logged");
    // The driver rebuilds the document from the log; the room then serves again.
    let state = RoomState { snapshot: None, tail: vec![(1, preload)] };
    core.rebuilt(rebuild(&state).expect("the log is sound"));
    assert!(!core.distrusted());
    assert_eq!(core.member_count(), 1);
    // The member is asked for what it holds beyond the rebuilt document, and sent all of it, as on a join.
    let greeted = sent(&mut core);
    assert_eq!(greeted.len(), 1);
    let kinds: Vec<_> =
        greeted[0].1.iter().flat_map(|f| frame::split_frame(f).unwrap()).map(|p| p.kind).collect();
    assert!(matches!(kinds[..], [MessageKind::SyncStep1 { .. }, MessageKind::SyncStep2 { .. }]), "{kinds:?}");
}

#[test]
fn a_room_held_off_closes_everyone_with_1013_and_refuses_joins_until_resumed() {
    let (mut core, _) = room_ordered_by(LogOrder::Bus);
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    join(&mut core, 2, Role::Observer, Extensions::default(), at(0));
    removed(&mut core);
    core.hold_off(at(50));
    let mut closed = removed(&mut core);
    closed.sort();
    assert_eq!(closed, vec![(1, Some(CLOSE_TRY_AGAIN)), (2, Some(CLOSE_TRY_AGAIN))]);
    let refused = core.join(who(3, Role::Candidate), Extensions::default(), (), at(60));
    assert_eq!(refused.map_err(|r| r.code), Err(CLOSE_TRY_AGAIN));
    core.resume();
    join(&mut core, 3, Role::Candidate, Extensions::default(), at(70));
    assert_eq!(core.member_count(), 1);
}

#[test]
fn an_ended_room_closes_everyone_with_4403_and_refuses_joins_until_reopened() {
    let (mut core, _) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    join(&mut core, 2, Role::Observer, Extensions::default(), at(0));
    removed(&mut core);
    core.end(CloseReason::new(CLOSE_ROOM_ENDED, "this interview has ended"), at(50));
    let mut closed = removed(&mut core);
    closed.sort();
    assert_eq!(closed, vec![(1, Some(CLOSE_ROOM_ENDED)), (2, Some(CLOSE_ROOM_ENDED))]);
    let refused = core.join(who(3, Role::Interviewer), Extensions::default(), (), at(60));
    assert_eq!(refused.map_err(|r| r.code), Err(CLOSE_ROOM_ENDED));
    assert_eq!(core.deadlines().idle_at, Some(50 + IDLE_EVICT.as_millis() as u64), "idle from the end");
    core.reopen();
    join(&mut core, 3, Role::Interviewer, Extensions::default(), at(70));
    assert_eq!(core.deadlines().idle_at, None, "someone is connected");
}

#[test]
fn extension_messages_reach_only_members_that_announced_them() {
    let (mut core, _) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    join(&mut core, 2, Role::Interviewer, Extensions::parse("events"), at(0));
    join(&mut core, 3, Role::Observer, Extensions::parse("voice"), at(0));
    sent(&mut core);
    let event = Bytes::from_static(&[frame::EXT_ROOM_EVENT, 1, 0]);
    core.send_extension(Extension::RoomEvents, event.clone());
    let out = sent(&mut core);
    assert_eq!(frames_for(&out, 2), vec![event]);
    assert!(frames_for(&out, 1).is_empty(), "a stock client never sees one");
    assert!(frames_for(&out, 3).is_empty(), "nor a client that announced another");
}

#[test]
fn a_stock_client_in_a_busy_room_receives_no_extension_message() {
    let (mut core, preload) = room();
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(0));
    join(&mut core, 2, Role::Interviewer, Extensions::parse("events,voice"), at(0));
    let typist = Typist::new(101, &preload);
    let mut seen = Vec::new();
    for i in 0..20 {
        let from = if i % 2 == 0 { 1 } else { 2 };
        let msgs = vec![typist.types("q"), cursor(100 + from, &who(from, Role::Candidate))];
        core.receive(from, msgs, at(i));
        core.receive(1, vec![ClientMessage::SyncStep1(StateVector::default())], at(i));
        seen.extend(frames_for(&sent(&mut core), 1));
    }
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|f| f[0] < EXT_FIRST), "only y-protocols messages");
}

#[test]
fn the_room_goes_idle_when_its_last_member_leaves() {
    let (mut core, _) = room();
    assert_eq!(core.deadlines().idle_at, Some(IDLE_EVICT.as_millis() as u64), "idle since it opened");
    join(&mut core, 1, Role::Candidate, Extensions::default(), at(10));
    join(&mut core, 2, Role::Candidate, Extensions::default(), at(10));
    core.leave(1, at(20));
    assert_eq!(core.deadlines().idle_at, None);
    core.leave(2, at(30));
    assert_eq!(core.deadlines().idle_at, Some(30 + IDLE_EVICT.as_millis() as u64));
    assert_eq!(removed(&mut core), vec![(1, None), (2, None)]);
}
