//! The accept loop and each connection until it is a WebSocket. axum's own `serve` has no header-read
//! timeout, no cap on connections and pauses a second after every failed accept, logging each one; a
//! flood of slow or half-open connections took every file descriptor and `/healthz` with them
//! (docs/security/connections.md). Here:
//! - a connection must send a request's headers within the header-read timeout, idle keep-alives
//!   included, and they may not exceed [`MAX_REQUEST_HEAD_BYTES`], which bounds its buffer;
//! - a connection that is not a WebSocket is served for [`HTTP_CONNECTION_SECS`] at most, so it must
//!   authenticate (its WebSocket handshake answered) or finish its request within a bound;
//! - HTTP connections are capped in total and per client address (`gate`): one over a cap is closed at
//!   once, before anything is read from it;
//! - a failed accept (out of descriptors) pauses the loop, doubling per failure, and a streak of them is
//!   logged once per period (`backoff`).
//!
//! A WebSocket leaves all of this at its upgrade: its connection task (`ws`) has its own limits.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use handoff_protocol::limits::{
    ACCEPT_LOG_EVERY_SECS, HTTP_CONNECTION_GRACE_SECS, HTTP_CONNECTION_SECS, MAX_HTTP_CONNECTIONS,
    MAX_REQUEST_HEAD_BYTES,
};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::METRICS;

mod backoff;
mod gate;
#[cfg(test)]
mod tests;

use backoff::{Backoff, Throttle};
use gate::{Gate, Pass};

/// How connections are bounded; [`Settings::new`] takes the constants of `handoff_protocol::limits` for
/// what the operator does not tune.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// How long a connection has to send a request's complete headers.
    pub header_read_timeout: Duration,
    /// HTTP connections one client address may hold.
    pub max_per_addr: usize,
    /// How long a connection is served as HTTP ([`HTTP_CONNECTION_SECS`]).
    pub lifetime: Duration,
    /// How long past its lifetime a request in flight may take ([`HTTP_CONNECTION_GRACE_SECS`]).
    pub grace: Duration,
}

impl Settings {
    pub(crate) fn new(header_read_timeout: Duration, max_per_addr: usize) -> Settings {
        Settings {
            header_read_timeout,
            max_per_addr: max_per_addr.max(1),
            lifetime: Duration::from_secs(HTTP_CONNECTION_SECS),
            grace: Duration::from_secs(HTTP_CONNECTION_GRACE_SECS),
        }
    }
}

/// Accepts and serves connections until `stop` completes, then stops accepting, lets every HTTP
/// connection finish its request in flight (for at most its grace) and returns.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    settings: Settings,
    stop: impl Future<Output = ()>,
) {
    let gate = Gate::new(MAX_HTTP_CONNECTIONS, settings.max_per_addr);
    // Every connection task holds a receiver: `closed()` on the sender is "all of them have ended".
    let (closing, watching) = watch::channel(false);
    let mut backoff = Backoff::new();
    let log_every = Duration::from_secs(ACCEPT_LOG_EVERY_SECS);
    let (mut failures, mut refusals) = (Throttle::new(log_every), Throttle::new(log_every));
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            // The client gave up between its connect and our accept: nothing is wrong here.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                METRICS.accept_errors.inc();
                let pause = backoff.failed();
                if let Some(unlogged) = failures.event(Instant::now()) {
                    tracing::error!(error = %e, pause_ms = pause.as_millis() as u64, unlogged,
                        "accept failed; pausing (new connections wait in the listen backlog)");
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = &mut stop => break,
                }
            }
        };
        let pass = match gate.enter(peer.ip()) {
            Ok(pass) => pass,
            Err(full) => {
                METRICS.connections_refused.inc();
                if let Some(unlogged) = refusals.event(Instant::now()) {
                    tracing::warn!(cap = ?full, unlogged, "HTTP connection cap reached; closing new connections");
                }
                drop(tcp);
                continue;
            }
        };
        // TCP_NODELAY on every connection, as browsers and the Node servers set it: with Nagle on, a frame
        // written while the previous one was unacknowledged waited for the client's delayed ACK (up to
        // 40 ms; a 200 KiB first sync sent in fragments showed it as 45 ms room opens).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        tokio::spawn(serve_connection(tcp, app.clone(), pass, settings, watching.clone()));
    }
    drop(listener);
    closing.send_replace(true);
    drop(watching);
    closing.closed().await;
}

/// Errors of one connection that died before we accepted it; the next accept is unaffected.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection's HTTP/1.1 requests until it closes, upgrades to a WebSocket, or runs out of
/// time; `pass` holds its place under the caps until then.
async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    pass: Pass,
    settings: Settings,
    mut closing: watch::Receiver<bool>,
) {
    let mut http = http1::Builder::new();
    // hyper panics below 8 KiB; the constant is checked at compile time.
    const { assert!(MAX_REQUEST_HEAD_BYTES >= 8192) };
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(MAX_REQUEST_HEAD_BYTES);
    let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app)).with_upgrades();
    tokio::pin!(conn);
    let deadline = tokio::time::sleep(settings.lifetime);
    tokio::pin!(deadline);
    let grace = settings.grace;
    // Once winding down, the request in flight is answered with `connection: close`; past the grace the
    // connection is dropped.
    let mut winding_down = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "HTTP connection ended");
                }
                break;
            }
            () = &mut deadline => {
                if winding_down {
                    tracing::debug!("HTTP connection dropped: its request did not finish in time");
                    break;
                }
                winding_down = true;
                conn.as_mut().graceful_shutdown();
                deadline.as_mut().reset(Instant::now() + grace);
            }
            _ = closing.wait_for(|closing| *closing), if !winding_down => {
                winding_down = true;
                conn.as_mut().graceful_shutdown();
                deadline.as_mut().reset(Instant::now() + grace);
            }
        }
    }
    drop(pass);
}
