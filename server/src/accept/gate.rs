//! The caps on HTTP connections: those that are not, or not yet, WebSockets. A connection holds a
//! [`Pass`] from its accept until it becomes a WebSocket or closes; one that finds no pass left, in total
//! or for its address, is closed at once. Checked once per accepted connection, never per frame.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::metrics::METRICS;

/// Whose share a connection counts against: an IPv4 address, or an IPv6 /64 (one host commonly holds a
/// whole /64, so single IPv6 addresses would cost an attacker nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Source {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl Source {
    pub(super) fn of(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    Source::V6Prefix(prefix)
                }
            },
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Full {
    Total,
    Source,
}

pub(super) struct Gate {
    max_total: usize,
    max_per_source: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_source: HashMap<Source, usize>,
}

impl Gate {
    pub(super) fn new(max_total: usize, max_per_source: usize) -> Arc<Gate> {
        Arc::new(Gate { max_total, max_per_source, held: Mutex::default() })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // Nothing panics while holding it; the counts stay consistent.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pass for a connection from `ip`, or why there is none.
    pub(super) fn enter(self: &Arc<Gate>, ip: IpAddr) -> Result<Pass, Full> {
        let source = Source::of(ip);
        let mut held = self.held();
        if held.total >= self.max_total {
            return Err(Full::Total);
        }
        let mine = held.by_source.entry(source).or_insert(0);
        if *mine >= self.max_per_source {
            return Err(Full::Source);
        }
        *mine += 1;
        held.total += 1;
        METRICS.http_connections.inc();
        Ok(Pass { gate: self.clone(), source })
    }

    #[cfg(test)]
    fn total(&self) -> usize {
        self.held().total
    }
}

/// One HTTP connection's place under the caps, given back when dropped.
pub(super) struct Pass {
    gate: Arc<Gate>,
    source: Source,
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut held = self.gate.held();
        held.total -= 1;
        if let Some(mine) = held.by_source.get_mut(&self.source) {
            *mine -= 1;
            if *mine == 0 {
                held.by_source.remove(&self.source);
            }
        }
        METRICS.http_connections.dec();
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn each_source_has_its_share_and_all_share_the_total() {
        let gate = Gate::new(3, 2);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let first = gate.enter(a).unwrap();
        let _second = gate.enter(a).unwrap();
        assert_eq!(gate.enter(a).err(), Some(Full::Source));
        let _third = gate.enter(b).unwrap();
        assert_eq!(gate.enter(b).err(), Some(Full::Total));
        drop(first);
        assert!(gate.enter(a).is_ok(), "a pass given back is free again");
        assert_eq!(gate.total(), 3 - 1, "the pass just taken was dropped at once");
    }

    #[test]
    fn an_ipv6_64_is_one_source_and_mapped_ipv4_is_the_ipv4_address() {
        let gate = Gate::new(100, 1);
        let one: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let _held = gate.enter(IpAddr::V6(one)).unwrap();
        assert_eq!(gate.enter(IpAddr::V6(same_64)).err(), Some(Full::Source));
        assert!(gate.enter(IpAddr::V6("2001:db8:1:3::1".parse().unwrap())).is_ok());

        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        let _v4 = gate.enter(IpAddr::V4(v4)).unwrap();
        assert_eq!(gate.enter(IpAddr::V6(v4.to_ipv6_mapped())).err(), Some(Full::Source));
    }
}
