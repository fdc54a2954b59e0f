//! The awareness states other nodes relayed (cluster mode), kept so that a member joining here is
//! greeted with everyone's presence at once instead of seeing each remote client at its next renewal.
//!
//! They were vetted by the node of the connection that owns them, under the rules of `presence.rs`
//! (identity from the token, hex colours only, ids owned by their connection), and are relayed here as
//! they are. This node keeps the newest state per client id, as every y-protocols client does, so a
//! joiner is greeted with what the members already here were shown, and never with more.

use std::collections::HashMap;
use std::sync::Arc;

use handoff_protocol::limits::MAX_AWARENESS_STATES_PER_ROOM;
use yrs::ClientID;
use yrs::sync::AwarenessUpdate;
use yrs::sync::awareness::AwarenessUpdateEntry;

use super::{NULL, Relay, encode};

/// Remote states a room keeps at most: a whole room's worth. Past it a new id is still relayed to the
/// members here, but not kept for later joiners.
pub(super) const MAX_REMOTE_AWARENESS_STATES: usize = MAX_AWARENESS_STATES_PER_ROOM;

/// How long a remote state is kept without being renewed: y-protocols' `outdatedTimeout`, after which
/// every client drops such a state too (clients renew theirs every 15 s). The states of a node that
/// died are never withdrawn; this forgets them.
pub(super) const REMOTE_AWARENESS_TTL_MS: u64 = 30_000;

struct Kept {
    clock: u32,
    json: Arc<str>,
    /// Room time it was last relayed (set or renewed).
    seen_ms: u64,
}

#[derive(Default)]
pub(super) struct RemoteStates {
    states: HashMap<ClientID, Kept>,
}

impl RemoteStates {
    /// Takes an awareness message another node relayed at room time `now_ms`: keeps its newer states
    /// and returns what to relay to the members here (what is not newer than what they were shown is
    /// left out: a y-protocols client ignores it anyway).
    pub(super) fn apply(&mut self, update: AwarenessUpdate, now_ms: u64) -> Relay {
        let total = update.clients.len();
        let mut out = Vec::with_capacity(total);
        for (id, entry) in update.clients {
            let withdrawn = &*entry.json == NULL;
            match self.states.get_mut(&id) {
                Some(kept) => {
                    // y-protocols: a higher clock wins; an equal one may only withdraw.
                    if entry.clock < kept.clock || (entry.clock == kept.clock && !withdrawn) {
                        if entry.clock == kept.clock {
                            // The same state again (an answer to another node's load): still live.
                            kept.seen_ms = now_ms;
                        }
                        continue;
                    }
                    if withdrawn {
                        self.states.remove(&id);
                    } else {
                        *kept = Kept { clock: entry.clock, json: entry.json.clone(), seen_ms: now_ms };
                    }
                }
                // Nothing kept to withdraw; the members here may know the state all the same.
                None if withdrawn => {}
                None => self.keep(id, &entry, now_ms),
            }
            out.push((id, entry));
        }
        if out.is_empty() {
            Relay::Nothing
        } else if out.len() == total {
            Relay::Verbatim
        } else {
            Relay::Encoded(encode(out))
        }
    }

    fn keep(&mut self, id: ClientID, entry: &AwarenessUpdateEntry, now_ms: u64) {
        if self.states.len() >= MAX_REMOTE_AWARENESS_STATES {
            self.states.retain(|_, k| fresh(k, now_ms));
        }
        if self.states.len() >= MAX_REMOTE_AWARENESS_STATES {
            tracing::debug!("remote awareness state not kept: {MAX_REMOTE_AWARENESS_STATES} are");
            return;
        }
        let kept = Kept { clock: entry.clock, json: entry.json.clone(), seen_ms: now_ms };
        self.states.insert(id, kept);
    }

    /// The states renewed within [`REMOTE_AWARENESS_TTL_MS`] of `now_ms`.
    pub(super) fn fresh(&self, now_ms: u64) -> impl Iterator<Item = (ClientID, AwarenessUpdateEntry)> + '_ {
        self.states
            .iter()
            .filter(move |(_, k)| fresh(k, now_ms))
            .map(|(id, k)| (*id, AwarenessUpdateEntry { clock: k.clock, json: k.json.clone() }))
    }

    pub(super) fn clear(&mut self) {
        self.states.clear();
    }
}

fn fresh(kept: &Kept, now_ms: u64) -> bool {
    now_ms.saturating_sub(kept.seen_ms) < REMOTE_AWARENESS_TTL_MS
}

#[cfg(test)]
mod tests {
    use super::super::tests::msg;
    use super::*;

    fn kept(r: &RemoteStates, now_ms: u64) -> Vec<(u64, u32)> {
        let mut v: Vec<_> = r.fresh(now_ms).map(|(id, e)| (id.get(), e.clock)).collect();
        v.sort();
        v
    }

    #[test]
    fn the_newest_state_per_id_is_kept_and_only_news_are_relayed() {
        let state = r#"{"user":{"name":"Cam Candidate","role":"candidate"}}"#;
        let mut r = RemoteStates::default();
        assert!(matches!(r.apply(msg(&[(1, 2, state)]), 0), Relay::Verbatim));
        assert_eq!(kept(&r, 0), [(1, 2)]);
        // An older or equal state is news to nobody.
        assert!(matches!(r.apply(msg(&[(1, 1, state)]), 10), Relay::Nothing));
        assert!(matches!(r.apply(msg(&[(1, 2, state)]), 10), Relay::Nothing));
        assert!(matches!(r.apply(msg(&[(1, 2, state), (2, 1, state)]), 10), Relay::Encoded(_)));
        assert_eq!(kept(&r, 10), [(1, 2), (2, 1)]);
        // A withdrawal at the same clock is taken, and forgets the state.
        assert!(matches!(r.apply(msg(&[(1, 2, NULL)]), 20), Relay::Verbatim));
        assert_eq!(kept(&r, 20), [(2, 1)]);
    }

    #[test]
    fn states_not_renewed_are_forgotten_and_the_room_keeps_a_bounded_number() {
        let state = r#"{"user":{"name":"Cam Candidate","role":"candidate"}}"#;
        let mut r = RemoteStates::default();
        r.apply(msg(&[(1, 1, state)]), 0);
        assert_eq!(kept(&r, REMOTE_AWARENESS_TTL_MS - 1), [(1, 1)]);
        assert!(kept(&r, REMOTE_AWARENESS_TTL_MS).is_empty(), "its node stopped renewing it");
        let many: Vec<_> = (10..10 + MAX_REMOTE_AWARENESS_STATES as u64 + 5).map(|i| (i, 1, state)).collect();
        let relayed = r.apply(msg(&many), 1);
        assert!(matches!(relayed, Relay::Verbatim), "every new state is relayed to the members here");
        assert_eq!(r.states.len(), MAX_REMOTE_AWARENESS_STATES);
        // Once the stale ones are gone there is room again.
        r.apply(msg(&[(5, 1, state)]), REMOTE_AWARENESS_TTL_MS + 1);
        assert_eq!(kept(&r, REMOTE_AWARENESS_TTL_MS + 1), [(5, 1)]);
    }
}
