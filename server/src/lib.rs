//! handoff-server: live follow-up rooms for async coding interviews.
//!
//! # Layout
//! - [`config`]: command line / environment configuration.
//! - [`app`]: `AppState`, `router(state)`, and starting/stopping the server.
//! - [`accept`]: the accept loop and every connection until it is a WebSocket: header-read timeout,
//!   caps on HTTP connections (total and per address), accept errors paused and logged once per period.
//! - [`api`]: the REST API (submissions, promote, rooms); [`error`] its one error type.
//! - [`auth`]: API key and room tokens; [`secrets`] generates and persists the server's own secrets.
//! - [`ws`]: the WebSocket edge, one task per connection (auth, limits, decoding, outbox).
//! - [`metrics`]: Prometheus counters and `GET /metrics`.
//! - [`lifecycle`]: ending rooms (by hand or when idle) and reopening them.
//! - [`room`]: one actor task per live room owning its document; the registry of loaded rooms.
//! - [`store`]: durable storage behind the `Store` trait (embedded SQLite by default, or in memory).
//! - [`bus`]: the cluster seam (rooms publish accepted updates; single node publishes nowhere).
//! - [`rate`]: per-connection rate limiting; [`shutdown`]: the stop signal.
//! - [`webhook`]: the signed room-ended webhook, retried from the store.
//! - [`headers`]: security headers on every answer; [`private_fs`]: the data dir and database files
//!   readable by the server's user only.
//! - [`web`]: serves the built web client; [`sample`]: the demo submission seeded in development mode.
//!
//! Data flows one way: connection task → room actor (applies, logs, encodes once) → member outboxes.

pub mod accept;
pub mod api;
pub mod app;
pub mod auth;
pub mod bus;
pub mod config;
pub mod error;
pub mod headers;
pub mod lifecycle;
pub mod metrics;
pub mod private_fs;
pub mod rate;
pub mod room;
pub mod sample;
pub mod secrets;
pub mod shutdown;
pub mod store;
pub mod web;
pub mod webhook;
pub mod ws;
