//! The idle scenario: connection density. Mint rooms, join one client per room (every room loads), then
//! the rest, and read the server's resident memory (`VmRSS` of its process) after each phase, so memory
//! per loaded room and per idle connection come out separately.

use std::time::Duration;

use anyhow::ensure;
use futures_util::{StreamExt, TryStreamExt, stream};
use handoff_protocol::api::PromoteResponse;
use serde::Serialize;

use crate::client::YClient;
use crate::limits::{
    CONNECT_CONCURRENCY, MAX_CLIENTS_PER_ROOM, MAX_ROOMS, MAX_TOTAL_CLIENTS, MINT_CONCURRENCY,
};
use crate::mint::{Api, Submission, ws_url};
use crate::target::Dialect;
// Kept under its old path for callers of `idle::rss_kib`; the reading lives with the other /proc figures.
pub use crate::sysstat::rss_kib;

/// Pause after each phase before memory is read, so allocations settle.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct IdleConfig {
    pub server: String,
    pub api_key: String,
    pub rooms: usize,
    pub clients_per_room: usize,
    /// Size and file count of each room's submission; `None`: the small typing submission. Every client
    /// receives the whole document when it joins, so this shows what a real submission costs per idle
    /// connection (buffers a large first frame left behind), not only an empty room's.
    pub submission: Option<(usize, usize)>,
    /// Process id of the server, whose `/proc/<pid>/status` is read (same machine).
    pub server_pid: u32,
    pub settle: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub rooms: usize,
    /// Bytes of each room's submission.
    pub submission_bytes: usize,
    pub connections: usize,
    pub rss_kib_before: u64,
    pub rss_kib_rooms_loaded: u64,
    pub rss_kib_all_connected: u64,
    /// (all connected − rooms loaded) / connections added in the second phase.
    pub kib_per_idle_connection: f64,
    /// (rooms loaded − before) / rooms, minus one connection.
    pub kib_per_loaded_room: f64,
}

impl IdleReport {
    pub fn table(&self) -> String {
        format!(
            "idle: {} rooms of {} B, {} connections\n  server RSS before      {:>9} KiB\n  one client per room   {:>9} KiB\n  all connected         {:>9} KiB\n  per idle connection   {:>9.1} KiB\n  per loaded room       {:>9.1} KiB",
            self.rooms,
            self.submission_bytes,
            self.connections,
            self.rss_kib_before,
            self.rss_kib_rooms_loaded,
            self.rss_kib_all_connected,
            self.kib_per_idle_connection,
            self.kib_per_loaded_room
        )
    }
}

async fn join_all(urls: Vec<String>) -> anyhow::Result<Vec<YClient>> {
    stream::iter(urls)
        .map(|url| async move { YClient::join(&url, &Dialect::YSync, None).await.map(|(c, _)| c) })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

pub async fn run(cfg: &IdleConfig) -> anyhow::Result<IdleReport> {
    ensure!((1..=MAX_ROOMS).contains(&cfg.rooms), "--rooms must be 1..={MAX_ROOMS}");
    ensure!(
        (2..=MAX_CLIENTS_PER_ROOM).contains(&cfg.clients_per_room),
        "--clients-per-room must be 2..={MAX_CLIENTS_PER_ROOM}"
    );
    ensure!(cfg.rooms * cfg.clients_per_room <= MAX_TOTAL_CLIENTS, "at most {MAX_TOTAL_CLIENTS} connections");
    let api = Api::new(&cfg.server, &cfg.api_key)?;
    let sub = match cfg.submission {
        Some((bytes, files)) => Submission::large(bytes, files),
        None => Submission::typing(),
    };
    let rooms: Vec<PromoteResponse> = stream::iter(0..cfg.rooms)
        .map(|n| api.mint_room(n, &sub))
        .buffer_unordered(MINT_CONCURRENCY)
        .try_collect()
        .await?;
    tokio::time::sleep(cfg.settle).await;
    let before = rss_kib(cfg.server_pid)?;

    let firsts = rooms.iter().map(|r| ws_url(r, &r.tokens.candidate)).collect();
    let mut clients = join_all(firsts).await?;
    tokio::time::sleep(cfg.settle).await;
    let loaded = rss_kib(cfg.server_pid)?;

    let rest: Vec<String> = rooms
        .iter()
        .flat_map(|r| {
            (1..cfg.clients_per_room)
                .map(move |i| ws_url(r, if i % 2 == 1 { &r.tokens.interviewer } else { &r.tokens.observer }))
        })
        .collect();
    let added = rest.len();
    clients.extend(join_all(rest).await?);
    tokio::time::sleep(cfg.settle).await;
    let all = rss_kib(cfg.server_pid)?;

    let per_conn = all.saturating_sub(loaded) as f64 / added as f64;
    let per_room = loaded.saturating_sub(before) as f64 / cfg.rooms as f64 - per_conn;
    let connections = clients.len();
    for c in clients {
        c.close().await;
    }
    Ok(IdleReport {
        rooms: cfg.rooms,
        submission_bytes: sub.files.iter().map(|f| f.content.len()).sum(),
        connections,
        rss_kib_before: before,
        rss_kib_rooms_loaded: loaded,
        rss_kib_all_connected: all,
        kib_per_idle_connection: per_conn,
        kib_per_loaded_room: per_room,
    })
}
