//! The collaborative document's schema (DESIGN §4.1): root `Y.Map` named `files`, path → `Y.Text` holding
//! the file's content. Interviewer-private data never lives in this document: everyone in the room
//! receives all of it.

use std::collections::BTreeMap;

use yrs::types::ToJson;
use yrs::{Doc, GetString, Map, MapRef, Out, ReadTxn, StateVector, TextPrelim, Transact};

use crate::submission::FileEntry;

/// Name of the root map holding the files.
pub const FILES_ROOT: &str = "files";

/// The `files` root of a document. Takes a write transaction of its own: call it before opening one,
/// never while a transaction on `doc` is alive (yrs would wait on itself forever).
pub fn files_root(doc: &Doc) -> MapRef {
    doc.get_or_insert_map(FILES_ROOT)
}

/// Writes the files into `doc` in one transaction, each as a `Y.Text` holding exactly its content.
pub fn preload(doc: &Doc, files: &[FileEntry]) {
    let root = files_root(doc);
    let mut txn = doc.transact_mut();
    for file in files {
        root.insert(&mut txn, file.path.as_str(), TextPrelim::new(file.content.as_str()));
    }
}

/// The Yjs v1 update that creates a document holding exactly these files: the first entry of a room's log.
pub fn initial_update(files: &[FileEntry]) -> Vec<u8> {
    let doc = Doc::new();
    preload(&doc, files);
    let txn = doc.transact();
    txn.encode_state_as_update_v1(&StateVector::default())
}

/// Reads every file of the document. A value that is not a `Y.Text` (a client that broke the schema) is
/// rendered as its JSON so nothing silently disappears from an export.
pub fn read_files(doc: &Doc) -> BTreeMap<String, String> {
    let root = files_root(doc);
    let txn = doc.transact();
    root.iter(&txn)
        .map(|(path, value)| {
            let content = match value {
                Out::YText(text) => text.get_string(&txn),
                other => other.to_json(&txn).to_string(),
            };
            (path.to_owned(), content)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::Update;
    use yrs::updates::decoder::Decode;

    fn entry(path: &str, content: &str) -> FileEntry {
        FileEntry { path: path.into(), content: content.into() }
    }

    fn round_trip(files: &[FileEntry]) -> BTreeMap<String, String> {
        let update = initial_update(files);
        let doc = Doc::new();
        doc.transact_mut().apply_update(Update::decode_v1(&update).unwrap()).unwrap();
        read_files(&doc)
    }

    #[test]
    fn unicode_and_line_endings_survive_byte_for_byte() {
        let files = vec![
            entry("main.py", "print('héllo wörld 🙂')\r\n\ttabs\u{200b}zero-width\n"),
            entry("日本語/ファイル.rs", "fn main() { println!(\"𝄞 clef\"); }"),
        ];
        let got = round_trip(&files);
        for f in &files {
            assert_eq!(got[&f.path].as_bytes(), f.content.as_bytes());
        }
    }

    #[test]
    fn empty_files_exist_and_stay_empty() {
        let got = round_trip(&[entry("empty.txt", ""), entry("b.txt", "b")]);
        assert_eq!(got.len(), 2);
        assert_eq!(got["empty.txt"], "");
    }

    #[test]
    fn fifty_files_all_present() {
        let files: Vec<FileEntry> = (0..50)
            .map(|i| entry(&format!("src/mod_{i:02}.py"), &format!("# file {i}\n{}", "x = 1\n".repeat(i))))
            .collect();
        let got = round_trip(&files);
        assert_eq!(got.len(), 50);
        for f in &files {
            assert_eq!(got[&f.path], f.content);
        }
    }
}
