use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map, Options, ReadTxn, StateVector, Text, TextPrelim, TextRef, Transact, Update};

use super::*;
use crate::update_check::{Repeats, check_dependencies_v1, check_update_v1};

const WRITER: u64 = 7;

fn doc(client: u64) -> Doc {
    Doc::with_options(Options { client_id: ClientID::new(client), ..Options::default() })
}

fn file(doc: &Doc) -> TextRef {
    let files = doc.get_or_insert_map("files");
    let mut txn = doc.transact_mut();
    match files.get(&txn, "main.py") {
        Some(yrs::Out::YText(text)) => text,
        _ => files.insert(&mut txn, "main.py", TextPrelim::new("")),
    }
}

fn type_at(doc: &Doc, index: u32, s: &str) -> Vec<u8> {
    let before = doc.transact().state_vector();
    let text = file(doc);
    text.insert(&mut doc.transact_mut(), index, s);
    doc.transact().encode_state_as_update_v1(&before)
}

fn text_of(doc: &Doc) -> String {
    file(doc).get_string(&doc.transact())
}

/// Applies `update` to `doc` through the byte checks, then returns where the placement check stands.
fn apply_and_check(doc: &Doc, update: &[u8]) -> Placement {
    check_update_v1(update).expect("the byte check accepts it");
    let clocks = doc.transact().state_vector();
    let deps = check_dependencies_v1(update, |c| u64::from(clocks.get(&ClientID::new(c))))
        .expect("its dependencies are in the document");
    assert_eq!(deps.repeats, Repeats::No);
    doc.transact_mut().apply_update(Update::decode_v1(update).expect("decodes")).expect("applies");
    check(&doc.transact(), &deps.placements)
}

fn reload(live: &Doc) -> Doc {
    let again = doc(99);
    let encoded = live.transact().encode_state_as_update_v1(&StateVector::default());
    again.transact_mut().apply_update(Update::decode_v1(&encoded).expect("decodes")).expect("applies");
    again
}

/// The server's copy of a writer's document, typed "ab" one key at a time: `a` at clock 1, `b` at 2
/// (the file itself is clock 0).
fn server_with_ab() -> (Doc, Doc) {
    let writer = doc(WRITER);
    let server = doc(1);
    for (i, key) in ["a", "b"].into_iter().enumerate() {
        let update = type_at(&writer, i as u32, key);
        assert_eq!(apply_and_check(&server, &update), Placement::Holds);
    }
    (writer, server)
}

/// One string item of the writer's at `clock`, between `origin` and `right_origin` (clocks of the writer).
fn forged(clock: u8, origin: u8, right_origin: u8) -> Vec<u8> {
    let client = WRITER as u8;
    vec![1, 1, client, clock, 0x84 | 0x40, client, origin, client, right_origin, 1, b'x', 0]
}

#[test]
fn typing_in_the_middle_and_at_the_end_holds() {
    let (writer, server) = server_with_ab();
    let middle = type_at(&writer, 1, "x");
    assert_eq!(apply_and_check(&server, &middle), Placement::Holds);
    let end = type_at(&writer, 3, "y");
    assert_eq!(apply_and_check(&server, &end), Placement::Holds);
    assert_eq!(text_of(&server), "axby");
}

#[test]
fn an_item_before_text_typed_earlier_holds() {
    // "b" typed first, then "a" before it, then "x" between: the origin's clock is later than the right
    // origin's, as in the forged item below, and that is an ordinary edit.
    let writer = doc(WRITER);
    let server = doc(1);
    for (index, key) in [(0, "b"), (0, "a"), (1, "x")] {
        let update = type_at(&writer, index, key);
        assert_eq!(apply_and_check(&server, &update), Placement::Holds);
    }
    assert_eq!(text_of(&server), "axb");
    assert_eq!(text_of(&reload(&server)), "axb");
}

#[test]
fn an_item_right_of_its_right_origin_is_broken() {
    // `a` (1) lies left of `b` (2); an item claiming to sit between `b` and `a` cannot be placed alike
    // by the room and by a reload.
    let (_, server) = server_with_ab();
    assert_eq!(apply_and_check(&server, &forged(3, 2, 1)), Placement::Broken);
}

#[test]
fn the_fuzzers_item_that_a_reload_places_elsewhere_is_broken() {
    // fuzz/corpus/update/placed-left-of-its-origin on the seed session's first update: origin (c, 6), right
    // origin (c, 5), which lies left of it.
    let server = doc(1);
    let seed = include_bytes!("../../../../fuzz/corpus/update/yjs-0");
    server.transact_mut().apply_update(Update::decode_v1(seed).expect("decodes")).expect("applies");
    let finding = include_bytes!("../../../../fuzz/corpus/update/placed-left-of-its-origin");
    assert_eq!(apply_and_check(&server, finding), Placement::Broken);
    assert_ne!(text_of(&server), text_of(&reload(&server)), "the room and a reload disagree");
}

#[test]
fn an_honest_twin_of_the_forged_item_holds() {
    let (_, server) = server_with_ab();
    assert_eq!(apply_and_check(&server, &forged(3, 1, 2)), Placement::Holds);
    assert_eq!(text_of(&server), "axb");
}

#[test]
fn too_many_items_to_read_one_by_one_leave_it_to_a_reload() {
    let writer = doc(WRITER);
    let server = doc(1);
    apply_and_check(&server, &type_at(&writer, 0, "ab"));
    let before = writer.transact().state_vector();
    let text = file(&writer);
    {
        let mut txn = writer.transact_mut();
        for i in 0..=MAX_PLACEMENTS as u32 {
            text.insert(&mut txn, 1 + 2 * i, "x");
            text.insert(&mut txn, 1, "y");
        }
    }
    let update = writer.transact().encode_state_as_update_v1(&before);
    assert_eq!(apply_and_check(&server, &update), Placement::Unsure);
}
