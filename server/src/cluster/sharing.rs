//! Whether another node reads a room, so that a room held by one node alone keeps its awareness off
//! the bus. Awareness is half of what a typing room publishes, and when a load balancer routes by room
//! id (the deploy kit does) nearly every room is held by one node: its cursors then cost an ordering
//! script call per move and nobody reads them.
//!
//! The ordering script's reply says how many other nodes read the room (`publisher.rs`), and the
//! reader sees every entry another node adds to it (`cursor.rs`). A node that attaches a room later
//! first lists itself among the room's readers, then asks for every member's awareness state
//! (`K_AWARENESS_WANTED`): the answer carries whatever was kept off the bus meanwhile, and seeing the
//! request marks the room shared before the room answers it.
//!
//! A reply is trusted to say "alone" only if its pipeline was sent after the last entry from another
//! node was seen here: a script that ran before the other node listed itself answers late, and must
//! not undo what the other node's request told.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Instant;

use prometheus::IntCounter;

use super::Links;
use crate::metrics::METRICS;

/// The room is alone (bit 0) and when another node was last seen in it (the rest: microseconds on
/// [`stamp`]'s clock). A new room counts as shared until a reply says otherwise.
#[derive(Debug, Default)]
pub(super) struct Sharing(AtomicU64);

const ALONE: u64 = 1;

impl Sharing {
    fn alone(&self) -> bool {
        self.0.load(Ordering::Acquire) & ALONE != 0
    }

    /// Another node's entry was read at `now`.
    fn seen_other(&self, now: u64) {
        self.0.store(now << 1, Ordering::Release);
    }

    /// A script sent at `sent_at` found `others` other readers.
    fn told(&self, others: u64, sent_at: u64) {
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            if others > 0 {
                Some(v & !ALONE)
            } else if sent_at > v >> 1 {
                Some(v | ALONE)
            } else {
                None
            }
        });
    }
}

/// Microseconds since the process first asked: the clock of [`Sharing`].
pub(super) fn stamp() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    // Plus one: the clock's first reading must come after a new room's "seen" of zero.
    START.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

/// `handoff_cluster_events_total{event="awareness_kept_local"}`, looked up once: it counts every
/// cursor move of a room held by one node.
static KEPT_LOCAL: LazyLock<IntCounter> =
    LazyLock::new(|| METRICS.cluster_events.with_label_values(&["awareness_kept_local"]));

impl Links {
    /// Whether the room's awareness stays on this node (no other node reads it); counts it if so.
    pub(super) fn keep_awareness_local(&self, room: &str) -> bool {
        let alone = self.rooms.get(room).is_some_and(|link| link.sharing.alone());
        if alone {
            KEPT_LOCAL.inc();
        }
        alone
    }

    /// The reader read an entry another node added to the room.
    pub(super) fn seen_other(&self, room: &str) {
        if let Some(link) = self.rooms.get(room) {
            link.sharing.seen_other(stamp());
        }
    }

    /// The ordering script, in a pipeline sent at `sent_at`, found `others` other readers of the room.
    pub(super) fn told_readers(&self, room: &str, others: u64, sent_at: u64) {
        if let Some(link) = self.rooms.get(room) {
            link.sharing.told(others, sent_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_shared_until_a_reply_finds_no_other_reader() {
        let s = Sharing::default();
        assert!(!s.alone());
        s.told(0, stamp());
        assert!(s.alone());
        s.told(1, stamp());
        assert!(!s.alone());
    }

    #[test]
    fn another_nodes_entry_makes_the_room_shared() {
        let s = Sharing::default();
        s.told(0, stamp());
        s.seen_other(stamp());
        assert!(!s.alone());
    }

    #[test]
    fn a_reply_sent_before_another_node_was_seen_does_not_make_the_room_alone() {
        let s = Sharing::default();
        let sent_at = stamp();
        // The other node listed itself and asked for states after the script ran; its request was
        // read before the script's reply came back.
        s.seen_other(sent_at + 5);
        s.told(0, sent_at);
        assert!(!s.alone(), "a late reply must not undo the request");
        // A script sent after it that still finds nobody (the other node left) does.
        s.told(0, sent_at + 6);
        assert!(s.alone());
    }
}
