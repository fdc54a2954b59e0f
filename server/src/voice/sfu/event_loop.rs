//! One voice loop: a thread with a current-thread tokio runtime, so that one wait covers the socket,
//! the commands of the rooms' voice tasks and the earliest `Rtc` timeout, and a command wakes the loop
//! at once (a blocking socket read would hold it until a datagram or a read timeout). Datagrams are
//! read in batches, each handed to its member's `Rtc` and forwarded before the next.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpPacket;
use str0m::{Candidate, Event, Input, Output};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::peer::Peer;
use super::{Command, Open, PeerEvent};
use crate::metrics::METRICS;
use crate::voice::sockets::Bound;

/// Largest datagram read: above any RTP, RTCP, DTLS or STUN packet a browser sends here (they keep
/// under the path MTU).
const DATAGRAM_MAX: usize = 2000;

/// Datagrams read in one pass before commands and due timeouts get their turn: under a steady stream the
/// socket may never run empty, and the members' timeouts (DTLS, RTCP, ICE) and joins must not wait for
/// it. The socket stays readable, so the next pass reads on at once.
const MAX_READS_PER_PASS: usize = 64;

/// Addresses remembered per member: each network change (a new port after a NAT rebinding, Wi-Fi to
/// cable) adds one, and a member whose client keeps changing must not grow the loop's table without
/// bound. The oldest is forgotten first; its datagrams then go through the ICE credentials check again.
const MAX_SOURCES_PER_MEMBER: usize = 8;

/// Longest the loop sleeps with no `Rtc` timeout due (no member in voice): a command or a datagram
/// wakes it sooner anyway.
const IDLE_WAIT: Duration = Duration::from_secs(1);

pub(super) struct EventLoop {
    pub(super) socket: UdpSocket,
    /// The address of the loop's host candidate: what members send to.
    local: SocketAddr,
    candidate: Candidate,
    pub(super) peers: HashMap<u64, Peer>,
    /// The members of each room on this loop, in the order they joined.
    pub(super) rooms: HashMap<Arc<str>, Vec<u64>>,
    by_source: HashMap<SocketAddr, u64>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Packets received by the last drains, with their speaker, waiting to be forwarded.
    pub(super) received: Vec<(u64, RtpPacket)>,
    /// The batch being forwarded, kept between packets so that forwarding allocates no list per packet.
    pub(super) forwarding: Vec<(u64, RtpPacket)>,
    /// The member whose `Rtc` the loop is working on: the one dropped if that work panics.
    pub(super) current: Option<u64>,
}

/// Runs a loop until every sender of its commands is gone.
pub(super) fn run(bound: Bound, commands: mpsc::Receiver<Command>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return tracing::error!(error = %e, "cannot start a voice loop's runtime"),
    };
    runtime.block_on(async move {
        let mut event_loop = match EventLoop::new(bound) {
            Ok(event_loop) => event_loop,
            Err(e) => return tracing::error!(error = %e, "cannot start a voice loop"),
        };
        event_loop.serve(commands).await;
        for (_, peer) in event_loop.peers.drain() {
            close_metrics(&peer);
            peer.close();
        }
    });
}

fn close_metrics(peer: &Peer) {
    METRICS.voice_peer_connections.dec();
    if peer.uplink_started {
        METRICS.voice_uplinks.dec();
    }
}

impl EventLoop {
    /// A loop on `bound`'s socket, with no member yet. Needs a tokio runtime (the socket registers
    /// with its reactor).
    pub(super) fn new(bound: Bound) -> Result<EventLoop, String> {
        let socket = UdpSocket::from_std(bound.socket).map_err(|e| format!("voice socket: {e}"))?;
        let candidate =
            Candidate::host(bound.announced, "udp").map_err(|e| format!("voice host candidate: {e}"))?;
        Ok(EventLoop {
            socket,
            local: bound.announced,
            candidate,
            peers: HashMap::new(),
            rooms: HashMap::new(),
            by_source: HashMap::new(),
            timers: BinaryHeap::new(),
            received: Vec::new(),
            forwarding: Vec::new(),
            current: None,
        })
    }

    async fn serve(&mut self, mut commands: mpsc::Receiver<Command>) {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        loop {
            let now = Instant::now();
            self.contained(|l| l.fire_timers(now));
            let wake = self.timers.peek().map_or(now + IDLE_WAIT, |Reverse((at, _))| *at);
            tokio::select! {
                biased;
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    self.contained(|l| l.command(command));
                    while let Ok(command) = commands.try_recv() {
                        self.contained(|l| l.command(command));
                    }
                }
                ready = self.socket.readable() => {
                    if let Err(e) = ready {
                        return tracing::error!(error = %e, "voice socket failed");
                    }
                    self.contained(|l| l.read_datagrams(&mut buf));
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn read_datagrams(&mut self, buf: &mut [u8]) {
        for _ in 0..MAX_READS_PER_PASS {
            match self.socket.try_recv_from(buf) {
                Ok((n, source)) => self.datagram(&buf[..n], source),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // An ICMP error for an earlier send (a member gone) surfaces on a later read.
                Err(e) => tracing::debug!(error = %e, "voice socket read"),
            }
        }
    }

    pub(super) fn command(&mut self, command: Command) {
        self.current = match &command {
            Command::Open(open) => Some(open.conn_id),
            Command::Answer { conn_id, .. }
            | Command::Candidate { conn_id, .. }
            | Command::RestartIce { conn_id }
            | Command::Close { conn_id } => Some(*conn_id),
            Command::Sync(_) => None,
        };
        match command {
            Command::Open(open) => self.open(*open),
            Command::Answer { conn_id, sdp } => {
                let Some(peer) = self.peers.get_mut(&conn_id) else { return };
                if let Err(e) = peer.answer(&sdp) {
                    tracing::debug!(conn = conn_id, error = %e, "answer refused");
                }
                self.negotiate(conn_id);
            }
            Command::Candidate { conn_id, candidate } => {
                let Some(peer) = self.peers.get_mut(&conn_id) else { return };
                if let Err(e) = peer.candidate(&candidate) {
                    tracing::debug!(conn = conn_id, error = %e, "client candidate refused");
                }
                self.drain(conn_id);
            }
            Command::RestartIce { conn_id } => {
                let Some(peer) = self.peers.get_mut(&conn_id) else { return };
                peer.restart_ice();
                self.negotiate(conn_id);
            }
            Command::Close { conn_id } => self.close(conn_id),
            Command::Sync(done) => {
                let _ = done.send(());
            }
        }
    }

    fn open(&mut self, open: Open) {
        let (conn_id, room) = (open.conn_id, open.room.clone());
        // A member joins again only after leaving; should a close have been missed, start over.
        self.close(conn_id);
        let mut peer = Peer::new(open, &self.candidate, Instant::now());
        METRICS.voice_peer_connections.inc();
        let members = self.rooms.entry(room).or_default().clone();
        // Everyone already speaking is heard by the newcomer; the newcomer, if a speaker, by everyone.
        for &other in &members {
            let Some(other_peer) = self.peers.get_mut(&other) else { continue };
            if other_peer.speaks {
                peer.add_speaker(other);
            }
            if peer.speaks {
                other_peer.add_speaker(conn_id);
            }
        }
        let speaks = peer.speaks;
        self.peers.insert(conn_id, peer);
        if let Some(list) = self.rooms.get_mut(&self.peers[&conn_id].room) {
            list.push(conn_id);
        }
        if speaks {
            for other in members {
                self.negotiate(other);
            }
        }
        self.negotiate(conn_id);
    }

    fn close(&mut self, conn_id: u64) {
        let Some(peer) = self.peers.remove(&conn_id) else { return };
        for source in &peer.sources {
            self.by_source.remove(source);
        }
        let others = match self.rooms.get_mut(&peer.room) {
            Some(list) => {
                list.retain(|id| *id != conn_id);
                list.clone()
            }
            None => vec![],
        };
        if others.is_empty() {
            self.rooms.remove(&peer.room);
        }
        close_metrics(&peer);
        peer.close();
        for other in others {
            if let Some(other_peer) = self.peers.get_mut(&other)
                && other_peer.outputs.contains_key(&conn_id)
            {
                other_peer.remove_speaker(conn_id);
                self.negotiate(other);
            }
        }
    }

    /// Sends the member an offer if one is due, then lets its `Rtc` act on the change.
    fn negotiate(&mut self, conn_id: u64) {
        self.current = Some(conn_id);
        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        if let Some(sdp) = peer.offer() {
            (peer.events)(PeerEvent::Offer(sdp));
        }
        self.drain(conn_id);
    }

    /// Hands one datagram to the `Rtc` it belongs to: by source address, or for a STUN request from a
    /// new address, the `Rtc` whose ICE credentials it carries.
    fn datagram(&mut self, contents: &[u8], source: SocketAddr) {
        let Ok(contents) = contents.try_into() else { return };
        let now = Instant::now();
        let receive = Receive { proto: Protocol::Udp, source, destination: self.local, contents };
        let input = Input::Receive(now, receive);
        let conn_id = match self.by_source.get(&source) {
            Some(&id) => id,
            None => {
                let found = self.peers.iter().find(|(_, p)| p.alive && p.rtc.accepts(&input));
                let Some((&id, _)) = found else { return };
                self.by_source.insert(source, id);
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.sources.push(source);
                    if peer.sources.len() > MAX_SOURCES_PER_MEMBER {
                        let oldest = peer.sources.remove(0);
                        self.by_source.remove(&oldest);
                    }
                }
                id
            }
        };
        self.current = Some(conn_id);
        let Some(peer) = self.peers.get_mut(&conn_id) else { return };
        if !peer.alive {
            return;
        }
        if let Err(e) = peer.rtc.handle_input(input) {
            tracing::debug!(conn = conn_id, error = %e, "voice input refused");
        }
        self.drain(conn_id);
        self.forward();
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.current = Some(id);
            let Some(peer) = self.peers.get_mut(&id) else { continue };
            if peer.queued != Some(at) || !peer.alive {
                continue;
            }
            peer.queued = None;
            if peer.next <= now {
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(conn = id, error = %e, "voice timeout");
                }
                self.drain(id);
                self.forward();
            } else {
                let next = peer.next;
                self.schedule(id, next);
            }
        }
    }

    fn schedule(&mut self, id: u64, at: Instant) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        peer.next = at;
        if peer.queued.is_none_or(|queued| at < queued) {
            peer.queued = Some(at);
            self.timers.push(Reverse((at, id)));
        }
    }

    /// Polls one `Rtc` until it has nothing more to say: sends its datagrams, keeps the packets it
    /// received for [`EventLoop::forward`], and schedules its next timeout.
    pub(super) fn drain(&mut self, id: u64) {
        self.current = Some(id);
        let now = Instant::now();
        loop {
            let Some(peer) = self.peers.get_mut(&id) else { return };
            if !peer.alive {
                return;
            }
            let output = match peer.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    tracing::debug!(conn = id, error = %e, "voice connection failed");
                    peer.alive = false;
                    return;
                }
            };
            match output {
                // A write leaves its packet behind timeouts already due (str0m's send queue, then its
                // pacer): firing them here sends it now rather than on a later pass of the loop.
                Output::Timeout(at) if at <= now => {
                    if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                        tracing::debug!(conn = id, error = %e, "voice timeout");
                    }
                }
                Output::Timeout(at) => return self.schedule(id, at),
                Output::Transmit(t) => {
                    // A full send buffer drops the datagram, as the network may: audio goes on.
                    if let Err(e) = self.socket.try_send_to(&t.contents, t.destination) {
                        tracing::trace!(to = %t.destination, error = %e, "voice send");
                    }
                }
                Output::Event(Event::RtpPacket(packet)) => self.received.push((id, packet)),
                Output::Event(Event::IceConnectionStateChange(state)) => {
                    tracing::debug!(conn = id, ?state, "voice ICE state");
                }
                Output::Event(_) => {}
            }
        }
    }
}
