use yrs::{Any, Doc, Map, MapPrelim, Out, ReadTxn, StateVector, Text, TextPrelim, Transact, TransactionMut};

use super::cursor::{HAS_ORIGIN, HAS_PARENT_SUB};
use super::*;
use crate::api::FileEntry;
use crate::limits::MAX_SAFE_INTEGER;
use crate::schema::{files_root, initial_update};

fn var(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn room() -> Doc {
    let doc = Doc::with_client_id(1);
    let files = [FileEntry { path: "main.py".into(), content: "print('hi')\n".into() }];
    crate::schema::preload(&doc, &files);
    doc
}

/// The update `f` makes to `doc` (as client `doc`'s id).
fn edit(doc: &Doc, f: impl FnOnce(&mut TransactionMut, &yrs::MapRef)) -> Vec<u8> {
    let root = files_root(doc);
    let before = doc.transact().state_vector();
    f(&mut doc.transact_mut(), &root);
    doc.transact().encode_diff_v1(&before)
}

fn text(txn: &TransactionMut, root: &yrs::MapRef, path: &str) -> yrs::TextRef {
    match root.get(txn, path) {
        Some(Out::YText(t)) => t,
        other => panic!("{path} is {other:?}"),
    }
}

/// A one-item update by client 5 at clock 0 with parent `root` and key `key`, content `kind` + `content`.
fn item_in_root(root: &str, key: Option<&str>, kind: u8, content: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    for n in [1, 1, 5, 0] {
        var(&mut u, n);
    }
    u.push(kind | if key.is_some() { HAS_PARENT_SUB } else { 0 });
    var(&mut u, 1);
    var(&mut u, root.len() as u64);
    u.extend_from_slice(root.as_bytes());
    if let Some(key) = key {
        var(&mut u, key.len() as u64);
        u.extend_from_slice(key.as_bytes());
    }
    u.extend_from_slice(content);
    var(&mut u, 0);
    u
}

/// A one-item update by client 5 right of (1, 0), content `kind` + `content`.
fn item_after(kind: u8, content: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    for n in [1, 1, 5, 0] {
        var(&mut u, n);
    }
    u.push(HAS_ORIGIN | kind);
    var(&mut u, 1);
    var(&mut u, 0);
    u.extend_from_slice(content);
    var(&mut u, 0);
    u
}

fn string(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    var(&mut out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
    out
}

#[test]
fn real_edits_are_accepted() {
    let doc = room();
    let whole = initial_update(&[FileEntry { path: "a/b.rs".into(), content: "fn main() {}\n".into() }]);
    let typed = edit(&doc, |txn, root| text(txn, root, "main.py").insert(txn, 3, "é🙂x"));
    let deleted = edit(&doc, |txn, root| text(txn, root, "main.py").remove_range(txn, 1, 4));
    let new_file = edit(&doc, |txn, root| {
        root.insert(txn, "src/new.py", TextPrelim::new("x = 1\n"));
    });
    let replaced = edit(&doc, |txn, root| {
        root.insert(txn, "main.py", TextPrelim::new("again\n"));
    });
    let removed = edit(&doc, |txn, root| {
        root.remove(txn, "src/new.py");
    });
    let everything = doc.transact().encode_state_as_update_v1(&StateVector::default());
    for (name, u) in [
        ("whole document", whole),
        ("typing", typed),
        ("delete", deleted),
        ("new file", new_file),
        ("file replaced", replaced),
        ("file removed", removed),
        ("everything", everything),
    ] {
        assert!(check_update_v1(&u).is_ok(), "{name}: {:?}", check_update_v1(&u));
    }
    assert_eq!(check_update_v1(&[0, 0]), Ok(UpdateFacts::default()), "an empty update");
}

#[test]
fn facts_count_what_the_update_holds() {
    let doc = room();
    let typed = edit(&doc, |txn, root| text(txn, root, "main.py").remove_range(txn, 0, 2));
    let facts = check_update_v1(&typed).unwrap();
    assert_eq!((facts.clients, facts.structs, facts.implied_parents, facts.deleted_ranges), (0, 0, 0, 1));
    let typed = edit(&doc, |txn, root| text(txn, root, "main.py").insert(txn, 1, "c"));
    let facts = check_update_v1(&typed).unwrap();
    assert_eq!((facts.clients, facts.structs, facts.implied_parents), (1, 1, 1));
    let new_file = edit(&doc, |txn, root| {
        root.insert(txn, "n.py", TextPrelim::new(""));
    });
    assert_eq!(check_update_v1(&new_file).unwrap().implied_parents, 0);
}

#[test]
fn client_ids_past_the_safe_range_are_refused() {
    let u = item_in_root("files", Some("a.py"), 7, &[2]);
    assert!(check_update_v1(&u).is_ok());
    let mut big = vec![1, 1];
    var(&mut big, 1 << 53);
    big.extend_from_slice(&u[3..]);
    assert_eq!(check_update_v1(&big), Err(Refusal::UnsafeInteger("client id")));
    let mut edge = vec![1, 1];
    var(&mut edge, MAX_SAFE_INTEGER);
    edge.extend_from_slice(&u[3..]);
    assert!(check_update_v1(&edge).is_ok(), "2^53 - 1 is safe");
}

#[test]
fn content_kinds_yjs_does_not_know_or_reads_otherwise_are_refused() {
    let hello = string("hello");
    assert!(check_update_v1(&item_after(4, &hello)).is_ok());
    for kind in 11..32u8 {
        assert_eq!(check_update_v1(&item_after(kind, &hello)), Err(Refusal::UnknownContent(kind)), "{kind}");
    }
    assert!(matches!(check_update_v1(&item_after(2, &[0])), Err(Refusal::UnsupportedContent(_))));
    assert!(matches!(check_update_v1(&item_after(5, &hello)), Err(Refusal::UnsupportedContent(_))));
    assert!(matches!(check_update_v1(&item_after(9, &hello)), Err(Refusal::UnsupportedContent(_))));
    // A GC or skip with item flags: a GC to yjs, an item of kind 0 to yrs.
    let mut gc = vec![1, 1, 5, 0, HAS_ORIGIN, 3, 0];
    assert_eq!(check_update_v1(&gc), Err(Refusal::Malformed("flags on a GC or skip")));
    gc[4] = 0;
    assert!(check_update_v1(&gc[..6]).is_err(), "no delete set");
    // Type refs past yjs's last (XML text) are unknown to yjs.
    assert_eq!(check_update_v1(&item_in_root("files", Some("a"), 7, &[7])), Err(Refusal::UnknownContent(7)));
}

#[test]
fn strings_must_be_utf8_and_not_empty() {
    let lone_surrogate = [3, 0xed, 0xa0, 0x80];
    assert_eq!(check_update_v1(&item_after(4, &lone_surrogate)), Err(Refusal::InvalidString));
    assert_eq!(check_update_v1(&item_after(4, &[1, 0xff])), Err(Refusal::InvalidString));
    assert_eq!(check_update_v1(&item_after(4, &[0])), Err(Refusal::Malformed("empty string")));
    let bad_key = item_in_root("files", Some("a\u{fffd}"), 7, &[2]);
    let mut bad_key = bad_key.clone();
    let at = bad_key.windows(3).position(|w| w == "\u{fffd}".as_bytes()).unwrap();
    bad_key[at] = 0xc0;
    assert_eq!(check_update_v1(&bad_key), Err(Refusal::InvalidString));
}

#[test]
fn the_schema_holds_files_of_text_at_valid_paths() {
    assert!(check_update_v1(&item_in_root("files", Some("ok.py"), 7, &[2])).is_ok());
    assert!(check_update_v1(&item_in_root("files", Some("gone.py"), 1, &[1])).is_ok());
    for (name, u) in [
        ("path ../../x", item_in_root("files", Some("../../x"), 7, &[2])),
        ("absolute path", item_in_root("files", Some("/etc/passwd"), 7, &[2])),
        ("no key", item_in_root("files", None, 7, &[2])),
        ("unknown root", item_in_root("other", Some("a"), 7, &[2])),
        ("a map file", item_in_root("files", Some("a"), 7, &[1])),
        ("a string file", item_in_root("files", Some("a"), 4, &string("x"))),
        ("a number file", item_in_root("files", Some("a"), 8, &[1, 125, 42])),
        ("a binary file", item_in_root("files", Some("a"), 3, &[1, 0])),
        ("a value next to a text", item_after(8, &[1, 125, 42])),
    ] {
        assert!(matches!(check_update_v1(&u), Err(Refusal::Schema(_))), "{name}: {:?}", check_update_v1(&u));
    }
}

#[test]
fn values_yjs_reads_otherwise_are_refused_before_the_schema() {
    let value = |bytes: &[u8]| {
        let mut c = vec![1];
        c.extend_from_slice(bytes);
        check_update_v1(&item_after(8, &c))
    };
    let mut unsafe_int = vec![125];
    let mut n = 1u64 << 53;
    unsafe_int.push(0x80 | (n & 0x3f) as u8);
    n >>= 6;
    while n >= 0x80 {
        unsafe_int.push(0x80 | (n as u8 & 0x7f));
        n >>= 7;
    }
    unsafe_int.push(n as u8);
    assert_eq!(value(&unsafe_int), Err(Refusal::UnsafeInteger("integer value")));
    assert!(matches!(value(&[122, 0, 0, 0, 0, 0, 0, 0, 1]), Err(Refusal::UnsupportedContent("bigint"))));
    let nan = f64::NAN.to_be_bytes();
    assert!(matches!(value(&[&[123][..], &nan].concat()), Err(Refusal::UnsupportedContent(_))));
    let proto = [&[118, 1][..], &string("__proto__"), &[126]].concat();
    assert!(matches!(value(&proto), Err(Refusal::UnsupportedContent("__proto__ key"))));
    let deep = [117u8, 1].repeat(40);
    assert_eq!(value(&[deep, vec![126]].concat()), Err(Refusal::Malformed("values nested too deep")));
    // A well-formed value still has no place in the schema.
    assert!(matches!(value(&[118, 1, 1, b'k', 125, 42]), Err(Refusal::Schema(_))));
}

#[test]
fn malformed_bytes_are_refused_without_reading_past_them() {
    let doc = room();
    let typed = edit(&doc, |txn, root| text(txn, root, "main.py").insert(txn, 3, "typing"));
    for cut in 0..typed.len() {
        assert!(check_update_v1(&typed[..cut]).is_err(), "truncated at {cut}");
    }
    let trailing = [&typed[..], &[0]].concat();
    assert_eq!(check_update_v1(&trailing), Err(Refusal::Malformed("trailing bytes")));
    // A client count of 2^40 in a few bytes.
    let mut huge = Vec::new();
    var(&mut huge, 1 << 40);
    assert_eq!(check_update_v1(&huge), Err(Refusal::Malformed("client count")));
    assert_eq!(check_update_v1(&[0xff; 12]), Err(Refusal::Malformed("client count")));
}

#[test]
fn a_client_named_twice_is_refused_even_past_the_tracked_ones() {
    let one = &item_in_root("files", Some("a"), 7, &[2])[1..];
    let body = &one[..one.len() - 1]; // without the delete set
    for (n, repeat) in [(2usize, 0u64), (TRACKED_CLIENTS + 3, TRACKED_CLIENTS as u64 + 1)] {
        let mut u = Vec::new();
        var(&mut u, n as u64);
        for i in 0..n as u64 {
            u.push(1);
            var(&mut u, if i + 1 == n as u64 { repeat } else { i });
            u.extend_from_slice(&body[2..]);
        }
        u.push(0);
        assert_eq!(check_update_v1(&u), Err(Refusal::Malformed("a client appears twice")), "{n} clients");
    }
}

#[test]
fn clocks_stay_within_yrs_range() {
    // A text at the last clock yrs can hold would end past it.
    let at = |clock: u64| {
        let mut u = vec![1, 1, 5];
        var(&mut u, clock);
        u.push(7 | HAS_PARENT_SUB);
        u.push(1);
        u.extend_from_slice(&string("files"));
        u.extend_from_slice(&string("a"));
        u.extend_from_slice(&[2, 0]);
        check_update_v1(&u)
    };
    assert!(at(MAX_UPDATE_CLOCK - 1).is_ok());
    assert_eq!(at(MAX_UPDATE_CLOCK), Err(Refusal::UnsafeInteger("clock")));
    let mut ds = vec![0, 1, 5, 1];
    var(&mut ds, MAX_UPDATE_CLOCK);
    var(&mut ds, 1);
    assert_eq!(check_update_v1(&ds), Err(Refusal::UnsafeInteger("deleted range")));
}

#[test]
fn deleted_files_and_values_through_yrs_own_api() {
    // What yrs itself writes for a map value that is not text is refused.
    let doc = room();
    let number = edit(&doc, |txn, root| {
        root.insert(txn, "main.py", Any::from(1.0));
    });
    assert!(matches!(check_update_v1(&number), Err(Refusal::Schema(_))));
    let map = edit(&doc, |txn, root| {
        root.insert(txn, "m", MapPrelim::from([("k", Any::from(1.0))]));
    });
    assert!(matches!(check_update_v1(&map), Err(Refusal::Schema(_))));
}

#[test]
fn updates_past_a_gap_or_missing_a_dependency_are_refused() {
    let doc = room();
    let known = doc.transact().state_vector();
    let clock_of = |c: u64| u64::from(known.get(&yrs::ClientID::new(c)));
    let first = edit(&doc, |txn, root| text(txn, root, "main.py").insert(txn, 0, "a"));
    let second = edit(&doc, |txn, root| text(txn, root, "main.py").insert(txn, 1, "b"));
    let delete = edit(&doc, |txn, root| text(txn, root, "main.py").remove_range(txn, 0, 1));
    assert_eq!(check_dependencies_v1(&first, clock_of).map(|d| d.repeats), Ok(Repeats::No));
    // The second keystroke without the first: past a gap in client 1's clocks, and its origin is "a".
    assert!(matches!(check_dependencies_v1(&second, clock_of), Err(Refusal::MissingDependency(_))));
    // Deleting "a" before the document has it.
    assert!(matches!(check_dependencies_v1(&delete, clock_of), Err(Refusal::MissingDependency(_))));
    // Everything at once depends only on itself.
    let whole = doc.transact().encode_state_as_update_v1(&StateVector::default());
    assert_eq!(check_dependencies_v1(&whole, |_| 0).map(|d| d.repeats), Ok(Repeats::No));
    // The whole state again, to a document that holds its start: it repeats what the document has.
    assert_eq!(check_dependencies_v1(&whole, clock_of).map(|d| d.repeats), Ok(Repeats::Yes));
    // A skip is a gap.
    let skip = [1, 1, 5, 0, 10, 2, 0];
    assert_eq!(check_update_v1(&skip), Err(Refusal::MissingDependency("a skip")));
    let ends: Vec<_> = check_dependencies_v1(&first, clock_of).unwrap().client_ends().collect();
    assert_eq!(ends, [(1, clock_of(1) + 1)]);
}
