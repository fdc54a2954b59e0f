//! Prometheus metrics (`GET /metrics`): connections, loaded rooms, updates and bytes in and out,
//! slow-consumer disconnects, update fan-out latency, group-commit latency and room load time, plus the
//! process's CPU and memory.
//! Counters are plain atomics on the hot path; nothing here allocates per update.
//!
//! Every other module bumps these; this one depends on none of them. The gauges counted at scrape
//! time (rooms loaded, rooms live) are handed to [`Metrics::gather`] by the handler of `GET /metrics`.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The media type of [`Metrics::gather`]'s output: the Prometheus text format.
pub(crate) const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Histogram buckets in seconds, from 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0];

/// Fan-out buckets in seconds, from 50 µs (a write into a free socket right after the apply) to 1 s (a
/// member whose outbox waits on a slow socket; past that the write-stall timeout is near).
const FANOUT_BUCKETS: [f64; 14] =
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

pub struct Metrics {
    registry: Registry,
    pub connections: IntGauge,
    pub rooms_loaded: IntGauge,
    pub rooms_live: IntGauge,
    pub updates_in: IntCounter,
    pub updates_out: IntCounter,
    pub bytes_in: IntCounter,
    pub frames_out: IntCounter,
    pub bytes_out: IntCounter,
    pub slow_consumers: IntCounter,
    pub updates_refused: IntCounter,
    /// The same refusals by reason: the labels of `update_check::Refusal::reason`, and `integration`
    /// (yrs refused it), `broken` (it broke the document) and `schema` (it broke the `files` map) from
    /// the room.
    pub updates_refused_by_reason: IntCounterVec,
    pub room_rebuilds: IntCounter,
    pub room_rebuild_failures: IntCounter,
    /// Cluster mode: what the bus did or met, by event (`committed` counts entries).
    pub cluster_events: IntCounterVec,
    pub http_connections: IntGauge,
    pub connections_refused: IntCounter,
    pub accept_errors: IntCounter,
    pub voice_peer_connections: IntGauge,
    pub voice_participants: IntGauge,
    pub voice_rooms: IntGauge,
    pub voice_uplinks: IntGauge,
    pub voice_packets_in: IntCounter,
    pub voice_packets_forwarded: IntCounter,
    pub voice_packets_muted: IntCounter,
    pub voice_peer_panics: IntCounter,
    pub commit_seconds: Histogram,
    pub room_load_seconds: Histogram,
    /// Room loads by what they started from: `snapshot` (the newest snapshot and the log after it) or
    /// `log` (the whole log: the room has no snapshot yet).
    pub room_loads: IntCounterVec,
    /// Log entries replayed by room loads (those after each load's snapshot).
    pub room_load_entries: IntCounter,
    /// From the room taking an accepted update to its write into each other member's socket, once per
    /// member (see `ws::sink`).
    pub fanout_seconds: Histogram,
    /// Cluster mode: from another node accepting an update to this node reading it from the bus
    /// (wall clocks, milliseconds: see `cluster::cursor`). With `fanout_seconds` it makes the server's
    /// own cross-node latency.
    pub bus_hop_seconds: Histogram,
    /// Voice packets not recorded, by reason: `queue_full` (the writer's queue was at its bound),
    /// `invalid`, `duplicate`, `late`, `too_long` (see `recording::timeline`).
    pub recording_packets_dropped: IntCounterVec,
    pub recording_packets: IntCounter,
    pub recordings_open: IntGauge,
    pub recording_failures: IntCounter,
    pub recording_reanchors: IntCounter,
    /// Webhook delivery attempts by outcome: `delivered`, `retry` (failed, tried again later) and
    /// `failed` (failed for the last time: the receiver never gets this room's summary).
    pub webhook_attempts: IntCounterVec,
    /// Rounds of the webhook worker over the outbox (each after its attempts finished).
    pub webhook_polls: IntCounter,
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric name");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric name");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

fn histogram(r: &Registry, name: &str, help: &str) -> Histogram {
    histogram_in(r, name, help, &LATENCY_BUCKETS)
}

fn histogram_in(r: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
        .expect("valid histogram");
    r.register(Box::new(h.clone())).expect("registered once");
    h
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new();
    #[cfg(target_os = "linux")]
    let _ = r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
    Metrics {
        connections: gauge(&r, "handoff_connections", "WebSocket connections joined to a room"),
        rooms_loaded: gauge(&r, "handoff_rooms_loaded", "Rooms held in memory on this node"),
        rooms_live: gauge(
            &r,
            "handoff_rooms_live",
            "Rooms promoted and not ended, loaded or not (from the store)",
        ),
        updates_in: counter(&r, "handoff_updates_in_total", "Document updates accepted from clients"),
        updates_out: counter(
            &r,
            "handoff_updates_out_total",
            "Document updates queued for clients: each accepted update once per other member",
        ),
        bytes_in: counter(&r, "handoff_bytes_in_total", "Bytes of WebSocket messages received from clients"),
        frames_out: counter(&r, "handoff_frames_out_total", "Frames queued for clients"),
        bytes_out: counter(&r, "handoff_bytes_out_total", "Bytes of frames queued for clients"),
        slow_consumers: counter(
            &r,
            "handoff_slow_consumer_disconnects_total",
            "Clients disconnected because their outbox filled up",
        ),
        updates_refused: counter(
            &r,
            "handoff_updates_refused_total",
            "Document updates refused (their sender is closed with 1007), whatever the reason",
        ),
        updates_refused_by_reason: {
            let c = IntCounterVec::new(
                Opts::new(
                    "handoff_updates_refused_by_reason_total",
                    "Document updates refused (their sender is closed with 1007), by reason",
                ),
                &["reason"],
            )
            .expect("valid metric");
            r.register(Box::new(c.clone())).expect("registered once");
            c
        },
        room_rebuilds: counter(
            &r,
            "handoff_room_rebuilds_total",
            "Rooms rebuilt from their log because an update broke the document",
        ),
        cluster_events: {
            let c = IntCounterVec::new(
                Opts::new(
                    "handoff_cluster_events_total",
                    "Cluster mode: entries committed from the bus, skipped entries, rebuilds, Redis errors",
                ),
                &["event"],
            )
            .expect("valid metric");
            r.register(Box::new(c.clone())).expect("registered once");
            c
        },
        room_rebuild_failures: counter(
            &r,
            "handoff_room_rebuild_failures_total",
            "Rebuilds that failed, so the room closed everyone and was unloaded",
        ),
        http_connections: gauge(
            &r,
            "handoff_http_connections",
            "Connections open that are not (yet) WebSockets: requests, handshakes, idle keep-alives",
        ),
        connections_refused: counter(
            &r,
            "handoff_connections_refused_total",
            "Connections closed at accept: over the HTTP connection cap, in total or for their address",
        ),
        accept_errors: counter(
            &r,
            "handoff_accept_errors_total",
            "Failed accepts (out of file descriptors and the like), each followed by a pause",
        ),
        voice_peer_connections: gauge(
            &r,
            "handoff_voice_peer_connections",
            "Voice WebRTC connections open on the voice loops (one per member joined to voice), until each is closed",
        ),
        voice_participants: gauge(&r, "handoff_voice_participants", "Members joined to voice"),
        voice_rooms: gauge(&r, "handoff_voice_rooms", "Rooms with a voice task running"),
        voice_uplinks: gauge(&r, "handoff_voice_uplinks", "Speakers' uplink tracks being read"),
        voice_packets_in: counter(&r, "handoff_voice_packets_in_total", "Uplink RTP packets received"),
        voice_packets_forwarded: counter(
            &r,
            "handoff_voice_packets_forwarded_total",
            "RTP packets written to listeners (each uplink packet once per listener)",
        ),
        voice_packets_muted: counter(
            &r,
            "handoff_voice_packets_muted_total",
            "Uplink RTP packets dropped because their speaker is muted",
        ),
        voice_peer_panics: counter(
            &r,
            "handoff_voice_peer_panics_total",
            "Members' voice connections dropped because their work panicked (the loop went on)",
        ),
        commit_seconds: histogram(
            &r,
            "handoff_store_commit_seconds",
            "Duration of one group commit of a room",
        ),
        room_load_seconds: histogram(&r, "handoff_room_load_seconds", "Time to load a room from the store"),
        room_loads: {
            let c = IntCounterVec::new(
                Opts::new("handoff_room_loads_total", "Room loads, by what they started from"),
                &["from"],
            )
            .expect("valid metric");
            r.register(Box::new(c.clone())).expect("registered once");
            c
        },
        room_load_entries: counter(
            &r,
            "handoff_room_load_entries_total",
            "Log entries replayed by room loads (the log after each load's snapshot)",
        ),
        fanout_seconds: histogram_in(
            &r,
            "handoff_fanout_seconds",
            "From the room taking an accepted update (or the node receiving one from the bus) to its write \
             into each other member's socket, once per member",
            &FANOUT_BUCKETS,
        ),
        bus_hop_seconds: histogram_in(
            &r,
            "handoff_bus_hop_seconds",
            "Cluster mode: from another node accepting an update to this node reading it from the bus \
             (wall-clock milliseconds of both nodes)",
            &FANOUT_BUCKETS,
        ),
        recording_packets_dropped: {
            let c = IntCounterVec::new(
                Opts::new("handoff_recording_packets_dropped_total", "Voice packets not recorded, by reason"),
                &["reason"],
            )
            .expect("valid metric");
            r.register(Box::new(c.clone())).expect("registered once");
            c
        },
        recording_packets: counter(
            &r,
            "handoff_recording_packets_total",
            "Voice packets written to recordings",
        ),
        recordings_open: gauge(&r, "handoff_recordings_open", "Voice recordings being written"),
        recording_failures: counter(
            &r,
            "handoff_recording_failures_total",
            "Recordings abandoned because their file or row could not be written",
        ),
        recording_reanchors: counter(
            &r,
            "handoff_recording_reanchors_total",
            "Times a speaker's RTP timestamps disagreed with the room clock and the clock won",
        ),
        webhook_attempts: {
            let c = IntCounterVec::new(
                Opts::new("handoff_webhook_attempts_total", "Webhook delivery attempts, by outcome"),
                &["outcome"],
            )
            .expect("valid metric");
            r.register(Box::new(c.clone())).expect("registered once");
            c
        },
        webhook_polls: counter(
            &r,
            "handoff_webhook_polls_total",
            "Rounds of the webhook worker over the outbox, each counted once its attempts are done",
        ),
        registry: r,
    }
});

impl Metrics {
    /// Counts a refused update, in total and under its reason.
    /// Counts a cluster event (see `cluster_events`).
    pub fn cluster(&self, event: &'static str, n: u64) {
        self.cluster_events.with_label_values(&[event]).inc_by(n);
    }

    pub fn refuse_update(&self, reason: &'static str) {
        self.updates_refused.inc();
        self.updates_refused_by_reason.with_label_values(&[reason]).inc();
    }
}

/// The gauges counted when scraped rather than kept up to date.
#[derive(Debug, Clone, Copy)]
pub struct Sampled {
    /// Rooms held in memory on this node.
    pub rooms_loaded: usize,
    /// Rooms promoted and not ended, as the store counts them; `None` when it could not, which leaves
    /// the last count in place.
    pub rooms_live: Option<u64>,
}

impl Metrics {
    /// Sets the sampled gauges, then encodes every metric in the Prometheus text format.
    pub fn gather(&self, sampled: Sampled) -> Vec<u8> {
        self.rooms_loaded.set(i64::try_from(sampled.rooms_loaded).unwrap_or(i64::MAX));
        if let Some(live) = sampled.rooms_live {
            self.rooms_live.set(i64::try_from(live).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

impl std::fmt::Debug for Metrics {
    /// Opaque: Prometheus handles; `/metrics` shows their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
