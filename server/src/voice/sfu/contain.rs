//! A panic inside one member's `Rtc` (str0m reading a datagram no test has sent, say) stops at that
//! member: the loop drops the member's connection, as it does one whose `Rtc` failed, and goes on
//! forwarding every other room's audio. Unwinding out of the loop would end its thread and silence every
//! room on it.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::event_loop::EventLoop;
use crate::metrics::METRICS;

impl EventLoop {
    /// Runs one step of the loop's work (a command, a batch of datagrams, the timeouts due).
    pub(super) fn contained(&mut self, work: impl FnOnce(&mut EventLoop)) {
        self.current = None;
        if catch_unwind(AssertUnwindSafe(|| work(self))).is_ok() {
            return;
        }
        METRICS.voice_peer_panics.inc();
        // Packets received before the panic may belong to the member dropped below.
        self.received.clear();
        match self.current.take().and_then(|id| self.peers.get_mut(&id).map(|peer| (id, peer))) {
            Some((id, peer)) => {
                peer.alive = false;
                tracing::error!(
                    conn = id,
                    "a member's voice connection panicked; it is dropped, the room goes on"
                );
            }
            None => tracing::error!(
                "a voice loop's work panicked outside any member's connection; the loop goes on"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
    use std::sync::Arc;

    use super::*;
    use crate::voice::sfu::{Command, Open};
    use crate::voice::sockets::Bound;

    fn open(conn_id: u64) -> Command {
        Command::Open(Box::new(Open {
            room: Arc::from("room"),
            conn_id,
            speaks: true,
            speaking: Arc::default(),
            recording: None,
            events: Arc::new(|_| {}),
        }))
    }

    #[tokio::test]
    async fn a_panic_in_one_members_work_drops_that_member_and_the_loop_goes_on() {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        socket.set_nonblocking(true).unwrap();
        let announced: SocketAddr = socket.local_addr().unwrap();
        let mut event_loop = EventLoop::new(Bound { socket, announced }).unwrap();
        event_loop.contained(|l| l.command(open(1)));
        event_loop.contained(|l| l.command(open(2)));

        event_loop.contained(|l| {
            l.current = Some(1);
            panic!("str0m panicked on member 1's datagram");
        });
        assert!(!event_loop.peers[&1].alive, "the member whose work panicked is dropped");
        assert!(event_loop.peers[&2].alive, "the other member of the room is untouched");

        // The loop still takes commands: member 1 leaves, a third member joins and is offered the room.
        event_loop.contained(|l| l.command(Command::Close { conn_id: 1 }));
        event_loop.contained(|l| l.command(open(3)));
        assert!(!event_loop.peers.contains_key(&1));
        assert!(event_loop.peers[&3].alive && event_loop.peers[&3].outputs.contains_key(&2));
        assert_eq!(event_loop.rooms[&Arc::<str>::from("room")], vec![2, 3]);
    }
}
