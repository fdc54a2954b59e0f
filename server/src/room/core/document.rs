//! The room's document: the yrs `Doc`, what an update must pass before it is applied to it, and the
//! cached welcome (the whole document as one sync step 2).

use bytes::Bytes;
use handoff_protocol::frame;
use handoff_protocol::update_check::Refusal;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use super::integrate::{Integrated, apply, encodes, integrate};
use super::schema::{self, FilesGuard};
use crate::metrics::METRICS;
use crate::store::{RoomState, StoreError};

/// What became of a member's update.
pub(super) enum Applied {
    Yes,
    /// Refused before or by yrs; the document is as it was. The sender is closed with this reason.
    Refused(String),
    /// Refused because the document lacks what the update builds on (it is as it was). From a member
    /// asked to resync after a rebuild, expected: its answer carries the update's content too.
    Missing(String),
    /// Applied, and it broke the document (`integrate`) or its schema (`schema`): the document must be
    /// rebuilt from the log. The sender is closed with this reason.
    Broke(&'static str),
}

pub(super) struct Document {
    doc: Doc,
    /// Watches the document's `files` map for what an update's bytes could not show (see `schema`).
    files_guard: FilesGuard,
    /// The document's state vector, kept up to date with every applied update (see `schema::advance`).
    clocks: StateVector,
    /// The sync step 2 for a client that knows nothing yet (every fresh joiner), encoded once per
    /// document version: on a join storm of 200 KiB rooms, re-encoding (and re-measuring every string
    /// of) the whole document for each joiner is the server's largest cost. Cleared on every change.
    welcome: Option<Bytes>,
}

impl Document {
    pub(super) fn new(doc: Doc) -> Document {
        let files_guard = FilesGuard::watch(&doc);
        let clocks = doc.transact().state_vector();
        Document { doc, files_guard, clocks, welcome: None }
    }

    /// Sync step 1 with the document's state vector: the first thing a joiner gets (y-websocket's order).
    pub(super) fn greeting(&self) -> Bytes {
        let sv = self.doc.transact().state_vector();
        Bytes::from(frame::encode_sync_step1(&sv))
    }

    /// The answer to a sync step 1: what the document has beyond `sv`.
    pub(super) fn answer(&mut self, sv: &StateVector) -> Bytes {
        if sv.is_empty() {
            return self.welcome();
        }
        let update = self.doc.transact().encode_state_as_update_v1(sv);
        Bytes::from(frame::encode_sync_step2(&update))
    }

    /// The whole document as a sync step 2 frame, from the cache when the document has not changed.
    fn welcome(&mut self) -> Bytes {
        let doc = &self.doc;
        self.welcome
            .get_or_insert_with(|| {
                let update = doc.transact().encode_state_as_update_v1(&StateVector::default());
                Bytes::from(frame::encode_sync_step2(&update))
            })
            .clone()
    }

    /// The whole document as one update, for a snapshot.
    pub(super) fn encode_state(&self) -> Vec<u8> {
        self.doc.transact().encode_state_as_update_v1(&StateVector::default())
    }

    /// Applies a member's update (`payload` its bytes, already checked by the edge) if the document
    /// holds everything it depends on, and keeps it only if the document stays sound.
    pub(super) fn apply(&mut self, update: Update, payload: &[u8]) -> Applied {
        let deps = match schema::check_dependencies(payload, &self.clocks) {
            Ok(deps) => deps,
            Err(refusal @ Refusal::MissingDependency(_)) => {
                METRICS.refuse_update(refusal.reason());
                return Applied::Missing(format!("update refused: {refusal}"));
            }
            Err(refusal) => {
                METRICS.refuse_update(refusal.reason());
                return Applied::Refused(format!("update refused: {refusal}"));
            }
        };
        let outcome = integrate(&mut self.doc.transact_mut(), update);
        // The transaction is committed: the `files` map's observer has seen what the update did to it.
        let outcome = match outcome {
            Integrated::Applied if self.files_guard.take_broken() => Integrated::BrokeSchema,
            Integrated::Applied if !schema::reads_back_as_applied(&self.doc, &deps) => Integrated::Broken,
            outcome => outcome,
        };
        match outcome {
            Integrated::Applied => {
                self.welcome = None;
                schema::advance(&mut self.clocks, &deps);
                Applied::Yes
            }
            Integrated::Refused(e) => {
                METRICS.refuse_update("integration");
                Applied::Refused(format!("update refused: {e}"))
            }
            Integrated::BrokeSchema => {
                METRICS.refuse_update("schema");
                Applied::Broke("update refused: schema: a file must be a Y.Text")
            }
            Integrated::Broken => {
                METRICS.refuse_update("broken");
                Applied::Broke("update refused: malformed")
            }
        }
    }
}

/// Rebuilds a document from its snapshot and log tail. CPU-bound: the driver runs it off the async
/// threads.
pub(crate) fn rebuild(state: &RoomState) -> Result<Doc, StoreError> {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        let parts = state.snapshot.iter().map(|s| (s.upto_seq, &s.state[..]));
        for (seq, bytes) in parts.chain(state.tail.iter().map(|(s, u)| (*s, &u[..]))) {
            let update = frame::decode_update(bytes)
                .map_err(|e| StoreError::Corrupt(format!("log entry {seq}: {e}")))?;
            if !matches!(apply(&mut txn, update), Integrated::Applied) {
                return Err(StoreError::Corrupt(format!("log entry {seq} does not apply")));
            }
        }
        // Once for the whole log: checked per entry, a long log with a pending part would cost a walk of
        // every block per entry.
        if !encodes(&txn) {
            return Err(StoreError::Corrupt("the log leaves the document unencodable".into()));
        }
    }
    Ok(doc)
}

/// The document `state` rebuilds to, as one update: a snapshot that covers exactly the log `state`
/// holds (in a cluster, the committer's snapshot of what the store holds, never a live document, which
/// may hold updates the log has not numbered yet). CPU-bound like [`rebuild`].
pub(crate) fn compact(state: &RoomState) -> Result<Vec<u8>, StoreError> {
    let doc = rebuild(state)?;
    let state = doc.transact().encode_state_as_update_v1(&StateVector::default());
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_that_leaves_the_document_unencodable_does_not_load() {
        let preload = handoff_protocol::schema::initial_update(&[handoff_protocol::api::FileEntry {
            path: "main.py".into(),
            content: "print(1)\n".into(),
        }]);
        let bad = include_bytes!("../../../tests/fixtures/unencodable-pending.update").to_vec();
        let good = RoomState { snapshot: None, tail: vec![(1, preload.clone())] };
        assert!(rebuild(&good).is_ok());
        // A log written before updates were checked: loading it must fail here, not panic later.
        let poisoned = RoomState { snapshot: None, tail: vec![(1, preload), (2, bad)] };
        assert!(matches!(rebuild(&poisoned), Err(StoreError::Corrupt(_))));
    }
}
