//! The command line: every scenario's flags (each also an environment variable `HANDOFF_LOAD_*`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use handoff_load::limits::{DEFAULT_DRAIN_S, DEFAULT_LATE_MS};
use handoff_load::metronome::Rhythm;
use handoff_load::placement::Layout;
use handoff_load::target::Kind;
use handoff_load::typing::Shard;

#[derive(Parser)]
#[command(
    name = "handoff-load",
    version,
    about = "Load generator and benchmark for handoff and other Yjs servers"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// One typist per room types on a fixed timetable (a cursor update per key); the other clients
    /// measure fan-out latency.
    Typing(TypingArgs),
    /// Like typing, but each "key" pastes a large block: fan-out of big updates.
    LargePaste(PasteArgs),
    /// A long typing run that watches the server's memory for growth.
    Soak(TypingArgs),
    /// Many clients join rooms holding a large submission at the same instant: first-sync latency.
    JoinStorm(JoinStormArgs),
    /// Every client drops at once while typists keep typing offline, then all reconnect at once.
    ReconnectStorm(ReconnectArgs),
    /// Submit + promote + first join through handoff's API: promote → room ready, and the rate.
    Promote(PromoteArgs),
    /// Connection density: server memory per idle connection and per loaded room (handoff).
    Idle(IdleArgs),
    /// Rooms of three WebRTC speakers through handoff's SFU: forwarding latency, loss, jitter, server
    /// CPU per forwarded packet and memory per participant (optionally with typing in the same rooms).
    Voice(VoiceArgs),
    /// Draws p50/p99 latency against rooms for each target from report JSON files, as SVG.
    Plot(PlotArgs),
}

#[derive(Args)]
pub(crate) struct PlotArgs {
    /// Report JSON files (typing reports or --compare arrays); others are skipped.
    pub(crate) inputs: Vec<PathBuf>,
    /// The SVG to write.
    #[arg(long, short)]
    pub(crate) out: PathBuf,
    #[arg(long, default_value = "Fan-out latency against rooms (3 clients per room, 5 keys/s)")]
    pub(crate) title: String,
}

#[derive(Args, Clone)]
pub(crate) struct JoinStormArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Rooms; each gets --joiners clients at once, so rooms × joiners join together.
    #[arg(long, default_value_t = 10)]
    pub(crate) rooms: usize,
    /// Clients joining each room at once.
    #[arg(long, default_value_t = 10)]
    pub(crate) joiners: usize,
    /// Bytes of the submission every room holds.
    #[arg(long, default_value_t = 200 * 1024)]
    pub(crate) bytes: usize,
    /// Files of that submission.
    #[arg(long, default_value_t = 50)]
    pub(crate) files: usize,
    /// Storms, one after another, into the same rooms: their joiners' latencies are reported together,
    /// so the tail rests on more than one storm's hundred joiners.
    #[arg(long, default_value_t = 1)]
    pub(crate) storms: usize,
}

#[derive(Args, Clone)]
pub(crate) struct ReconnectArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    #[arg(long, default_value_t = 300)]
    pub(crate) rooms: usize,
    #[arg(long, default_value_t = 3)]
    pub(crate) clients_per_room: usize,
    /// Keys each typist types before the drop.
    #[arg(long, default_value_t = 20)]
    pub(crate) keys_online: u32,
    /// Keys each typist types while disconnected.
    #[arg(long, default_value_t = 20)]
    pub(crate) keys_offline: u32,
    /// Seconds watchers may take to catch up after reconnecting.
    #[arg(long, default_value_t = 30)]
    pub(crate) settle_s: u64,
}

#[derive(Args, Clone)]
pub(crate) struct PromoteArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Submissions to submit and promote.
    #[arg(long, default_value_t = 200)]
    pub(crate) count: usize,
    /// Iterations in flight at once.
    #[arg(long, default_value_t = 1)]
    pub(crate) concurrency: usize,
    #[arg(long, default_value_t = 200 * 1024)]
    pub(crate) bytes: usize,
    #[arg(long, default_value_t = 50)]
    pub(crate) files: usize,
}

/// Which server to drive, or `--compare` to drive each in turn.
#[derive(Args, Clone)]
pub(crate) struct TargetArgs {
    /// Kind of server at --server.
    #[arg(long, value_enum, default_value = "handoff")]
    pub(crate) target: Kind,
    /// Base URL: http://… for handoff, ws://… for a peer.
    #[arg(long, env = "HANDOFF_LOAD_SERVER", default_value = "http://127.0.0.1:8080")]
    pub(crate) server: String,
    /// Integrator API key (handoff).
    #[arg(long, env = "HANDOFF_LOAD_API_KEY")]
    pub(crate) api_key: Option<String>,
    /// Process id of the server on this machine: CPU per delivered update and memory are read from it.
    #[arg(long, env = "HANDOFF_LOAD_SERVER_PID")]
    pub(crate) server_pid: Option<u32>,
    /// Launch handoff and each peer in turn on a free loopback port, run the scenario against each, and
    /// print the ratios. --target/--server/--api-key/--server-pid are then ignored.
    #[arg(long)]
    pub(crate) compare: bool,
    /// Targets of --compare, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "handoff,relay,y-websocket,hocuspocus")]
    pub(crate) targets: Vec<Kind>,
    /// The handoff binary --compare launches.
    #[arg(long, default_value = "target/release/handoff")]
    pub(crate) handoff_bin: PathBuf,
    /// The relay binary --compare launches.
    #[arg(long, default_value = "target/release/handoff-relay")]
    pub(crate) relay_bin: PathBuf,
    /// The folder holding the peers' start.sh.
    #[arg(long, default_value = "load-tests/peers")]
    pub(crate) peers_dir: PathBuf,
    /// Extra argument for the launched `handoff serve` (repeat it), e.g. --handoff-arg=--store=memory://
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) handoff_arg: Vec<String>,
    /// Extra argument for the launched `handoff-relay` (repeat it), e.g. --relay-arg=--writes=tasks
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) relay_arg: Vec<String>,
    /// No progress bars on stderr.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Also write the report (an array of reports with --compare) as JSON to this file.
    #[arg(long, env = "HANDOFF_LOAD_JSON")]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub(crate) struct TypingArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Rooms to open.
    #[arg(long, env = "HANDOFF_LOAD_ROOMS", default_value_t = 100)]
    pub(crate) rooms: usize,
    /// Clients per room: one typist, the rest watchers.
    #[arg(long, env = "HANDOFF_LOAD_CLIENTS_PER_ROOM", default_value_t = 3)]
    pub(crate) clients_per_room: usize,
    /// Keys per second each typist types on average (one update and one cursor update per key).
    #[arg(long, env = "HANDOFF_LOAD_KEYS_PER_SEC", default_value_t = 5.0)]
    pub(crate) keys_per_sec: f64,
    /// How typists space their keys: words (bursts at twice the mean rate, then a pause) or steady.
    #[arg(long, env = "HANDOFF_LOAD_RHYTHM", value_enum, default_value_t = Rhythm::Words)]
    pub(crate) rhythm: Rhythm,
    /// Seconds of typing (soak: make it long, e.g. 1800).
    #[arg(long, env = "HANDOFF_LOAD_DURATION_S", default_value_t = 20)]
    pub(crate) duration_s: u64,
    /// Seconds watchers keep listening after the last scheduled key.
    #[arg(long, env = "HANDOFF_LOAD_DRAIN_S", default_value_t = DEFAULT_DRAIN_S)]
    pub(crate) drain_s: u64,
    /// Once the typed file holds this many characters, every key also deletes as many from its start
    /// as it types (a soak that edits rather than only appends). 0 never deletes.
    #[arg(long, env = "HANDOFF_LOAD_KEEP_CHARS", default_value_t = 0)]
    pub(crate) keep_chars: usize,
    /// A key a watcher integrates more than this many milliseconds after it was due counts as late.
    #[arg(long, env = "HANDOFF_LOAD_LATE_MS", default_value_t = DEFAULT_LATE_MS)]
    pub(crate) late_ms: u64,
    /// Split the clients over this many child processes of this program (rooms dealt round-robin), each
    /// within one process's file limit; their results make one report, as if one process had run it.
    #[arg(long, default_value_t = 1)]
    pub(crate) procs: usize,
    /// Spread each room's clients over these handoff nodes of one cluster (base URLs, comma-separated):
    /// rooms are minted through the first, each room's typist joins node `room mod N` and its watchers
    /// the next nodes; the report adds fan-out per (sender node → receiver node) pair and each node's CPU
    /// per delivered update from its /metrics. The same URL twice runs it on one node. Not with
    /// --compare or --procs; --server is ignored.
    #[arg(long, value_delimiter = ',')]
    pub(crate) nodes: Vec<String>,
    /// With --nodes: the cluster's Redis (redis://host:port/), whose CPU time and commands per second
    /// over the typing phase are reported from INFO.
    #[arg(long, requires = "nodes")]
    pub(crate) redis_url: Option<String>,
    /// With --nodes: each node's process id on this machine, in the order of --nodes, so its CPU time is
    /// read from /proc (to the clock tick) rather than /metrics (whole seconds).
    #[arg(long, value_delimiter = ',', requires = "nodes")]
    pub(crate) node_pids: Vec<u32>,
    /// With --nodes: where each room's clients go. spread: the typist on node `room mod N`, watcher k on
    /// node `(room + k) mod N` (every key crosses nodes); affinity: every client of the room on node
    /// `room mod N`, as routing by room id places them (no key crosses nodes).
    #[arg(long, value_enum, default_value_t = Layout::Spread, requires = "nodes")]
    pub(crate) layout: Layout,
    /// With --nodes and --node-pids: kill one node with SIGKILL this many seconds after the first
    /// scheduled key. Its clients rejoin the next node with the document they hold (y-sync), and the
    /// report gives each affected room's convergence time (kill → every client connected again and
    /// holding every key typed before the kill) and the keys typed before the kill that were lost.
    #[arg(long, requires = "node_pids")]
    pub(crate) kill_node_after: Option<f64>,
    /// With --kill-node-after: the index in --nodes of the node to kill (default: the last).
    #[arg(long, requires = "kill_node_after")]
    pub(crate) kill_node: Option<usize>,
    /// Internal: run as child index/count of a --procs run (prints `joined`, reads the start instant on
    /// stdin, prints its result as one JSON line).
    #[arg(long, hide = true)]
    pub(crate) shard: Option<Shard>,
}

#[derive(Args, Clone)]
pub(crate) struct PasteArgs {
    #[command(flatten)]
    pub(crate) typing: TypingArgs,
    /// Characters per paste.
    #[arg(long, default_value_t = 64 * 1024)]
    pub(crate) paste_bytes: usize,
}

#[derive(Args)]
pub(crate) struct IdleArgs {
    /// Base URL of the server.
    #[arg(long, env = "HANDOFF_LOAD_SERVER", default_value = "http://127.0.0.1:8080")]
    pub(crate) server: String,
    /// Integrator API key of the server.
    #[arg(long, env = "HANDOFF_LOAD_API_KEY")]
    pub(crate) api_key: String,
    /// Rooms to mint and load.
    #[arg(long, env = "HANDOFF_LOAD_ROOMS", default_value_t = 1000)]
    pub(crate) rooms: usize,
    /// Clients per room.
    #[arg(long, env = "HANDOFF_LOAD_CLIENTS_PER_ROOM", default_value_t = 3)]
    pub(crate) clients_per_room: usize,
    /// Bytes of each room's submission (spread over --files files); 0: the small typing submission.
    #[arg(long, default_value_t = 0)]
    pub(crate) bytes: usize,
    /// Files of that submission.
    #[arg(long, default_value_t = 50)]
    pub(crate) files: usize,
    /// Process id of the server (on this machine), whose resident memory is read.
    #[arg(long, env = "HANDOFF_LOAD_SERVER_PID")]
    pub(crate) server_pid: u32,
    /// Also write the report as JSON to this file.
    #[arg(long, env = "HANDOFF_LOAD_JSON")]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub(crate) struct VoiceArgs {
    /// Base URL of handoff (ignored with --launch).
    #[arg(long, env = "HANDOFF_LOAD_SERVER", default_value = "http://127.0.0.1:8080")]
    pub(crate) server: String,
    /// Integrator API key (ignored with --launch).
    #[arg(long, env = "HANDOFF_LOAD_API_KEY")]
    pub(crate) api_key: Option<String>,
    /// Process id of the server on this machine, for CPU and memory (ignored with --launch).
    #[arg(long, env = "HANDOFF_LOAD_SERVER_PID")]
    pub(crate) server_pid: Option<u32>,
    /// Start handoff from --handoff-bin on a free loopback port, voice bound on 127.0.0.1 with
    /// --voice-udp-ports, run against it, and stop it.
    #[arg(long)]
    pub(crate) launch: bool,
    /// The handoff binary --launch starts.
    #[arg(long, default_value = "target/release/handoff")]
    pub(crate) handoff_bin: PathBuf,
    /// The launched server's voice UDP ports, FIRST-LAST: each of its voice loops binds one.
    #[arg(long, default_value = "40000-41999")]
    pub(crate) voice_udp_ports: String,
    /// Extra argument for the launched `handoff serve` (repeat it).
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) handoff_arg: Vec<String>,
    /// Rooms, each with three speaking participants.
    #[arg(long, env = "HANDOFF_LOAD_ROOMS", default_value_t = 10)]
    pub(crate) rooms: usize,
    /// Seconds everyone sends before the measured window.
    #[arg(long, default_value_t = 3)]
    pub(crate) warmup_s: u64,
    /// Seconds of the measured window.
    #[arg(long, env = "HANDOFF_LOAD_DURATION_S", default_value_t = 20)]
    pub(crate) duration_s: u64,
    /// Promote the rooms with voice recording on: the server also writes each speaker's Ogg file.
    #[arg(long)]
    pub(crate) record_voice: bool,
    /// Also run the typing scenario (3 clients per room, 5 keys/s) in the same rooms during the window.
    #[arg(long)]
    pub(crate) with_typing: bool,
    /// No progress bars on stderr.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, env = "HANDOFF_LOAD_JSON")]
    pub(crate) json: Option<PathBuf>,
}
