//! The cluster seam (DESIGN §3). A room actor publishes every update its own clients make; in a cluster
//! the bus carries them to the other nodes holding the same room (Redis Streams, a later issue). One node
//! needs no bus: [`LocalBus`] publishes nowhere.

use bytes::Bytes;

pub trait Bus: Send + Sync + 'static {
    /// Called by a room actor after it accepted (validated and applied) `update` from a local client.
    fn publish(&self, room: &str, update: &Bytes);
}

/// Single-node mode: every client of a room is on this node, so nothing leaves it.
#[derive(Debug)]
pub struct LocalBus;

impl Bus for LocalBus {
    fn publish(&self, _room: &str, _update: &Bytes) {}
}
