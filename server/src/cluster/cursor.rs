//! A room's place in its stream, and what the reader does with each entry it reads there: entries go
//! to the room in log order; the node's own echoes are dropped; an update whose seq is not the next
//! one (the stream was trimmed past what the room holds, or Redis lost data) makes the room rebuild
//! from the store and attach again.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Links;
use super::entries::Entry;
use super::message::{F_KIND, F_NODE, F_VERSION, Incoming, K_UPDATE, Skipped, VERSION, decode};
use crate::bus::Remote;
use crate::clock::now_ms;
use crate::metrics::METRICS;

pub(super) struct Cursor {
    pub(super) room: Arc<str>,
    pub(super) key: String,
    /// The last entry read: `(ms, n)` of its id.
    pub(super) last_id: (u64, u64),
    /// The seq of the last update read.
    pub(super) last_seq: u64,
    pub(super) tx: mpsc::UnboundedSender<Remote>,
    /// The Redis data's epoch the room attached under: the updates read here are handed to the
    /// committer as of it (`pending.rs`).
    pub(super) epoch: Arc<str>,
    /// Set after the stream failed on its own: not read again before then.
    pub(super) paused_until: Option<Instant>,
}

/// Where an entry a notification carried stands against a room's cursor.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fit {
    /// At or before the cursor: read already (by a full scan, or a stream read that came first).
    Read,
    /// Right after the cursor: the room takes it as if read from the stream.
    Next,
    /// Past entries the cursor has not read (this node's own, an older release's, or any other not
    /// notified here): the room's stream is read instead.
    Gap,
}

impl Cursor {
    /// Where an entry with `id`, added when the stream's last entry was `prev`, stands.
    pub(super) fn fit(&self, prev: Option<(u64, u64)>, id: (u64, u64)) -> Fit {
        if id <= self.last_id {
            Fit::Read
        } else if prev == Some(self.last_id) && self.paused_until.is_none() {
            Fit::Next
        } else {
            Fit::Gap
        }
    }

    /// Hands one entry to its room. False when the cursor is done: the room rebuilds (and attaches
    /// again) or is gone.
    pub(super) fn take(&mut self, entry: Entry, node: &str, links: &Links) -> bool {
        let c = self;
        let (ms, n) = entry.id;
        c.last_id = (ms, n);
        if entry.is(F_NODE, node) && entry.is(F_VERSION, VERSION) {
            // This node's own: only an update's place in the log matters.
            return !entry.is(F_KIND, K_UPDATE) || c.next_update(ms, n, links) != Some(false);
        }
        // Before the room answers it: a request for states must find the room shared.
        links.seen_other(&c.room);
        let incoming = match decode(&c.room, ms, entry) {
            Ok(incoming) => incoming,
            Err(why) => {
                METRICS.cluster("skipped", 1);
                let id = format!("{ms}-{n}");
                match why {
                    Skipped::Unknown => {
                        tracing::warn!(room = %c.room, id, "skipping a bus entry of an unknown version or kind")
                    }
                    Skipped::Broken => tracing::error!(room = %c.room, id, "skipping a broken bus entry"),
                }
                return true;
            }
        };
        let remote = match incoming {
            Incoming::Update(entry) => {
                if n == 0 && ms > c.last_seq {
                    links.hand(&c.room, &c.epoch, || entry.clone());
                }
                match c.next_update(ms, n, links) {
                    Some(true) => {}
                    Some(false) => return false,
                    None => return true,
                }
                // Millisecond stamps of two wall clocks: exact on one host, off by the clocks' skew
                // across hosts (a clock behind counts as no time).
                let hop_ms = now_ms().saturating_sub(entry.at_ms);
                METRICS.bus_hop_seconds.observe(hop_ms as f64 / 1000.0);
                match handoff_protocol::frame::decode_update(&entry.update) {
                    Ok(update) => Remote::Update { seq: ms, update, payload: entry.update },
                    Err(e) => {
                        tracing::error!(room = %c.room, seq = ms, error = %e, "an update on the bus does not decode");
                        METRICS.cluster("rebuilds", 1);
                        let _ = c.tx.send(Remote::Rebuild);
                        return false;
                    }
                }
            }
            Incoming::Awareness(frame) => match relayed_awareness(&frame) {
                Some(update) => Remote::Awareness { update, frame },
                None => {
                    METRICS.cluster("skipped", 1);
                    tracing::error!(room = %c.room, id = format!("{ms}-{n}"), "skipping an awareness entry that does not decode");
                    return true;
                }
            },
            Incoming::Ended => Remote::Ended,
            Incoming::Reopened => Remote::Reopened,
            Incoming::AwarenessWanted => Remote::AwarenessWanted,
            Incoming::RoomEvent(frame) => Remote::RoomEvent { frame },
        };
        c.tx.send(remote).is_ok()
    }

    /// Takes update `(ms, n)`'s place in the room's log: `Some(true)` when it is the next one,
    /// `None` when it is no news (read already, or no update id), `Some(false)` when the log skips
    /// entries and the room was told to rebuild.
    fn next_update(&mut self, ms: u64, n: u64, links: &Links) -> Option<bool> {
        let c = self;
        if n != 0 || ms <= c.last_seq {
            return None;
        }
        if ms != c.last_seq + 1 {
            tracing::warn!(room = %c.room, after = c.last_seq, next = ms, "the stream skips entries; rebuilding");
            METRICS.cluster("rebuilds", 1);
            let _ = c.tx.send(Remote::Rebuild);
            return Some(false);
        }
        c.last_seq = ms;
        links.saw(&c.room, ms);
        Some(true)
    }
}

/// Where a room whose log ends at `last_seq` starts reading a stream whose last entry is `end`: at
/// `end` when that follows the room's last update (nothing of it is news), after every entry numbered
/// `last_seq` when the stream holds later updates, and after the update `last_seq` itself when the
/// stream holds nothing numbered `last_seq` (trimmed, or empty).
pub(super) fn start_after(last_seq: u64, end: Option<(u64, u64)>) -> (u64, u64) {
    end.unwrap_or((0, 0)).clamp((last_seq, 0), (last_seq, u64::MAX))
}

/// An awareness message another node relayed, decoded: one awareness message whose states are JSON.
fn relayed_awareness(frame: &Bytes) -> Option<yrs::sync::AwarenessUpdate> {
    let parts = handoff_protocol::frame::split_frame(frame).ok()?;
    match &parts[..] {
        [part] => match &part.kind {
            handoff_protocol::frame::MessageKind::Awareness { update } => {
                handoff_protocol::frame::decode_awareness(&frame[update.clone()]).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_reads_what_follows_its_last_update_and_nothing_before() {
        // The stream ends with entries after update 7 (awareness): the room starts after them.
        assert_eq!(start_after(7, Some((7, 3))), (7, 3));
        assert_eq!(start_after(7, Some((7, 0))), (7, 0));
        // Updates past the room's: read from just after update 7's entries.
        assert_eq!(start_after(7, Some((9, 2))), (7, u64::MAX));
        // Nothing numbered 7 any more (trimmed, or Redis lost it): whatever comes later is news.
        assert_eq!(start_after(7, Some((5, 1))), (7, 0));
        assert_eq!(start_after(7, None), (7, 0));
    }

    fn cursor_at(last_id: (u64, u64)) -> Cursor {
        let (tx, _) = mpsc::unbounded_channel();
        let room: Arc<str> = Arc::from("r");
        Cursor {
            room,
            key: String::new(),
            last_id,
            last_seq: last_id.0,
            tx,
            epoch: Arc::from("e"),
            paused_until: None,
        }
    }

    #[test]
    fn a_carried_entry_is_taken_only_right_after_what_the_cursor_read() {
        let mut c = cursor_at((7, 2));
        assert_eq!(c.fit(Some((7, 2)), (7, 3)), Fit::Next);
        assert_eq!(c.fit(Some((7, 2)), (8, 0)), Fit::Next, "the next update after awareness");
        // An entry the cursor has not read lies between (this node's own, one added by hand).
        assert_eq!(c.fit(Some((7, 3)), (8, 0)), Fit::Gap);
        assert_eq!(c.fit(None, (8, 0)), Fit::Gap, "the stream had nothing before it: trimmed, or lost");
        // Read already, by a full scan or a stream read before the notification.
        assert_eq!(c.fit(Some((7, 1)), (7, 2)), Fit::Read);
        assert_eq!(c.fit(Some((6, 0)), (7, 0)), Fit::Read);
        // A cursor placed after every entry of an update matches no entry: its first news is read.
        assert_eq!(cursor_at((7, u64::MAX)).fit(Some((7, 3)), (8, 0)), Fit::Gap);
        // A paused stream waits for its read.
        c.paused_until = Some(Instant::now());
        assert_eq!(c.fit(Some((7, 2)), (7, 3)), Fit::Gap);
    }
}
