//! handoff-server: live follow-up rooms for async coding interviews.
//!
//! # Layout
//! Listed from the top down: each module imports only modules listed after it (the room's use of the
//! `ws` outlet aside, which issue 19 removes). `tests/module_graph.rs` checks that no modules import
//! each other in a circle.
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
//! - [`room`]: one actor task per live room owning its document; the registry of loaded rooms.
//! - [`bus`]: the cluster seam (rooms publish accepted updates; single node publishes nowhere).
//! - [`store`]: durable storage behind the `Store` trait (embedded SQLite by default, or in memory).
//! - [`auth`]: API key and room tokens; [`secrets`] generates and persists the server's own secrets;
//!   [`private_fs`]: the data dir and database files readable by the server's user only.
//! - [`metrics`]: the Prometheus counters every module bumps; it imports none of them, and is handed
//!   the gauges counted at scrape time.
//! - [`rate`]: per-connection rate limiting; [`shutdown`]: the stop signal; [`clock`]: the wall clock;
//!   [`ids`]: the ids the server mints.
//!
//! Data flows one way: connection task → room actor (applies, logs, encodes once) → member outboxes.

pub mod accept;
pub mod api;
pub mod app;
pub mod auth;
pub mod bus;
pub mod clock;
pub mod config;
pub mod error;
pub mod export;
pub mod headers;
pub mod ids;
pub mod lifecycle;
pub mod metrics;
pub mod private_fs;
pub mod rate;
pub mod report;
pub mod room;
pub mod sample;
pub mod secrets;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod web;
pub mod webhook;
pub mod ws;
