//! The part of the live room's schema an update's bytes cannot show. An item whose parent is implied by
//! its neighbour (every map overwrite, most keystrokes) carries no parent in the bytes, and yrs 0.28 offers
//! no public look-up of an item's parent by id before integration (its block store is crate-private; a
//! sticky index resolves the parent only by walking every item to its left). So the room watches the one
//! place such an item can break the schema, the `files` map, and refuses an update that left a value
//! other than a `Y.Text` (or a key `check_path` refuses) there. The update is then already applied:
//! the room treats it like one that broke the document (`integrate::Integrated::Broken`), so it is
//! neither logged nor relayed and the document is rebuilt from the log.
//!
//! The watch costs nothing per keystroke: typing changes a file's text, not the map, and yrs calls a
//! map's observer only when the map itself changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use handoff_protocol::schema::files_root;
use handoff_protocol::validate::check_path;
use yrs::types::{EntryChange, Observable};
use yrs::{Doc, Out};

/// Key of the room's observer on the `files` map.
const OBSERVER: &str = "handoff-schema";

/// Watches one document's `files` map; a new document needs a new guard.
pub(super) struct FilesGuard {
    broken: Arc<AtomicBool>,
}

impl FilesGuard {
    /// Starts watching `doc`. Takes a write transaction of its own (see [`files_root`]).
    pub(super) fn watch(doc: &Doc) -> FilesGuard {
        let broken = Arc::new(AtomicBool::new(false));
        let flag = broken.clone();
        files_root(doc).observe(OBSERVER, move |txn, event| {
            for (path, change) in event.keys(txn) {
                let value = match change {
                    EntryChange::Inserted(v) | EntryChange::Updated(_, v) => v,
                    EntryChange::Removed(_) => continue,
                };
                if !matches!(value, Out::YText(_)) || check_path(path).is_err() {
                    flag.store(true, Ordering::Relaxed);
                }
            }
        });
        FilesGuard { broken }
    }

    /// Whether a transaction since the last call broke the schema.
    pub(super) fn take_broken(&self) -> bool {
        self.broken.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Any, Map, Text, TextPrelim, Transact};

    #[test]
    fn a_file_that_is_not_text_breaks_the_schema_and_typing_does_not() {
        let doc = Doc::new();
        let guard = FilesGuard::watch(&doc);
        let root = files_root(&doc);
        root.insert(&mut doc.transact_mut(), "a.py", TextPrelim::new("x"));
        assert!(!guard.take_broken(), "a new file");
        let file = root.get(&doc.transact(), "a.py");
        let Some(Out::YText(t)) = file else { panic!("a.py is a text") };
        t.insert(&mut doc.transact_mut(), 1, "typed");
        assert!(!guard.take_broken(), "typing");
        root.remove(&mut doc.transact_mut(), "a.py");
        assert!(!guard.take_broken(), "a removed file");
        root.insert(&mut doc.transact_mut(), "a.py", Any::from(42.0));
        assert!(guard.take_broken(), "a number");
        assert!(!guard.take_broken(), "taken once");
        root.insert(&mut doc.transact_mut(), "../x", TextPrelim::new(""));
        assert!(guard.take_broken(), "a path the API refuses");
    }
}
