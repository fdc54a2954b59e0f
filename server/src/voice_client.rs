//! A voice client in Rust, for the tests and the load tool: it connects to a room's WebSocket with
//! `ext=voice`, joins voice, answers the server's offers, trickles candidates, sends the Opus packets of
//! an Ogg file as its uplink (paced at one 20 ms packet per 20 ms, with an RFC 6464 audio level on each)
//! and counts the packets it receives per speaker. It keeps counts, never per-packet logs, so hundreds
//! of them can run in one process.

mod events;
mod media;
mod ogg;
mod signals;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use handoff_protocol::limits::KEEPALIVE_SECS;
use handoff_protocol::voice::{
    ClientSignal, LeftReason, VoiceErrorCode, VoiceParticipant, encode_client_signal,
};
use rtc::rtp;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, RTCConfigurationBuilder, RTCPeerConnectionState,
    SettingEngineBuilder,
};

pub use ogg::{OggError, opus_packets};

use crate::voice::audio_level_payload;
use events::ClientEvents;
use media::{OPUS_PAYLOAD_TYPE, audio_track, media};
use signals::on_frame;

/// Frames queued to the client's WebSocket writer.
const OUTGOING_FRAMES: usize = 256;
/// One Opus packet's duration in RTP clock ticks (20 ms at 48 kHz).
const TICKS_PER_PACKET: u32 = 960;
/// Time between two uplink packets.
const PACKET_EVERY: Duration = Duration::from_millis(20);
/// The audio level the client reports on its packets (0..1).
const SPEAKING_LEVEL: f32 = 0.8;

/// Called for every RTP packet the client receives, as it is read: the speaker's stream id, the
/// packet's RTP sequence number and timestamp. The load tool times arrivals with it.
pub type PacketHook = Arc<dyn Fn(&str, u16, u32) + Send + Sync>;
/// Called just before each uplink packet is written: its RTP sequence number and timestamp, and the
/// instant. The load tool matches arrivals against it (a packet whose write fails was still logged).
pub type SentHook = Arc<dyn Fn(u16, u32, std::time::Instant) + Send + Sync>;

/// What the client has seen so far.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// This connection's member id (`state`'s `you`).
    pub me: Option<String>,
    /// Who is in voice, as the last `state` said.
    pub participants: Vec<VoiceParticipant>,
    /// Offers received.
    pub offers: u64,
    /// The ICE username fragment of the latest offer (a restart changes it).
    pub ice_ufrag: Option<String>,
    /// The stream ids (speakers) the latest offer sends to this client.
    pub offered_streams: BTreeSet<String>,
    /// Tracks received, by stream id (the speaker's member id).
    pub tracks: BTreeSet<String>,
    /// RTP packets received, by stream id.
    pub packets: BTreeMap<String, u64>,
    /// The loudest level `levels` reported, by member.
    pub levels: BTreeMap<String, f32>,
    /// `error` codes received, in order.
    pub errors: Vec<VoiceErrorCode>,
    /// `left`, if the server closed this client's voice.
    pub left: Option<LeftReason>,
    /// The PeerConnection's latest state.
    pub pc_state: Option<RTCPeerConnectionState>,
    /// The WebSocket's close code, once closed.
    pub closed: Option<u16>,
    /// Voice signalling frames received.
    pub signals: u64,
    /// Frames of other extension messages, or not 101 at all but not y-sync either.
    pub unexpected: u64,
}

impl Seen {
    /// Whether `member` is in voice and muted.
    pub fn muted(&self, member: &str) -> Option<bool> {
        self.participants.iter().find(|p| p.member == member).map(|p| p.muted)
    }

    /// Packets received from `member`.
    pub fn packets_from(&self, member: &str) -> u64 {
        self.packets.get(member).copied().unwrap_or(0)
    }
}

struct Shared {
    seen: Mutex<Seen>,
    changed: Notify,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_waiters();
    }
}

/// The client's current PeerConnection and its uplink.
struct Call {
    pc: Arc<dyn PeerConnection>,
    uplink: Option<(Arc<TrackLocalStaticRTP>, u32)>,
    uplink_added: bool,
}

/// A voice client connected to one room.
pub struct VoiceClient {
    shared: Arc<Shared>,
    out: mpsc::Sender<Message>,
    call: Arc<tokio::sync::Mutex<Option<Call>>>,
    speaks: bool,
    level_id: Arc<std::sync::atomic::AtomicU8>,
    sending: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    on_packet: Option<PacketHook>,
    on_sent: Option<SentHook>,
    tasks: Vec<JoinHandle<()>>,
}

impl VoiceClient {
    /// Connects to `url` (a room's WebSocket URL with its token; `ext=voice` is added). `speaks` is false
    /// for an observer's client, which offers no uplink.
    pub async fn connect(url: &str, speaks: bool) -> Result<VoiceClient, String> {
        let url = format!("{url}&ext=voice");
        let (socket, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| e.to_string())?;
        let (mut sink, mut stream) = socket.split();
        let (out, mut outgoing) = mpsc::channel::<Message>(OUTGOING_FRAMES);
        let shared = Arc::new(Shared { seen: Mutex::default(), changed: Notify::new() });
        let call: Arc<tokio::sync::Mutex<Option<Call>>> = Arc::default();
        let level_id = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let writer = tokio::spawn(async move {
            // The server closes a connection it hears nothing from; a ping now and then also flushes
            // the pongs tungstenite queued for the server's pings.
            let mut keepalive = tokio::time::interval(Duration::from_secs(KEEPALIVE_SECS));
            loop {
                let message = tokio::select! {
                    message = outgoing.recv() => match message {
                        Some(message) => message,
                        None => break,
                    },
                    _ = keepalive.tick() => Message::Ping(Bytes::new()),
                };
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        });
        let reader = {
            let (shared, call, out, level_id) = (shared.clone(), call.clone(), out.clone(), level_id.clone());
            tokio::spawn(async move {
                while let Some(message) = stream.next().await {
                    match message {
                        Ok(Message::Binary(frame)) => {
                            on_frame(&frame, &shared, &call, &out, &level_id).await;
                        }
                        Ok(Message::Close(close)) => {
                            let code = close.map_or(1005, |c| u16::from(c.code));
                            shared.update(|s| s.closed = Some(code));
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                shared.update(|s| {
                    s.closed.get_or_insert(1006);
                });
            })
        };
        Ok(VoiceClient {
            shared,
            out,
            call,
            speaks,
            level_id,
            sending: Arc::default(),
            sent: Arc::default(),
            on_packet: None,
            on_sent: None,
            tasks: vec![writer, reader],
        })
    }

    /// What the client has seen so far.
    pub fn seen(&self) -> Seen {
        self.shared.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Calls `hook` for every packet received on the PeerConnections opened from now on ([`Self::join`]).
    pub fn on_packet(&mut self, hook: PacketHook) {
        self.on_packet = Some(hook);
    }

    /// Calls `hook` for every uplink packet written by the sending started from now on
    /// ([`Self::start_sending`]).
    pub fn on_sent(&mut self, hook: SentHook) {
        self.on_sent = Some(hook);
    }

    /// Uplink packets sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits until `cond` holds of what the client has seen, or `patience` passes; returns whether it
    /// held.
    pub async fn wait_for(&self, patience: Duration, cond: impl Fn(&Seen) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let changed = self.shared.changed.notified();
            if cond(&self.seen()) {
                return true;
            }
            // Packets counted by track readers notify too; a short poll covers anything that does not.
            let wake = deadline.min(tokio::time::Instant::now() + Duration::from_millis(100));
            let _ = tokio::time::timeout_at(wake, changed).await;
            if tokio::time::Instant::now() >= deadline {
                return cond(&self.seen());
            }
        }
    }

    /// Sends a signal.
    pub async fn send(&self, signal: &ClientSignal) {
        self.send_raw(encode_client_signal(signal)).await;
    }

    /// Sends any bytes as one binary frame (for tests of malformed frames).
    pub async fn send_raw(&self, frame: Vec<u8>) {
        let _ = self.out.send(Message::Binary(Bytes::from(frame))).await;
    }

    /// Opens a fresh PeerConnection and asks to join voice; the server's offer is answered as it comes.
    pub async fn join(&self) -> Result<(), String> {
        let (engine, registry) = media().map_err(|e| e.to_string())?;
        let handler = Arc::new(ClientEvents {
            shared: self.shared.clone(),
            out: self.out.clone(),
            on_packet: self.on_packet.clone(),
        });
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(SettingEngineBuilder::new().with_include_loopback_candidate(true).build())
            .with_handler(handler)
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let uplink = self.speaks.then(|| audio_track("uplink".to_owned(), "uplink-audio".to_owned()));
        let previous = self.call.lock().await.replace(Call { pc: Arc::new(pc), uplink, uplink_added: false });
        if let Some(previous) = previous {
            let _ = previous.pc.close().await;
        }
        self.shared.update(|s| s.left = None);
        self.send(&ClientSignal::Join).await;
        Ok(())
    }

    /// Leaves voice and closes the PeerConnection.
    pub async fn leave(&self) {
        self.send(&ClientSignal::Leave).await;
        self.close_call().await;
    }

    /// Mutes or unmutes oneself.
    pub async fn mute(&self, muted: bool) {
        self.send(&ClientSignal::Mute { muted }).await;
    }

    /// Mutes or unmutes another member (the interviewer's right).
    pub async fn mute_member(&self, member: &str, muted: bool) {
        self.send(&ClientSignal::MuteMember { member: member.to_owned(), muted }).await;
    }

    /// Starts sending `packets` (Opus, 20 ms each) as the uplink, in a loop, until [`Self::stop_sending`].
    pub fn start_sending(&mut self, packets: Arc<Vec<Vec<u8>>>) {
        self.sending.store(true, Ordering::Relaxed);
        let (call, sending, sent, level_id) =
            (self.call.clone(), self.sending.clone(), self.sent.clone(), self.level_id.clone());
        let on_sent = self.on_sent.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(PACKET_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut sequence, mut timestamp) = (rand::random::<u16>(), rand::random::<u32>());
            let level = Bytes::from(vec![audio_level_payload(SPEAKING_LEVEL)]);
            'outer: loop {
                for payload in packets.iter() {
                    every.tick().await;
                    if !sending.load(Ordering::Relaxed) {
                        break 'outer;
                    }
                    let Some((track, ssrc)) = call.lock().await.as_ref().and_then(|c| c.uplink.clone())
                    else {
                        continue;
                    };
                    let mut packet = rtp::Packet {
                        header: rtp::header::Header {
                            version: 2,
                            payload_type: OPUS_PAYLOAD_TYPE,
                            sequence_number: sequence,
                            timestamp,
                            ssrc,
                            ..Default::default()
                        },
                        payload: Bytes::copy_from_slice(payload),
                    };
                    let id = level_id.load(Ordering::Relaxed);
                    if id != 0 {
                        let _ = packet.header.set_extension(id, level.clone());
                    }
                    let (this_sequence, this_timestamp) = (sequence, timestamp);
                    sequence = sequence.wrapping_add(1);
                    timestamp = timestamp.wrapping_add(TICKS_PER_PACKET);
                    // Before the write: on loopback a listener may read the packet before the write
                    // returns, and must find it logged.
                    if let Some(hook) = &on_sent {
                        hook(this_sequence, this_timestamp, std::time::Instant::now());
                    }
                    if track.write_rtp(packet).await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    /// Stops the uplink.
    pub fn stop_sending(&self) {
        self.sending.store(false, Ordering::Relaxed);
    }

    async fn close_call(&self) {
        let call = self.call.lock().await.take();
        if let Some(call) = call {
            let _ = call.pc.close().await;
        }
    }

    /// Drops the WebSocket without a word and without closing the PeerConnection, as a lost network
    /// would: the server must close the member's voice by itself.
    pub async fn drop_socket(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// Asks the server for an ICE restart (a new offer with new ICE credentials).
    pub async fn restart_ice(&self) {
        self.send(&ClientSignal::RestartIce).await;
    }

    /// Closes the PeerConnection and the WebSocket.
    pub async fn close(mut self) {
        self.stop_sending();
        self.close_call().await;
        let _ = self.out.send(Message::Close(None)).await;
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl std::fmt::Debug for VoiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceClient").field("seen", &self.seen()).finish_non_exhaustive()
    }
}
