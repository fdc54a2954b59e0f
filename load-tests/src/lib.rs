//! handoff-load: a load generator and benchmark for handoff and the other Yjs servers. Every client is a
//! real Yjs peer (yrs) over a real WebSocket, speaking y-sync like a y-websocket provider (or Hocuspocus's
//! framing). Scenarios: [`typing`] (also large-paste and soak), [`join_storm`], [`reconnect`], [`promote`]
//! [`idle`] and [`voice`]; [`compare`] lines them up across servers. See `docs/PERFORMANCE.md`.

pub mod client;
pub mod compare;
/// `--kill-node-after`: a node killed mid-run, its clients rejoining another, convergence timed.
pub mod failover;
pub mod idle;
pub mod join_storm;
pub mod launch;
pub mod ledger;
pub mod limits;
pub mod metronome;
pub mod mint;
/// One handoff node's `/metrics` over a run: CPU per delivered update, server-side fan-out.
pub mod node_metrics;
/// `--nodes`: the typing scenario spread over a cluster's nodes, fan-out per node pair.
pub mod nodes;
/// `--layout`: which node each client of a `--nodes` run joins.
pub mod placement;
/// Latency-against-load charts (SVG) from report JSON files, to compare servers at a glance.
pub mod plot;
/// `--procs`: a typing run split over child processes, merged into one report.
pub mod procs;
/// Progress bars on stderr, so a minutes-long run shows it is alive without touching its report.
pub mod progress;
pub mod promote;
pub mod reconnect;
/// Redis's CPU and commands over a run, from `INFO`.
pub mod redis_info;
pub mod relay;
pub mod report;
pub mod room;
pub mod server_watch;
pub mod stats;
pub mod sysstat;
pub mod target;
pub mod typing;
/// `voice`: rooms of three WebRTC speakers through handoff's SFU.
pub mod voice;
pub mod voice_report;
pub mod voice_stats;

pub use report::Report;
pub use typing::TypingConfig;
