//! handoff-load: a load generator and benchmark for handoff (and, later, other Yjs servers). Every client
//! is a real Yjs peer (yrs) over a real WebSocket, speaking y-sync like a y-websocket provider.
//!
//! Scenarios so far: [`typing`] and [`idle`] (memory per idle connection and per room). See `docs/PERFORMANCE.md` for how to run it and measured results.

pub mod client;
pub mod idle;
pub mod ledger;
pub mod limits;
pub mod mint;
/// Latency-against-load charts (SVG) from report JSON files, to compare servers at a glance.
pub mod plot;
/// Progress bars on stderr, so a minutes-long run shows it is alive without touching its report.
pub mod progress;
pub mod report;
pub mod room;
pub mod stats;
/// Server CPU time and resident memory from /proc, once or sampled over a run.
pub mod sysstat;
pub mod typing;

pub use report::Report;
pub use typing::TypingConfig;
