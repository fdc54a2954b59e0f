//! The spike's SFU: one UDP socket, one thread, one `str0m::Rtc` per participant (ICE-lite, a host
//! candidate on the socket's address). Each datagram goes to the `Rtc` of its source address; each Opus
//! frame a speaker's `Rtc` emits is written into the `Rtc` of each other participant in the room, whose
//! output is sent at once. Signalling (SDP offer in, answer out) is a line protocol on a TCP port, served
//! by a second thread that hands joins to the loop over a channel.
//!
//!   server UDP_ADDR TCP_ADDR        e.g. server 127.0.0.1:47000 127.0.0.1:47001

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::media::{Direction, MediaData, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use str0m_spike::{JOIN, STATS};

/// Participants per room (the interview's candidate and two interviewers).
const ROOM_SIZE: usize = 3;

/// Longest the loop sleeps on the socket: a join waiting in the channel is picked up within this.
const MAX_WAIT: Duration = Duration::from_millis(50);

/// Receive buffer of the one socket all participants share (the kernel's rmem_max here is 4 MiB): at
/// the default 208 KiB, about 270 small datagrams, a loop descheduled for 40 ms at 100 rooms (15,000
/// datagrams/s in) would drop packets; the webrtc SFU has one socket, and one such buffer, per
/// participant.
const RECV_BUFFER: usize = 4 << 20;

/// Largest datagram read (above any RTP, DTLS or STUN packet here).
const DATAGRAM_MAX: usize = 2000;

struct Join {
    room: String,
    offer: String,
    answer: Sender<String>,
}

/// What a speaker's `Rtc` emitted, to forward.
enum Incoming {
    Frame(MediaData),
    Rtp(RtpPacket),
}

struct Peer {
    rtc: Rtc,
    room: usize,
    slot: usize,
    /// The mid on which this participant's `Rtc` sends the speaker in each room slot.
    out_mid: [Option<(Mid, Option<Pt>)>; ROOM_SIZE],
    /// Outgoing slots in the order the client offered them (its receive-only m-lines).
    unassigned_out: usize,
    next: Instant,
    queued: Option<Instant>,
    alive: bool,
}

struct Sfu {
    socket: UdpSocket,
    local: SocketAddr,
    peers: Vec<Peer>,
    rooms: Vec<Vec<usize>>,
    room_ids: HashMap<String, usize>,
    by_addr: HashMap<SocketAddr, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    forwarded: Arc<AtomicU64>,
    /// Frames received in the last drain, with the participant who sent them.
    frames: Vec<(usize, Incoming)>,
    spare: Vec<(usize, Incoming)>,
    /// With SPIKE_RTP_MODE set: str0m's RTP mode, where each RTP packet is forwarded as it is (the
    /// speaker's sequence number and timestamp, as the webrtc SFU does) instead of each frame being
    /// depacketized and packetized again.
    rtp_mode: bool,
    /// With SPIKE_REASONS set: how many timeouts fired, by str0m's reason for each, printed every 10 s.
    reasons: Option<HashMap<String, u64>>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(udp), Some(tcp)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: server UDP_ADDR TCP_ADDR");
        std::process::exit(2);
    };
    let socket = UdpSocket::bind(udp).expect("bind UDP");
    socket2::SockRef::from(&socket).set_recv_buffer_size(RECV_BUFFER).expect("SO_RCVBUF");
    let listener = TcpListener::bind(tcp).expect("bind TCP");
    let forwarded = Arc::new(AtomicU64::new(0));
    let (joins_tx, joins) = channel();
    let counter = forwarded.clone();
    std::thread::spawn(move || signalling(listener, joins_tx, counter));
    let local = socket.local_addr().expect("local address");
    println!("listening udp {local} tcp {tcp}");
    let mut sfu = Sfu {
        socket,
        local,
        peers: Vec::new(),
        rooms: Vec::new(),
        room_ids: HashMap::new(),
        by_addr: HashMap::new(),
        timers: BinaryHeap::new(),
        forwarded,
        frames: Vec::new(),
        rtp_mode: std::env::var_os("SPIKE_RTP_MODE").is_some(),
        spare: Vec::new(),
        reasons: std::env::var_os("SPIKE_REASONS").map(|_| HashMap::new()),
    };
    sfu.run(&joins);
}

impl Sfu {
    fn run(&mut self, joins: &Receiver<Join>) {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        let mut report_at = Instant::now();
        loop {
            if let Some(reasons) = &mut self.reasons
                && report_at.elapsed() >= Duration::from_secs(10)
            {
                eprintln!("timeouts fired in 10 s, by reason: {reasons:?}");
                reasons.clear();
                report_at = Instant::now();
            }
            while let Ok(join) = joins.try_recv() {
                self.join(join);
            }
            let now = Instant::now();
            self.fire_timers(now);
            let wake = self.timers.peek().map_or(now + MAX_WAIT, |Reverse((t, _))| *t);
            let wait = wake.saturating_duration_since(now).clamp(Duration::from_millis(1), MAX_WAIT);
            self.socket.set_read_timeout(Some(wait)).expect("read timeout");
            match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => self.datagram(&buf[..n], source),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    fn join(&mut self, join: Join) {
        let room = *self.room_ids.entry(join.room).or_insert_with(|| {
            self.rooms.push(Vec::new());
            self.rooms.len() - 1
        });
        let answer = (|| {
            if self.rooms[room].len() >= ROOM_SIZE {
                return Err("room full".to_string());
            }
            let offer = SdpOffer::from_sdp_string(&join.offer).map_err(|e| e.to_string())?;
            let now = Instant::now();
            let mut rtc = str0m_spike::rtc(true, self.rtp_mode, now);
            let candidate = Candidate::host(self.local, "udp").map_err(|e| e.to_string())?;
            rtc.add_local_candidate(candidate);
            let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| e.to_string())?;
            let slot = self.rooms[room].len();
            let id = self.peers.len();
            self.peers.push(Peer {
                rtc,
                room,
                slot,
                out_mid: [None; ROOM_SIZE],
                unassigned_out: 0,
                next: now,
                queued: None,
                alive: true,
            });
            self.rooms[room].push(id);
            self.drain(id);
            self.forward();
            Ok(answer.to_sdp_string())
        })();
        let _ = join.answer.send(answer.unwrap_or_else(|e| format!("ERROR {e}")));
    }

    /// Hands one datagram to the `Rtc` it belongs to (by source address; a STUN request from a new
    /// address goes to the `Rtc` whose ICE credentials it carries).
    fn datagram(&mut self, contents: &[u8], source: SocketAddr) {
        let Ok(contents) = contents.try_into() else { return };
        let now = Instant::now();
        let input =
            Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: self.local, contents });
        let id = match self.by_addr.get(&source) {
            Some(&id) => id,
            None => {
                let Some(id) =
                    (0..self.peers.len()).find(|&i| self.peers[i].alive && self.peers[i].rtc.accepts(&input))
                else {
                    return;
                };
                self.by_addr.insert(source, id);
                id
            }
        };
        if !self.peers[id].alive {
            return;
        }
        if let Err(e) = self.peers[id].rtc.handle_input(input) {
            eprintln!("peer {id}: {e}");
        }
        self.drain(id);
        self.forward();
    }

    /// Writes each frame collected by the last drain into the other participants of its room.
    fn forward(&mut self) {
        // A listener drained after a write may emit frames of its own (it does not here: clients send
        // nothing on their receive-only m-lines), so the loop runs until none is left.
        while !self.frames.is_empty() {
            std::mem::swap(&mut self.frames, &mut self.spare);
            let mut frames = std::mem::take(&mut self.spare);
            for (speaker, frame) in frames.drain(..) {
                let (room, slot) = (self.peers[speaker].room, self.peers[speaker].slot);
                for i in 0..self.rooms[room].len() {
                    let listener = self.rooms[room][i];
                    if listener != speaker && self.peers[listener].alive {
                        self.write(listener, slot, &frame);
                    }
                }
            }
            self.spare = frames;
        }
    }

    fn write(&mut self, listener: usize, slot: usize, incoming: &Incoming) {
        let peer = &mut self.peers[listener];
        let Some((mid, pt)) = peer.out_mid[slot] else { return };
        let written = match incoming {
            Incoming::Frame(frame) => {
                let Some(writer) = peer.rtc.writer(mid) else { return };
                let pt = match pt {
                    Some(pt) => pt,
                    None => {
                        let Some(pt) = writer.match_params(frame.params) else { return };
                        peer.out_mid[slot] = Some((mid, Some(pt)));
                        pt
                    }
                };
                let level = frame.ext_vals.audio_level.unwrap_or(-127);
                let writer = writer.audio_level(level, frame.ext_vals.voice_activity.unwrap_or(false));
                writer
                    .write(pt, frame.network_time, frame.time, frame.data.clone())
                    .map_err(|e| e.to_string())
            }
            Incoming::Rtp(packet) => {
                // Both sides configure the same codec set, so the speaker's payload type is the
                // listener's (a real SFU would map it per listener).
                let header = &packet.header;
                let write = RtpWrite::new(
                    header.payload_type,
                    packet.seq_no,
                    header.timestamp,
                    packet.timestamp,
                    packet.payload.clone(),
                )
                .marker(header.marker)
                .ext_vals(header.ext_vals.clone());
                match peer.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    Some(stream) => {
                        stream.write_rtp(write);
                        Ok(())
                    }
                    None => Err("no send stream".to_string()),
                }
            }
        };
        match written {
            Ok(()) => {
                self.forwarded.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => eprintln!("write to peer {listener}: {e}"),
        }
        self.drain(listener);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let peer = &mut self.peers[id];
            if peer.queued != Some(at) || !peer.alive {
                continue;
            }
            peer.queued = None;
            if peer.next <= now {
                if let Some(reasons) = &mut self.reasons {
                    *reasons.entry(format!("{:?}", peer.rtc.last_timeout_reason())).or_default() += 1;
                }
                if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                    eprintln!("peer {id}: {e}");
                }
                self.drain(id);
                self.forward();
            } else {
                let next = peer.next;
                self.schedule(id, next);
            }
        }
    }

    fn schedule(&mut self, id: usize, at: Instant) {
        let peer = &mut self.peers[id];
        peer.next = at;
        if peer.queued.is_none_or(|queued| at < queued) {
            peer.queued = Some(at);
            self.timers.push(Reverse((at, id)));
        }
    }

    /// Polls one `Rtc` until it has nothing more to say: sends its datagrams, keeps the frames it
    /// received for [`Sfu::forward`], notes its outgoing m-lines, and schedules its next timeout.
    fn drain(&mut self, id: usize) {
        let now = Instant::now();
        loop {
            let peer = &mut self.peers[id];
            let output = match peer.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    eprintln!("peer {id}: {e}");
                    peer.alive = false;
                    return;
                }
            };
            match output {
                // A write leaves its packet queued for str0m's packetizer and then its pacer, each
                // behind a timeout that is already due: firing those here sends the packet now
                // rather than on a later pass of the loop.
                Output::Timeout(at) if at <= now => {
                    if let Some(reasons) = &mut self.reasons {
                        *reasons
                            .entry(format!("{:?} (in drain)", peer.rtc.last_timeout_reason()))
                            .or_default() += 1;
                    }
                    if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                        eprintln!("peer {id}: {e}");
                    }
                }
                Output::Timeout(at) => {
                    self.schedule(id, at);
                    return;
                }
                Output::Transmit(t) => {
                    if let Err(e) = self.socket.send_to(&t.contents, t.destination) {
                        eprintln!("send to {}: {e}", t.destination);
                    }
                }
                Output::Event(Event::MediaData(frame)) => self.frames.push((id, Incoming::Frame(frame))),
                Output::Event(Event::RtpPacket(packet)) => self.frames.push((id, Incoming::Rtp(packet))),
                Output::Event(Event::MediaAdded(added)) => {
                    // The client offers its own track first, then one receive-only m-line per other
                    // participant: those become, in order, the slots other than its own.
                    if added.direction == Direction::SendOnly {
                        let others: Vec<usize> = (0..ROOM_SIZE).filter(|&s| s != peer.slot).collect();
                        if let Some(&slot) = others.get(peer.unassigned_out) {
                            peer.out_mid[slot] = Some((added.mid, None));
                        }
                        peer.unassigned_out += 1;
                    }
                }
                Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                    peer.alive = false;
                    return;
                }
                Output::Event(_) => {}
            }
        }
    }
}

fn signalling(listener: TcpListener, joins: Sender<Join>, forwarded: Arc<AtomicU64>) {
    for stream in listener.incoming().flatten() {
        if let Err(e) = request(stream, &joins, &forwarded) {
            eprintln!("signalling: {e}");
        }
    }
}

fn request(stream: TcpStream, joins: &Sender<Join>, forwarded: &AtomicU64) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let reply = match (words.next(), words.next()) {
        (Some(JOIN), Some(room)) => {
            let mut offer = String::new();
            reader.read_to_string(&mut offer)?;
            let (answer, answered) = channel();
            joins.send(Join { room: room.to_string(), offer, answer }).expect("loop runs");
            answered.recv().unwrap_or_else(|_| "ERROR no answer".to_string())
        }
        (Some(STATS), _) => {
            let (user, system) = cpu_ticks();
            format!("{} {user} {system}\n", forwarded.load(Ordering::Relaxed))
        }
        _ => "ERROR unknown request\n".to_string(),
    };
    let mut stream = stream;
    stream.write_all(reply.as_bytes())
}

/// User and system CPU time of this process, in clock ticks, from /proc/self/stat (fields 14 and 15).
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
    (field(11), field(12))
}
