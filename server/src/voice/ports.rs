//! The UDP ports voice binds, from `--voice-udp-ports`: one per PeerConnection, handed back when it
//! closes. webrtc 0.21.1 binds a socket per PeerConnection (its UDP mux is not implemented yet), so the
//! range bounds how many members can be in voice on this server at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The ports of the configured range, and which are in use.
#[derive(Debug)]
pub(super) struct PortPool {
    range: Option<(u16, u16)>,
    used: Arc<Mutex<BTreeSet<u16>>>,
}

/// A port taken from the pool until this is dropped; port 0 (any) when no range is configured.
#[derive(Debug)]
pub(super) struct PortLease {
    pub(super) port: u16,
    used: Option<Arc<Mutex<BTreeSet<u16>>>>,
}

impl PortPool {
    pub(super) fn new(range: Option<(u16, u16)>) -> PortPool {
        PortPool { range, used: Arc::default() }
    }

    /// How many ports a caller may try before giving up (another process may hold some).
    pub(super) fn attempts(&self) -> usize {
        self.range.map_or(1, |(first, last)| usize::from(last - first) + 1)
    }

    /// A free port, or `None` when every port of the range is in use: then nobody else can join voice.
    pub(super) fn lease(&self, skip: &BTreeSet<u16>) -> Option<PortLease> {
        let Some((first, last)) = self.range else { return Some(PortLease { port: 0, used: None }) };
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        let port = (first..=last).find(|p| !used.contains(p) && !skip.contains(p))?;
        used.insert(port);
        Some(PortLease { port, used: Some(self.used.clone()) })
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if let Some(used) = &self.used {
            used.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_leased_once_and_come_back() {
        let pool = PortPool::new(Some((5000, 5001)));
        let a = pool.lease(&BTreeSet::new()).unwrap();
        let b = pool.lease(&BTreeSet::new()).unwrap();
        assert_eq!((a.port, b.port), (5000, 5001));
        assert!(pool.lease(&BTreeSet::new()).is_none(), "the range is used up");
        drop(a);
        assert_eq!(pool.lease(&BTreeSet::new()).unwrap().port, 5000);
        assert_eq!(PortPool::new(None).lease(&BTreeSet::new()).unwrap().port, 0);
    }
}
