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

use handoff_protocol::frame::{self, FrameError};
use handoff_protocol::schema::files_root;
use handoff_protocol::update_check::placement::{self, Placement};
use handoff_protocol::update_check::{self, Dependencies, Refusal, Repeats};
use handoff_protocol::validate::check_path;
use yrs::types::{EntryChange, Observable};
use yrs::updates::decoder::Decode;
use yrs::{ClientID, Doc, GetString, Map, Out, ReadTxn, StateVector, Transact};

use super::integrate::{Integrated, integrate};

/// Key of the room's observer on the `files` map.
const OBSERVER: &str = "handoff-schema";

/// Watches one document's `files` map; a new document needs a new guard.
pub struct FilesGuard {
    broken: Arc<AtomicBool>,
}

impl FilesGuard {
    /// Starts watching `doc`. Takes a write transaction of its own (see [`files_root`]).
    pub fn watch(doc: &Doc) -> FilesGuard {
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

/// Refuses an update that depends on structs the document lacks, `clocks` being the document's state
/// vector (see [`update_check::check_dependencies_v1`]).
pub(super) fn check_dependencies(payload: &[u8], clocks: &StateVector) -> Result<Dependencies, Refusal> {
    update_check::check_dependencies_v1(payload, |c| u64::from(clocks.get(&ClientID::new(c))))
}

/// Whether `doc`'s files are all `Y.Text`s at valid paths and read the same from the document's own
/// encoding, as a joiner or a reload sees them. Checked after an update that repeats structs the document
/// holds ([`Repeats::Yes`]): yrs then integrates only part of it, and what that part does to the `files`
/// map can escape its observer. That is rare for stock clients, so the cost (a scan of the files, an
/// encode and a decode of the document) stays off the typing path.
pub(super) fn reads_back_same(doc: &Doc) -> bool {
    let live = file_texts(doc);
    if live.iter().any(|(path, text)| text.is_none() || check_path(path).is_err()) {
        return false;
    }
    let encoded = doc.transact().encode_state_as_update_v1(&StateVector::default());
    let again = Doc::new();
    let Ok(update) = yrs::Update::decode_v1(&encoded) else { return false };
    if again.transact_mut().apply_update(update).is_err() {
        return false;
    }
    live == file_texts(&again)
}

/// Whether an applied update left `doc` as a reload of it reads: its new items lie between their origins
/// ([`placement::check`], a few short walks when the update has items with a right origin, none for a
/// keystroke at the end of a file), or, where that cannot tell or the update repeated structs the
/// document holds, the document compared with its own reload ([`reads_back_same`]).
pub(super) fn reads_back_as_applied(doc: &Doc, deps: &Dependencies) -> bool {
    if deps.repeats == Repeats::No {
        if deps.placements.is_empty() {
            return true;
        }
        match placement::check(&doc.transact(), &deps.placements) {
            Placement::Holds => return true,
            Placement::Broken => return false,
            Placement::Unsure => {}
        }
    }
    reads_back_same(doc)
}

fn file_texts(doc: &Doc) -> Vec<(String, Option<String>)> {
    let root = files_root(doc);
    let txn = doc.transact();
    let mut files: Vec<_> = root
        .iter(&txn)
        .map(|(path, value)| {
            let text = match value {
                Out::YText(t) => Some(t.get_string(&txn)),
                _ => None,
            };
            (path.to_owned(), text)
        })
        .collect();
    files.sort();
    files
}

/// Advances `clocks` past an applied update's structs. The room keeps the document's state vector so,
/// rather than rebuilding it from the document per update: with gaps and missing dependencies refused,
/// the document's clocks are exactly these.
pub(super) fn advance(clocks: &mut StateVector, applied: &Dependencies) {
    for (client, end) in applied.client_ends() {
        clocks.set_max(ClientID::new(client), u32::try_from(end).unwrap_or(u32::MAX));
    }
}

/// Decodes a client's update if the server accepts it: every Yjs client must read it as yrs does, and it
/// must keep the schema as far as its bytes show (the room checks the rest; see `update_check`). The
/// connection task calls it, off the room's task.
pub(crate) fn accepted_update(bytes: &[u8]) -> Result<yrs::Update, FrameError> {
    update_check::check_update_v1(bytes)?;
    frame::decode_update(bytes)
}

/// Why [`apply_client_update`] refuses an update that yrs placed where a reload does not put it.
const MISPLACED: &str = "structs placed where a reload of the document does not put them";

/// A client's update through every check the server makes, in order, on `doc` (watched by `guard`):
/// the connection task's ([`accepted_update`]), then the room's. `Err` says why it was
/// refused; a refusal after the apply (the room would rebuild) leaves `doc` changed. For tests that hold
/// the server's acceptance against another implementation (`tests/differential.rs`).
pub fn apply_client_update(doc: &Doc, guard: &FilesGuard, bytes: &[u8]) -> Result<(), String> {
    let update = accepted_update(bytes).map_err(|e| e.to_string())?;
    let clocks = doc.transact().state_vector();
    let deps = check_dependencies(bytes, &clocks).map_err(|e| e.to_string())?;
    let outcome = integrate(&mut doc.transact_mut(), update);
    match outcome {
        Integrated::Applied if guard.take_broken() => Err("schema: a file must be a Y.Text".into()),
        Integrated::Applied if !reads_back_as_applied(doc, &deps) => Err(MISPLACED.into()),
        Integrated::Applied => Ok(()),
        other => Err(format!("{other:?}")),
    }
}

impl std::fmt::Debug for FilesGuard {
    /// Opaque: an observer subscription and a flag.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesGuard").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Any, Map, Text, TextPrelim};

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

#[cfg(test)]
mod remote_tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{Any, Map, Update};

    #[test]
    fn a_remote_overwrite_is_seen() {
        let preload = handoff_protocol::schema::initial_update(&[handoff_protocol::api::FileEntry {
            path: "main.py".into(),
            content: "hello".into(),
        }]);
        let base = Doc::new();
        let root = files_root(&base);
        base.transact_mut().apply_update(Update::decode_v1(&preload).unwrap()).unwrap();
        let sv = base.transact().state_vector();
        root.insert(&mut base.transact_mut(), "main.py", Any::from(42.0));
        let bad = base.transact().encode_diff_v1(&sv);

        let room = Doc::new();
        let guard = FilesGuard::watch(&room);
        apply_client_update(&room, &guard, &preload).unwrap();
        assert!(apply_client_update(&room, &guard, &bad).is_err(), "refused from its bytes");
        let outcome = integrate(&mut room.transact_mut(), Update::decode_v1(&bad).unwrap());
        assert!(matches!(outcome, Integrated::Applied), "{outcome:?}");
        assert!(guard.take_broken(), "seen once applied");
    }

    /// `files["main.py"]` as yjs creates it (client 2524245276, clocks 0–21).
    const MAIN_PY: &[u8] = include_bytes!("../../../tests/fixtures/files-main-py.update");
    /// Found by the `update` fuzz target: a string struct at clock 21 of the same client, whose first
    /// unit the document already holds, claiming origin 12 and right origin 13. yrs integrates its new
    /// part where a reload of the document does not put it.
    const REPEAT_DISAGREES: &[u8] = include_bytes!("../../../tests/fixtures/repeat-disagrees.update");

    /// A room whose document holds [`MAIN_PY`], accepted through the client path.
    fn room_with_main_py() -> (Doc, FilesGuard) {
        let doc = Doc::new();
        let guard = FilesGuard::watch(&doc);
        apply_client_update(&doc, &guard, MAIN_PY).expect("the file is accepted");
        (doc, guard)
    }

    #[test]
    fn repeated_structs_that_disagree_with_the_document_are_refused() {
        let (doc, guard) = room_with_main_py();
        let outcome = apply_client_update(&doc, &guard, REPEAT_DISAGREES);
        assert_eq!(outcome, Err(Refusal::Straddles.to_string()), "refused before it is applied");
        // The premise: applied as yrs does, the live document and its reload differ.
        let (raw, _) = room_with_main_py();
        let applied = integrate(&mut raw.transact_mut(), Update::decode_v1(REPEAT_DISAGREES).unwrap());
        assert!(matches!(applied, Integrated::Applied), "{applied:?}");
        assert!(!reads_back_same(&raw), "yrs now integrates it where a reload puts it");
    }

    #[test]
    fn a_repeat_that_agrees_with_the_document_is_applied() {
        let (doc, guard) = room_with_main_py();
        // A stock client's answer to a sync step 1 that crossed its own update repeats what was sent.
        assert_eq!(apply_client_update(&doc, &guard, MAIN_PY), Ok(()));
        assert!(reads_back_same(&doc));
    }

    /// Found by the `update` fuzz target after 7.1 million runs: the seed session's structs from clock 0
    /// repeated with changes, straddling the document's clock, which left `files["main.py"]` something other than a `Y.Text` without the
    /// `files` map's observer seeing it.
    const REPEAT_BREAKS_SCHEMA: &[u8] = include_bytes!("../../../tests/fixtures/repeat-breaks-schema.update");

    #[test]
    fn repeated_structs_that_break_the_schema_are_refused() {
        let (doc, guard) = room_with_main_py();
        let outcome = apply_client_update(&doc, &guard, REPEAT_BREAKS_SCHEMA);
        assert_eq!(outcome, Err(Refusal::Straddles.to_string()), "refused before it is applied");
        assert_eq!(file_texts(&doc).len(), 1, "the document still lists its one file");
    }

    /// Found by the `update` fuzz target: the seed session's structs repeated from clock 0, one of them a
    /// deleted run of a billion ticks whose later item names a clock inside that same run as its parent.
    /// Accepted, the next walk of the `files` map made yrs ask for 94 TB and abort the process.
    const REFERS_TO_LATER_STRUCT: &[u8] =
        include_bytes!("../../../tests/fixtures/refers-to-later-struct.update");

    #[test]
    fn a_struct_whose_parent_is_a_later_struct_of_its_client_is_refused() {
        let (doc, guard) = room_with_main_py();
        let refused = apply_client_update(&doc, &guard, REFERS_TO_LATER_STRUCT);
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("refers to itself or a later struct")),
            "{refused:?}"
        );
        assert_eq!(file_texts(&doc).len(), 1, "the document still lists its one file");
    }

    /// Found by the `update` fuzz target: a new string struct of the file's client claiming origin 6 and
    /// right origin 5, which lies left of it, both inside the file's one block. yrs lands it left of its
    /// own origin ("def xmain"), a reload right of it ("def maxin").
    const PLACED_LEFT_OF_ITS_ORIGIN: &[u8] =
        include_bytes!("../../../tests/fixtures/placed-left-of-its-origin.update");

    #[test]
    fn a_new_struct_placed_outside_its_origins_is_refused() {
        let (doc, guard) = room_with_main_py();
        assert_eq!(apply_client_update(&doc, &guard, PLACED_LEFT_OF_ITS_ORIGIN), Err(MISPLACED.into()));
        // The premise: applied as yrs does, the live document and its reload differ.
        assert!(!reads_back_same(&doc), "yrs now integrates it where a reload puts it");
    }

    /// Found by the `update` fuzz target: the seed session's structs repeated from clock 0 as one deleted
    /// `files` entry 59 units long, straddling the document's clock (22). yrs integrated its part past the
    /// clock after the file's last character, and the document was left pointing into freed memory: a
    /// later, unrelated document's text appeared in it under a new key.
    const STRADDLES_WITH_A_MAP_ENTRY: &[u8] =
        include_bytes!("../../../tests/fixtures/straddles-with-a-map-entry.update");

    #[test]
    fn a_struct_straddling_the_documents_clock_is_refused_before_it_is_applied() {
        let (doc, guard) = room_with_main_py();
        let before = file_texts(&doc);
        let refused = apply_client_update(&doc, &guard, STRADDLES_WITH_A_MAP_ENTRY);
        assert_eq!(refused, Err(Refusal::Straddles.to_string()));
        let other = Doc::new();
        let other_guard = FilesGuard::watch(&other);
        apply_client_update(&other, &other_guard, MAIN_PY).expect("another room's file");
        assert_eq!(file_texts(&doc), before, "the document is as it was");
    }
}
