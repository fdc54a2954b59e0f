//! A room's updates on their way to the store, handed to the committer in-process: the publisher
//! hands over this node's own updates as the ordering script numbers them, the reader the other nodes'
//! as it reads them, so the node holding a room's commit lease need not read the room's stream again.
//! Only an unbroken run from where the store ends is committed from here; whatever the run lacks (the
//! buffer was full, the lease was just taken, a retried publish added nothing new) the committer reads
//! from the stream (`commit.rs`). The store's appends are idempotent by seq, so an entry
//! both handed over and read from the stream is stored once.
//!
//! Every entry carries the Redis data's epoch it was added under: after Redis lost its data the same
//! seqs name other updates, so an entry of an earlier epoch is never committed.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::store::LogEntry;

/// Updates a room's buffer holds at most. The committer empties it every tick (100 ms), in which a
/// typing room adds one or two; a paste burst or a store that is down goes past it, and what did not
/// fit is read from the stream instead. Small, so a store outage costs little memory per room.
pub(super) const PENDING_MAX: usize = 128;

#[derive(Debug, Default)]
pub(super) struct Pending {
    /// The epoch of the entries held.
    epoch: Option<Arc<str>>,
    entries: BTreeMap<u64, LogEntry>,
}

impl Pending {
    /// Keeps `entry`, added to the stream under `epoch`, unless the buffer is full (the committer then
    /// reads the stream). Entries of an earlier epoch are dropped.
    pub(super) fn push(&mut self, epoch: &Arc<str>, entry: LogEntry) {
        if self.epoch.as_deref() != Some(&**epoch) {
            self.entries.clear();
            self.epoch = Some(epoch.clone());
        }
        if self.entries.len() < PENDING_MAX || self.entries.contains_key(&entry.seq) {
            self.entries.insert(entry.seq, entry);
        }
    }

    /// Takes the unbroken run of entries of `epoch` that follows seq `after`, dropping every entry up
    /// to it (and every entry of another epoch).
    pub(super) fn take(&mut self, epoch: &Arc<str>, after: u64) -> Vec<LogEntry> {
        if self.epoch.as_deref() != Some(&**epoch) {
            self.clear();
            return Vec::new();
        }
        self.entries = self.entries.split_off(&(after + 1));
        let mut run = Vec::new();
        let mut next = after + 1;
        while let Some(entry) = self.entries.remove(&next) {
            run.push(entry);
            next += 1;
        }
        run
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.epoch = None;
    }

    /// How many entries are held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            room_id: Arc::from("room"),
            seq,
            at_ms: seq,
            author: Arc::from("Ada"),
            role: None,
            conn_id: 1,
            update: bytes::Bytes::from(seq.to_string()),
        }
    }

    fn seqs(run: &[LogEntry]) -> Vec<u64> {
        run.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn only_the_unbroken_run_after_the_store_is_taken() {
        let epoch: Arc<str> = Arc::from("e1");
        let mut p = Pending::default();
        for seq in [3, 4, 5, 7] {
            p.push(&epoch, entry(seq));
        }
        assert_eq!(seqs(&p.take(&epoch, 1)), Vec::<u64>::new(), "2 is missing: nothing follows 1");
        assert_eq!(seqs(&p.take(&epoch, 2)), vec![3, 4, 5]);
        assert_eq!(p.len(), 1, "7 waits for 6");
        p.push(&epoch, entry(6));
        assert_eq!(seqs(&p.take(&epoch, 5)), vec![6, 7]);
        p.push(&epoch, entry(8));
        p.push(&epoch, entry(9));
        assert_eq!(seqs(&p.take(&epoch, 8)), vec![9], "what the store holds already is dropped");
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn entries_of_another_epoch_are_never_taken() {
        let (old, new): (Arc<str>, Arc<str>) = (Arc::from("e1"), Arc::from("e2"));
        let mut p = Pending::default();
        p.push(&old, entry(1));
        assert!(p.take(&new, 0).is_empty());
        p.push(&old, entry(1));
        p.push(&new, entry(2));
        assert_eq!(p.len(), 1, "the new epoch's entry replaced the old one's");
        assert!(p.take(&new, 0).is_empty(), "seq 1 of the new epoch was never handed over");
        p.push(&new, entry(1));
        p.push(&new, entry(2));
        assert_eq!(seqs(&p.take(&new, 0)), vec![1, 2]);
    }

    #[test]
    fn a_full_buffer_keeps_its_oldest_entries() {
        let epoch: Arc<str> = Arc::from("e1");
        let mut p = Pending::default();
        for seq in 1..=PENDING_MAX as u64 + 10 {
            p.push(&epoch, entry(seq));
        }
        assert_eq!(p.take(&epoch, 0).len(), PENDING_MAX, "the rest is read from the stream");
        p.push(&epoch, entry(PENDING_MAX as u64 + 11));
        assert!(p.take(&epoch, PENDING_MAX as u64).is_empty(), "a gap: the stream is read");
    }
}
