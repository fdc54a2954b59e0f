//! handoff-server: live follow-up rooms for async coding interviews.
//!
//! # Layout
//! Listed from the top down: each module imports only modules listed after it. `tests/module_graph.rs`
//! checks that no modules import each other in a circle. Only [`app`] and [`config`] are public (the
//! binary's); [`test_support`] re-exports what the tests, fuzz targets and load tool reach inside.
//! - [`voice_client`]: a Rust voice client (WebSocket signalling and WebRTC) for the tests and the load
//!   tool; nothing in the server uses it.
//! - [`cli`]: the operator commands beside `serve`: `check` (a configuration before going live),
//!   `backup` and `restore` (the SQLite store and the data dir's secrets), one module each.
//! - [`app`]: `router(state)` and starting/stopping the server; [`config`] its command line and
//!   environment.
//! - [`accept`]: the accept loop and every connection until it is a WebSocket: header-read timeout,
//!   caps on HTTP connections (total and per address), accept errors paused and logged once per period.
//! - [`web`]: serves the built web client; [`headers`]: security headers on every answer.
//! - [`ws`]: the WebSocket edge, one task per connection (auth, limits, decoding, outbox).
//! - [`api`]: the REST API (submissions, promote, rooms, the session record); [`error`] the HTTP edge's
//!   one error type, into which the services' errors are mapped.
//! - [`state`]: `AppState`, what the handlers of `api` and `ws` share.
//! - [`lifecycle`]: the rooms' lifecycle, a service below the API and the sweepers: promote (open a
//!   room preloaded with its submission), end (by hand or when idle), reopen, purge (also on retention).
//! - [`report`]: the export as a printable HTML page people read.
//! - [`export`]: the session record built from a room's log (timeline, files at a moment, export).
//! - [`webhook`]: the signed room-ended webhook, retried from the store.
//! - [`sample`]: the demo submission seeded in development mode.
//! - [`voice`]: the SFU (str0m): voice loops that each own a UDP socket and the WebRTC connections of
//!   their rooms' members in voice, Opus forwarded to the others,
//!   signalling (extension message 101) through the room actor, mute, speaking levels.
//! - [`recording`]: each speaker's voice written to Ogg/Opus on the room clock, through the hook the
//!   voice SFU calls.
//! - [`room`]: one actor task per live room owning its document; the registry of loaded rooms.
//! - [`bus`]: the cluster seam (rooms publish accepted updates; single node publishes nowhere);
//!   [`cluster`]: the bus over Redis Streams (cluster mode, `--redis-url`).
//! - [`store`]: durable storage behind the `Store` trait (embedded SQLite by default, PostgreSQL for a
//!   cluster, or in memory), each with versioned schema migrations.
//! - [`auth`]: API key and room tokens; [`secrets`] generates and persists the server's own secrets;
//!   [`private_fs`]: the data dir and database files readable by the server's user only; [`dir_lock`]:
//!   the lock a running server holds on its data dir, which `restore` waits to hold alone.
//! - [`metrics`]: the Prometheus counters every module bumps; it imports none of them, and is handed
//!   the gauges counted at scrape time.
//! - [`rate`]: per-connection rate limiting; [`shutdown`]: the stop signal; [`clock`]: the wall clock;
//!   [`ids`]: the ids the server mints.
//!
//! Data flows one way: connection task → room actor (applies, logs, encodes once) → member outboxes.

#![warn(unreachable_pub, missing_debug_implementations)]

mod accept;
mod api;
pub mod app;
mod auth;
mod bus;
pub mod cli;
mod clock;
mod cluster;
pub mod config;
mod dir_lock;
mod error;
mod export;
mod headers;
mod ids;
mod lifecycle;
mod metrics;
mod private_fs;
mod rate;
mod recording;
mod report;
mod room;
mod sample;
mod secrets;
mod shutdown;
mod state;
mod store;
mod voice;
mod voice_client;
mod web;
mod webhook;
mod ws;

/// What the integration tests, the fuzz targets and the load tool reach inside the server. Not an API:
/// everything here changes with the code it re-exports.
#[doc(hidden)]
pub mod test_support {
    pub use crate::auth::TokenKeys;
    pub use crate::bus::LocalBus;
    pub use crate::clock::now_secs;
    pub use crate::metrics::METRICS;
    pub use crate::webhook::signature;

    /// The room: its registry and handle, the messages a connection sends it, the checks an update passes.
    pub mod room {
        pub use crate::room::{
            ChannelSink, ClientMessage, CloseReason, Command, Extensions, FilesGuard, Identity, Joiner,
            Registry, RoomHandle, RoomSettings, apply_client_update, vet,
        };
    }

    /// Cluster mode's bounds, which the cluster tests go past.
    pub mod cluster {
        pub use crate::cluster::MAX_UNCOMMITTED;
    }

    /// Voice recording: the hook the SFU calls and the service behind it.
    pub mod recording {
        pub use crate::recording::{
            MAX_QUEUED_PACKETS, NoRecording, RECORDINGS_DIR, Recorders, RecordingService, RtpAudio, Speaker,
            SpeakerRecorder,
        };
    }

    /// Voice: a Rust client that joins a room's voice, sends an Opus file and counts what it hears.
    pub mod voice {
        pub use crate::voice_client::{OggError, PacketHook, Seen, SentHook, VoiceClient, opus_packets};
    }

    /// The store: its traits, records and the SQLite backend.
    pub mod store {
        pub use crate::store::{
            Catalog, LogEntry, LogRow, RecordingRecord, Recordings, RoomLog, RoomRecord, RoomState, Snapshot,
            SqliteStore, StoreError, StoreResult, SubmissionRecord,
        };
    }
}
