//! The voice scenario's report: forwarding latency, loss and jitter, the server's CPU per forwarded
//! packet and memory per participant. Printed as a table and written as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::report::{Report, write_result};
use crate::server_watch::ServerFigures;
use crate::stats::{Percentiles, write_latency_table};
use crate::voice::{PACKETS_PER_SEC, SPEAKERS_PER_ROOM, VoiceConfig};
use crate::voice_stats::Delivery;

#[derive(Debug, Clone, Serialize)]
pub struct VoiceReport {
    pub scenario: &'static str,
    pub server: String,
    pub rooms: usize,
    pub participants_per_room: usize,
    pub packets_per_sec_per_speaker: u64,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// The rooms recorded each speaker while forwarding.
    pub record_voice: bool,
    /// Participants in voice through the window.
    pub participants: usize,
    /// Participants of rooms that could not join (left out of the run).
    pub join_failures: usize,
    pub errors: Vec<String>,
    /// Packets the speakers sent inside the measured window.
    pub packets_sent: u64,
    /// Packets they would have sent on time: participants × 50/s × the window. Fewer sent means the
    /// generator fell behind (its clients pace each packet after the previous one).
    pub packets_due: u64,
    /// Loss and jitter: each of those packets × the other participants of its room.
    pub delivery: Delivery,
    /// A listener's arrival − the speaker's send instant (just before the client wrote it).
    pub forwarding: Percentiles,
    /// |D| of RFC 3550: how much each arrival's transit time differs from the previous one's.
    pub transit_variation: Percentiles,
    /// The server's CPU over the window (its `delivered_updates` are the packets it forwarded).
    pub server_figures: Option<ServerFigures>,
    /// Packets the server wrote to listeners over the window, from its `/metrics`.
    pub server_forwarded: Option<u64>,
    /// Forwarded packets per second of server CPU time: the figure to hold against LiveKit's ~60,000
    /// audio packets/s per vCPU.
    pub packets_per_cpu_second: Option<f64>,
    /// Server RSS after minting the rooms, and after every participant joined voice and warmed up.
    pub rss_kib_before: Option<u64>,
    pub rss_kib_joined: Option<u64>,
    /// (joined − before) ÷ participants: a PeerConnection, its UDP socket, tracks and buffers, plus the
    /// participant's WebSocket.
    pub kib_per_participant: Option<f64>,
    /// The typing run in the same rooms at the same time (`--with-typing`).
    pub typing: Option<Report>,
    pub wall_s: f64,
}

/// What a run measured, for [`VoiceReport::build`].
pub struct Measured<'a> {
    pub cfg: &'a VoiceConfig,
    pub participants: usize,
    pub join_failures: usize,
    pub errors: Vec<String>,
    pub sent: u64,
    pub delivery: Delivery,
    pub forwarding: Percentiles,
    pub variation: Percentiles,
    pub server: Option<ServerFigures>,
    pub server_forwarded: Option<u64>,
    pub rss_before: Option<u64>,
    pub rss_joined: Option<u64>,
    pub typing: Option<Report>,
    pub wall: Duration,
}

impl VoiceReport {
    pub fn build(m: Measured<'_>) -> VoiceReport {
        // CPU per packet the server says it forwarded; without its metrics, per packet that arrived.
        let forwarded = m.server_forwarded.unwrap_or(m.delivery.received);
        let server_figures = m.server.map(|f| f.with_deliveries(forwarded));
        let packets_per_cpu_second =
            server_figures.as_ref().filter(|f| f.cpu_s > 0.0).map(|f| f.delivered_updates as f64 / f.cpu_s);
        let kib_per_participant = match (m.rss_before, m.rss_joined) {
            (Some(a), Some(b)) if m.participants > 0 => Some((b as f64 - a as f64) / m.participants as f64),
            _ => None,
        };
        VoiceReport {
            scenario: "voice",
            server: m.cfg.target.url.clone(),
            rooms: m.cfg.rooms,
            participants_per_room: SPEAKERS_PER_ROOM,
            packets_per_sec_per_speaker: PACKETS_PER_SEC,
            warmup_s: m.cfg.warmup.as_secs_f64(),
            duration_s: m.cfg.duration.as_secs_f64(),
            record_voice: m.cfg.record_voice,
            participants: m.participants,
            join_failures: m.join_failures,
            errors: m.errors,
            packets_sent: m.sent,
            packets_due: (m.participants as f64 * PACKETS_PER_SEC as f64 * m.cfg.duration.as_secs_f64())
                as u64,
            delivery: m.delivery,
            forwarding: m.forwarding,
            transit_variation: m.variation,
            server_figures,
            server_forwarded: m.server_forwarded,
            packets_per_cpu_second,
            rss_kib_before: m.rss_before,
            rss_kib_joined: m.rss_joined,
            kib_per_participant,
            typing: m.typing,
            wall_s: m.wall.as_secs_f64(),
        }
    }

    /// Nothing lost, every room joined, and the typing run (if any) OK.
    pub fn ok(&self) -> bool {
        self.delivery.lost == 0
            && self.join_failures == 0
            && self.errors.is_empty()
            && self.typing.as_ref().is_none_or(Report::ok)
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "handoff-load voice: {} rooms × {} speakers at {} packets/s, {} s warm-up, {} s measured{}, against {}",
            self.rooms,
            self.participants_per_room,
            self.packets_per_sec_per_speaker,
            self.warmup_s,
            self.duration_s,
            if self.record_voice { ", recorded" } else { "" },
            self.server
        );
        let _ = writeln!(
            s,
            "participants       {} in voice, {} could not join",
            self.participants, self.join_failures
        );
        for e in &self.errors {
            let _ = writeln!(s, "  {e}");
        }
        let d = &self.delivery;
        let _ = writeln!(
            s,
            "packets sent       {} in the window, of {} due (fewer: the generator fell behind)",
            self.packets_sent, self.packets_due
        );
        let _ = writeln!(
            s,
            "deliveries         {} expected, {} received, {} lost ({:.3} %), {} out of order",
            d.expected, d.received, d.lost, d.loss_percent, d.out_of_order
        );
        let _ = writeln!(
            s,
            "jitter (RFC 3550)  {:.0} µs mean, {:.0} µs max over {} listener streams",
            d.jitter_mean_us,
            d.jitter_max_us,
            self.participants * (self.participants_per_room - 1)
        );
        write_latency_table(
            &mut s,
            &[("forwarding", &self.forwarding), ("transit change", &self.transit_variation)],
        );
        if let Some(f) = &self.server_figures {
            let _ = writeln!(s, "{}", f.table().replace("delivered update", "forwarded packet"));
            let source = if self.server_forwarded.is_some() { "/metrics" } else { "listeners" };
            let _ = writeln!(
                s,
                "forwarded          {} packets ({source}), {:.0} packets per second of server CPU",
                f.delivered_updates,
                self.packets_per_cpu_second.unwrap_or(0.0)
            );
        }
        if let (Some(a), Some(b), Some(per)) =
            (self.rss_kib_before, self.rss_kib_joined, self.kib_per_participant)
        {
            let _ = writeln!(
                s,
                "server RSS         {a} KiB before voice, {b} KiB joined: {per:.0} KiB per participant"
            );
        }
        if let Some(t) = &self.typing {
            let _ = writeln!(s, "--- typing in the same rooms while voice ran ---\n{}", t.table());
        }
        let _ = writeln!(s, "wall time          {:.1} s", self.wall_s);
        write_result(&mut s, self.ok(), "FAILED (lost, join failures or errors)");
        s
    }
}
