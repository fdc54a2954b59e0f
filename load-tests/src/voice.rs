//! The voice scenario (handoff only): rooms × [`SPEAKERS_PER_ROOM`] voice participants, each a Rust
//! WebRTC client (`handoff_server::test_support::voice::VoiceClient`) sending the committed Opus fixture
//! at 50 packets/s and hearing the other two through the server's SFU. After a warm-up, a measured window
//! times every arrival against its send (matched by speaker and RTP sequence number, see `voice_stats`),
//! counts loss and jitter, reads the server's CPU over the window against the packets it forwarded
//! (`handoff_voice_packets_forwarded_total` from `/metrics`), and its memory before and after everyone
//! joined voice. Optionally the typing scenario runs in the same rooms at the same time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use futures_util::{StreamExt, stream};
use handoff_server::test_support::voice::{PacketHook, SentHook, VoiceClient, opus_packets};

use crate::limits::{CONNECT_CONCURRENCY, MAX_DURATION, MAX_REPORTED_ERRORS};
use crate::mint::Submission;
use crate::progress::Progress;
use crate::server_watch::ServerWatch;
use crate::sysstat::rss_kib;
use crate::target::{Kind, Room, Target};
use crate::voice_report::VoiceReport;
use crate::voice_stats::{Delivery, Heard, SendLog, SharedHeard, lock};

/// The Opus fixture every speaker sends, in a loop (3 s of a 440 Hz tone in 151 packets of 20 ms).
const FIXTURE: &[u8] = include_bytes!("../../server/tests/fixtures/voice/tone-440hz-3s.opus");
/// Voice participants per room, all speaking: the candidate and two interviewers (an observer only
/// listens, so it would forward nothing of its own).
pub const SPEAKERS_PER_ROOM: usize = 3;
/// Packets each speaker sends per second (the client paces one 20 ms Opus packet per 20 ms).
pub const PACKETS_PER_SEC: u64 = 50;
/// Most rooms of one voice run: each participant is a client PeerConnection with its own UDP socket
/// in this process, so the run's descriptors and the generator's two cores bound it.
pub const MAX_VOICE_ROOMS: usize = 500;
/// Longest warm-up before the measured window.
pub const MAX_WARMUP: Duration = Duration::from_secs(120);
/// How long a participant may take from connecting to hearing both other speakers; past it the room is
/// left out and its participants count as join failures.
pub const VOICE_JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long listeners keep counting after the window closes, for packets sent at its very end.
pub const VOICE_DRAIN: Duration = Duration::from_secs(1);
/// Longest the `/metrics` scrape may take.
const METRICS_TIMEOUT: Duration = Duration::from_secs(10);
/// The server's counter of packets written to listeners.
const FORWARDED_METRIC: &str = "handoff_voice_packets_forwarded_total";

/// What one voice run does.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    pub target: Target,
    pub rooms: usize,
    /// Sending before the measured window (joins settle, jitter buffers and caches warm).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// The server's process on this machine, for CPU and memory; `None` to skip them.
    pub server_pid: Option<u32>,
    /// The rooms record each speaker (the server writes Ogg files as it forwards).
    pub record_voice: bool,
    pub quiet: bool,
    /// The typing scenario to run in the same rooms while voice runs (its `rooms` and `target` are
    /// this run's).
    pub typing: Option<crate::TypingConfig>,
}

impl VoiceConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.target.kind == Kind::Handoff, "voice runs against handoff only (its SFU)");
        ensure!((1..=MAX_VOICE_ROOMS).contains(&self.rooms), "--rooms must be 1..={MAX_VOICE_ROOMS}");
        ensure!(
            !self.duration.is_zero() && self.duration <= MAX_DURATION,
            "--duration-s must be 1..={}",
            MAX_DURATION.as_secs()
        );
        ensure!(self.warmup <= MAX_WARMUP, "--warmup-s must be at most {}", MAX_WARMUP.as_secs());
        if let Some(t) = &self.typing {
            t.validate()?;
        }
        Ok(())
    }
}

/// One participant: its client, its send log and what it heard.
struct Participant {
    client: VoiceClient,
    log: Arc<SendLog>,
    heard: SharedHeard,
}

/// Runs the scenario. `Err` when the run could not happen (rooms not minted, fixture unreadable).
pub async fn run(cfg: &VoiceConfig) -> anyhow::Result<VoiceReport> {
    cfg.validate()?;
    let wall = Instant::now();
    let progress = Progress::new(cfg.quiet);
    let packets = Arc::new(opus_packets(FIXTURE).map_err(|e| anyhow!("reading the Opus fixture: {e}"))?);
    let rooms = cfg.target.open_voice_rooms(cfg.rooms, &Submission::typing(), cfg.record_voice).await?;
    let rss_before = cfg.server_pid.and_then(|pid| rss_kib(pid).ok());

    let epoch = Instant::now();
    let window = Arc::new(AtomicBool::new(false));
    let bar = progress.phase("voice join", (rooms.len() * SPEAKERS_PER_ROOM) as u64);
    let joined: Vec<anyhow::Result<Vec<Participant>>> = stream::iter(rooms.iter())
        .map(|room| {
            let (packets, window, bar) = (packets.clone(), window.clone(), bar.clone());
            async move {
                let r = join_room(room, packets, epoch, window).await;
                bar.inc(SPEAKERS_PER_ROOM as u64);
                r
            }
        })
        .buffer_unordered((CONNECT_CONCURRENCY / SPEAKERS_PER_ROOM).max(1))
        .collect()
        .await;
    bar.finish();
    let mut live: Vec<Vec<Participant>> = Vec::new();
    let mut join_errors = Vec::new();
    for r in joined {
        match r {
            Ok(p) => live.push(p),
            Err(e) => join_errors.push(format!("{e:#}")),
        }
    }
    tokio::time::sleep(cfg.warmup).await;
    let participants = live.iter().map(Vec::len).sum::<usize>();
    let rss_joined = cfg.server_pid.and_then(|pid| rss_kib(pid).ok());

    let typing = cfg.typing.clone().map(|t| {
        let rooms = rooms.clone();
        tokio::spawn(async move { crate::typing::run_in_rooms(&t, &rooms).await })
    });
    let forwarded_before = forwarded(&cfg.target).await;
    let watch = ServerWatch::start(cfg.server_pid);
    window.store(true, Ordering::Relaxed);
    let bar = progress.timed("voice", cfg.duration, String::new);
    tokio::time::sleep(cfg.duration).await;
    window.store(false, Ordering::Relaxed);
    bar.finish();
    let server = match watch {
        Some(w) => w.finish().await,
        None => None,
    };
    let forwarded_after = forwarded(&cfg.target).await;
    tokio::time::sleep(VOICE_DRAIN).await;

    let mut forwarding = crate::stats::Latency::new();
    let mut variation = crate::stats::Latency::new();
    let mut streams = Vec::new();
    let mut expected = 0;
    let mut sent = 0;
    let mut client_errors = Vec::new();
    for room in &live {
        for p in room {
            let heard = lock(&p.heard);
            forwarding.merge(&heard.forwarding);
            variation.merge(&heard.variation);
            streams.extend(heard.streams.values().cloned());
            let seen = p.client.seen();
            if let Some(code) = seen.closed {
                client_errors.push(format!("a participant's WebSocket closed ({code})"));
            }
            sent += p.log.measured();
            // Every other participant of the room hears each measured packet.
            expected += p.log.measured() * (room.len() as u64 - 1);
        }
    }
    for room in live {
        for p in room {
            p.client.close().await;
        }
    }
    let typing = match typing {
        Some(task) => Some(task.await.map_err(|e| anyhow!("typing task failed: {e}"))??),
        None => None,
    };
    let server_forwarded = match (forwarded_before, forwarded_after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Ok(VoiceReport::build(crate::voice_report::Measured {
        cfg,
        participants,
        join_failures: join_errors.len() * SPEAKERS_PER_ROOM,
        errors: join_errors.into_iter().chain(client_errors).take(MAX_REPORTED_ERRORS).collect(),
        sent,
        delivery: Delivery::of(expected, &streams),
        forwarding: forwarding.summary(),
        variation: variation.summary(),
        server,
        server_forwarded,
        rss_before,
        rss_joined,
        typing,
        wall: wall.elapsed(),
    }))
}

/// Connects the room's three speakers (candidate, interviewer, interviewer again), joins them to voice,
/// starts their uplinks, and waits until each hears both others. Every client is closed on failure.
async fn join_room(
    room: &Room,
    packets: Arc<Vec<Vec<u8>>>,
    epoch: Instant,
    window: Arc<AtomicBool>,
) -> anyhow::Result<Vec<Participant>> {
    // Who is who (stream id = member id → that speaker's log), known once everyone has joined; arrivals
    // before then are warm-up and not counted.
    let logs: Arc<OnceLock<HashMap<String, Arc<SendLog>>>> = Arc::default();
    let mut people: Vec<Participant> = Vec::with_capacity(SPEAKERS_PER_ROOM);
    let result = async {
        for i in 0..SPEAKERS_PER_ROOM {
            // Tokens 0 and 1 are the candidate's and the interviewer's; a third speaker reuses the
            // interviewer's (a second interviewer), since an observer only listens.
            let url = room.url(i.min(1));
            let mut client =
                VoiceClient::connect(url, true).await.map_err(|e| anyhow!("{}: connect: {e}", room.id))?;
            let log = Arc::new(SendLog::new(epoch, window.clone()));
            let heard: SharedHeard = Arc::new(std::sync::Mutex::new(Heard::default()));
            client.on_sent(sent_hook(log.clone()));
            client.on_packet(packet_hook(logs.clone(), heard.clone()));
            client.join().await.map_err(|e| anyhow!("{}: join voice: {e}", room.id))?;
            people.push(Participant { client, log, heard });
        }
        let mut map = HashMap::new();
        for p in &mut people {
            let me = p.client.wait_for(VOICE_JOIN_TIMEOUT, |s| s.me.is_some()).await;
            ensure!(me, "{}: no member id within {VOICE_JOIN_TIMEOUT:?}", room.id);
            let id = p.client.seen().me.context("member id")?;
            map.insert(id, p.log.clone());
            p.client.start_sending(packets.clone());
        }
        let _ = logs.set(map);
        for p in &people {
            let heard_both = p
                .client
                .wait_for(VOICE_JOIN_TIMEOUT, |s| {
                    s.packets.values().filter(|&&n| n > 0).count() >= SPEAKERS_PER_ROOM - 1
                })
                .await;
            ensure!(
                heard_both,
                "{}: a participant did not hear both others within {VOICE_JOIN_TIMEOUT:?}",
                room.id
            );
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(people),
        Err(e) => {
            for p in people {
                p.client.close().await;
            }
            Err(e)
        }
    }
}

fn sent_hook(log: Arc<SendLog>) -> SentHook {
    Arc::new(move |sequence, _timestamp, at| log.record(sequence, at))
}

fn packet_hook(logs: Arc<OnceLock<HashMap<String, Arc<SendLog>>>>, heard: SharedHeard) -> PacketHook {
    Arc::new(move |stream, sequence, _timestamp| {
        let now = Instant::now();
        let Some(log) = logs.get().and_then(|m| m.get(stream)) else { return };
        let Some(sent) = log.lookup(sequence) else { return };
        if sent.measured {
            lock(&heard).arrival(stream, sequence, now.saturating_duration_since(sent.at));
        }
    })
}

/// The server's count of forwarded voice packets, from its `/metrics` (`None` when it cannot be read,
/// e.g. behind `--metrics-token`: the report then divides by the packets the listeners received).
async fn forwarded(target: &Target) -> Option<u64> {
    let http = reqwest::Client::builder().timeout(METRICS_TIMEOUT).build().ok()?;
    let url = format!("{}/metrics", target.url.trim_end_matches('/'));
    let text = http.get(url).send().await.ok()?.error_for_status().ok()?.text().await.ok()?;
    metric(&text, FORWARDED_METRIC)
}

/// The value of an unlabelled counter in Prometheus text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse::<f64>().ok().map(|v| v as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_counter_is_read_from_prometheus_text() {
        let text = "# HELP handoff_voice_packets_forwarded_total x\n# TYPE handoff_voice_packets_forwarded_total counter\nhandoff_voice_packets_forwarded_total_other 3\nhandoff_voice_packets_forwarded_total 12345\n";
        assert_eq!(metric(text, FORWARDED_METRIC), Some(12_345));
        assert_eq!(metric("", FORWARDED_METRIC), None);
    }

    #[test]
    fn the_fixture_is_20_ms_opus_packets() {
        let packets = opus_packets(FIXTURE).unwrap();
        // 3 s at 50 packets/s, and the encoder's final padding packet.
        assert_eq!(packets.len(), 151);
    }
}
