//! handoff-load: a load generator and benchmark for handoff (and, later, other Yjs servers). Every client
//! is a real Yjs peer (yrs) over a real WebSocket, speaking y-sync like a y-websocket provider.
//!
//! Scenarios so far: [`typing`] and [`idle`] (memory per idle connection and per room). See `docs/PERFORMANCE.md` for how to run it and measured results.

pub mod client;
pub mod compare;
pub mod idle;
pub mod join_storm;
pub mod launch;
pub mod ledger;
pub mod limits;
pub mod metronome;
pub mod mint;
pub mod promote;
pub mod reconnect;
pub mod relay;
pub mod report;
pub mod room;
pub mod server_watch;
pub mod stats;
pub mod sysstat;
pub mod target;
pub mod typing;

pub use report::Report;
pub use typing::TypingConfig;
