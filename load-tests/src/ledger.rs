//! The shared table that attributes deliveries to keystrokes: the typist records, for each key, the Yjs
//! id of the item it inserted (client id, clock) → the instant the key was *scheduled* (not when it was
//! actually sent, so a late sender cannot hide latency: no coordinated omission). A watcher that learns
//! a clock of the typist looks it up and records now − scheduled. The actual send instant is kept too,
//! so the report can also show arrival − sent (the server and network alone, without the generator's own
//! timer lateness).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;
use yrs::ClientID;

/// When one key was due and when its update actually went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub scheduled: Instant,
    pub sent: Instant,
}

type Table = HashMap<(ClientID, u32), Stamp>;

/// One room's table. Cloning shares it.
#[derive(Clone, Default)]
pub struct Ledger {
    inner: Arc<Mutex<Table>>,
}

impl Ledger {
    /// Records that the item `(client, clock)` is a key. Must happen before the update is sent, or a fast
    /// watcher could look it up first; `stamp.sent` is taken right before sending.
    pub fn record(&self, client: ClientID, clock: u32, stamp: Stamp) {
        self.lock().insert((client, clock), stamp);
    }

    /// The stamp of the key whose item is `(client, clock)`; `None` for items that are not keys.
    pub fn stamp(&self, client: ClientID, clock: u32) -> Option<Stamp> {
        self.lock().get(&(client, clock)).copied()
    }

    /// Keys recorded so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Keys whose stamp satisfies `keep`.
    pub fn count(&self, keep: impl Fn(&Stamp) -> bool) -> u64 {
        self.lock().values().filter(|s| keep(s)).count() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A poisoned lock only means another client task panicked; the table itself stays valid.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_recorded_items_are_keys() {
        let ledger = Ledger::default();
        let now = Instant::now();
        let at = Stamp { scheduled: now, sent: now + std::time::Duration::from_millis(1) };
        let me = ClientID::new(7);
        ledger.record(me, 3, at);
        assert_eq!(ledger.stamp(me, 3), Some(at));
        assert_eq!(ledger.stamp(me, 4), None);
        assert_eq!(ledger.stamp(ClientID::new(8), 3), None);
        assert_eq!(ledger.len(), 1);
    }
}
