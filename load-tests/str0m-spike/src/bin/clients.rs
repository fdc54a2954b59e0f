//! The spike's load: ROOMS rooms × 3 str0m clients (a tokio task and a UDP socket each, on 127.0.0.1), each
//! offering one send-only Opus m-line (its voice) and two receive-only ones (the other two). Once every
//! client is connected, each sends the Opus fixture at 50 packets/s for WARMUP_S + DURATION_S seconds,
//! then listens one more second. Reported: the server's CPU time (its /proc/self/stat, via the STATS
//! request) over the last DURATION_S seconds divided by the packets it forwarded in them, and the
//! frames sent against those received (each sent frame is due at two listeners).
//!
//!   clients SIGNAL_ADDR ROOMS WARMUP_S DURATION_S      e.g. clients 127.0.0.1:47001 10 3 10

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output};
use str0m_spike::{JOIN, STATS, TICKS_PER_PACKET};

/// Participants per room.
const ROOM_SIZE: usize = 3;

/// One Opus packet per 20 ms: 50 packets/s per speaker.
const PACKET_INTERVAL: Duration = Duration::from_millis(20);

/// How long listeners keep reading after the last send, for packets still in flight.
const DRAIN: Duration = Duration::from_secs(1);

/// How long every client gets to connect before the run gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest a client sleeps on its socket while waiting for the start.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// Start of the sending, start of the measured window and end of the sending, set once every client
/// is connected.
type Schedule = OnceLock<(Instant, Instant, Instant)>;

/// The instant the send times written into payloads count from (all clients share the process).
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Bytes at the end of each Opus payload overwritten with its send time (nanoseconds since
/// [`EPOCH`]), so a listener can time the forwarding. The server forwards payloads unread.
const STAMP: usize = 8;

fn since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(*EPOCH.get_or_init(Instant::now)).as_nanos() as u64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    EPOCH.get_or_init(Instant::now);
    let args: Vec<String> = std::env::args().collect();
    let parse = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(signal), Some(rooms), Some(warmup), Some(duration)) =
        (args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()), parse(2), parse(3), parse(4))
    else {
        eprintln!("usage: clients SIGNAL_ADDR ROOMS WARMUP_S DURATION_S");
        std::process::exit(2);
    };
    let packets = Arc::new(str0m_spike::opus_packets(str0m_spike::FIXTURE));
    let connected = Arc::new(AtomicUsize::new(0));
    let schedule: Arc<Schedule> = Arc::new(OnceLock::new());
    let total = rooms as usize * ROOM_SIZE;
    let mut threads = Vec::new();
    for index in 0..total {
        let (packets, connected, schedule) = (packets.clone(), connected.clone(), schedule.clone());
        let room = format!("room-{}", index / ROOM_SIZE);
        threads.push(tokio::spawn(client(index, room, signal, packets, connected, schedule)));
        // Joins one after the other, as people do, so the server's DTLS handshakes do not all coincide.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    while connected.load(Ordering::Acquire) < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} clients connected",
            connected.load(Ordering::Acquire)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drops_before = udp_receive_buffer_errors();
    let start = Instant::now() + Duration::from_millis(200);
    let window_start = start + Duration::from_secs(warmup);
    let end = window_start + Duration::from_secs(duration);
    schedule.set((start, window_start, end)).expect("set once");
    tokio::time::sleep_until(window_start.into()).await;
    let before = tokio::task::spawn_blocking(move || stats(signal)).await.expect("stats");
    tokio::time::sleep_until(end.into()).await;
    let after = tokio::task::spawn_blocking(move || stats(signal)).await.expect("stats");
    let (mut sent, mut received, mut latencies) = (0u64, 0u64, Vec::new());
    for thread in threads {
        let (s, r, l) = thread.await.expect("client task");
        sent += s;
        received += r;
        latencies.extend(l);
    }
    let drops = udp_receive_buffer_errors() - drops_before;
    let forwarded = after.0 - before.0;
    let (user, system) = (after.1 - before.1, after.2 - before.2);
    // Clock ticks of /proc are 1/100 s on Linux (CLK_TCK).
    let cpu_s = (user + system) as f64 / 100.0;
    let due = sent * (ROOM_SIZE as u64 - 1);
    latencies.sort_unstable();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "rooms {rooms}: forwarding latency over {} frames sent in the window: p50 {} us, p99 {} us, max {} us",
        latencies.len(),
        quantile(0.5),
        quantile(0.99),
        latencies.last().copied().unwrap_or(0),
    );
    println!(
        "rooms {rooms}: window {duration} s, forwarded {forwarded}, server cpu {cpu_s:.2} s (user {:.2}, system {:.2}), {:.1} us per forwarded packet, {:.0} packets per cpu-second; frames sent {sent}, due {due}, received {received}, lost {}; UDP datagrams dropped for a full receive buffer, machine-wide, while sending: {drops}",
        user as f64 / 100.0,
        system as f64 / 100.0,
        cpu_s * 1e6 / forwarded.max(1) as f64,
        forwarded as f64 / cpu_s.max(0.01),
        due.saturating_sub(received),
    );
}

/// One participant: negotiates, then drives its `Rtc` on its own socket; returns (frames sent, frames
/// received).
async fn client(
    index: usize,
    room: String,
    signal: SocketAddr,
    packets: Arc<Vec<Vec<u8>>>,
    connected: Arc<AtomicUsize>,
    schedule: Arc<Schedule>,
) -> (u64, u64, Vec<u32>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client socket");
    let local = socket.local_addr().expect("local address");
    let mut rtc = str0m_spike::rtc(false, false, Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").expect("host candidate"));
    let mut api = rtc.sdp_api();
    let voice = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    for _ in 1..ROOM_SIZE {
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().expect("an offer");
    let header = format!("{JOIN} {room}\n");
    let offer = offer.to_sdp_string();
    let answer =
        tokio::task::spawn_blocking(move || exchange(signal, &header, &offer)).await.expect("signalling");
    let answer =
        SdpAnswer::from_sdp_string(&answer).unwrap_or_else(|e| panic!("client {index}: {e}: {answer}"));
    rtc.sdp_api().accept_answer(pending, answer).expect("accept answer");

    // Speakers are spread over the 20 ms period rather than all sending at the same instant.
    let phase = Duration::from_millis((index as u64 * 7) % 20);
    let (mut sent, mut received, mut is_connected) = (0u64, 0u64, false);
    // Forwarding latency in µs (arrival here against the speaker's send time) of the frames the
    // speakers sent inside the measured window.
    let mut latencies = Vec::new();
    let mut buf = vec![0u8; 2000];
    loop {
        let timeout = loop {
            match rtc.poll_output().expect("poll") {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    let _ = socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) if !is_connected => {
                    is_connected = true;
                    connected.fetch_add(1, Ordering::AcqRel);
                }
                Output::Event(Event::MediaData(frame)) => {
                    received += 1;
                    let arrived = since_epoch(Instant::now());
                    if let (Some(&(_, window, end)), Some(stamp)) =
                        (schedule.get(), frame.data.len().checked_sub(STAMP))
                    {
                        let sent_at = u64::from_le_bytes(frame.data[stamp..].try_into().expect("8 bytes"));
                        if (since_epoch(window)..since_epoch(end)).contains(&sent_at) {
                            latencies.push((arrived.saturating_sub(sent_at) / 1000) as u32);
                        }
                    }
                }
                Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected)) => {
                    eprintln!("client {index}: disconnected");
                    return (sent, received, latencies);
                }
                Output::Event(_) => {}
            }
        };
        let now = Instant::now();
        let mut wake = timeout.min(now + MAX_WAIT);
        if let Some(&(start, _, end)) = schedule.get() {
            if now >= end + DRAIN {
                return (sent, received, latencies);
            }
            let due = start + phase + PACKET_INTERVAL * sent as u32;
            if due < end {
                if due <= now {
                    let mut writer = rtc.writer(voice).expect("voice writer");
                    let pt = writer.payload_params().next().expect("opus").pt();
                    writer = writer.audio_level(-30, true);
                    let time = MediaTime::new(sent * TICKS_PER_PACKET, Frequency::FORTY_EIGHT_KHZ);
                    let mut packet = packets[sent as usize % packets.len()].clone();
                    if let Some(stamp) = packet.len().checked_sub(STAMP) {
                        packet[stamp..].copy_from_slice(&since_epoch(Instant::now()).to_le_bytes());
                    }
                    writer.write(pt, now, time, packet).expect("write");
                    sent += 1;
                    continue;
                }
                wake = wake.min(due);
            }
        }
        let input = tokio::select! {
            read = socket.recv_from(&mut buf) => {
                let (n, source) = read.unwrap_or_else(|e| panic!("client {index}: recv: {e}"));
                match buf[..n].try_into() {
                    Ok(contents) => Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: local, contents },
                    ),
                    Err(_) => continue,
                }
            }
            () = tokio::time::sleep_until(wake.into()) => Input::Timeout(Instant::now()),
        };
        rtc.handle_input(input).expect("handle input");
    }
}

/// One signalling request: the header line and a body, then the server's whole reply.
fn exchange(signal: SocketAddr, header: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(signal).expect("connect to signalling");
    stream.write_all(header.as_bytes()).expect("send header");
    stream.write_all(body.as_bytes()).expect("send body");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    reply
}

/// The server's (forwarded packets, user ticks, system ticks).
fn stats(signal: SocketAddr) -> (u64, u64, u64) {
    let reply = exchange(signal, &format!("{STATS}\n"), "");
    let numbers: Vec<u64> = reply.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(numbers.len(), 3, "STATS reply: {reply}");
    (numbers[0], numbers[1], numbers[2])
}

/// The machine's count of UDP datagrams dropped because a socket's receive buffer was full
/// (RcvbufErrors in /proc/net/snmp): all processes, so other programs' drops count too.
fn udp_receive_buffer_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}
