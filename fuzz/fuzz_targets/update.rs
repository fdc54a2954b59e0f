//! Update acceptance plus integration: any bytes a client sends as an update go through every check the
//! server makes (the connection task's byte check, the room's dependency check, yrs' apply with panics
//! contained, the `files` map's schema) on a room holding a real session's first file. Whatever is
//! accepted leaves a document that still encodes, reads back the same from its own encoding, and holds
//! only text files at paths the submission API accepts.
//!
//! `FUZZ_UPDATE_SKIP_RELOAD=1` leaves the reload comparison out (a faster run of the rest).
#![no_main]

use handoff_protocol::validate;
use handoff_server::test_support::room::{FilesGuard, apply_client_update};
use libfuzzer_sys::fuzz_target;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Map, Out, ReadTxn, StateVector, Transact, Update};

/// The first update of the seed session (`fuzz/tools/seeds.mjs`): `files["main.py"]` created by yjs.
const BASE: &[u8] = include_bytes!("../corpus/update/yjs-0");

fn files(doc: &Doc) -> Vec<(String, String)> {
    let root = doc.get_or_insert_map("files");
    let txn = doc.transact();
    let mut out: Vec<(String, String)> = root
        .iter(&txn)
        .map(|(path, value)| {
            let Out::YText(text) = value else { panic!("accepted: {path:?} is not a Y.Text") };
            assert!(validate::check_path(path).is_ok(), "accepted path {path:?}");
            (path.to_owned(), text.get_string(&txn))
        })
        .collect();
    out.sort();
    out
}

fuzz_target!(init: handoff_fuzz::contain_panics(), |data: &[u8]| {
    let doc = Doc::new();
    let guard = FilesGuard::watch(&doc);
    apply_client_update(&doc, &guard, BASE).expect("the seed session's first update is accepted");
    if apply_client_update(&doc, &guard, data).is_err() {
        return;
    }
    if std::env::var_os("FUZZ_UPDATE_SKIP_RELOAD").is_some() {
        let _ = files(&doc);
        return;
    }
    let encoded = doc.transact().encode_state_as_update_v1(&StateVector::default());
    let again = Doc::new();
    again.transact_mut().apply_update(Update::decode_v1(&encoded).expect("own encoding decodes")).expect("applies");
    assert_eq!(files(&doc), files(&again), "the document reads back the same from its own encoding");
});
