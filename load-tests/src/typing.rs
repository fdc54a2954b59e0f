//! The typing scenario: mint rooms through the REST API, join every client, then one typist per room
//! types on a fixed timetable while the other clients watch. Measures fan-out latency per key and
//! watcher, join time, losses and divergence.

use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use futures_util::{StreamExt, TryStreamExt, stream};
use handoff_protocol::api::PromoteResponse;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::YClient;
use crate::limits::{
    CONNECT_CONCURRENCY, MAX_CLIENTS_PER_ROOM, MAX_DRAIN, MAX_DURATION, MAX_KEYS_PER_SEC, MAX_ROOMS,
    MAX_TOTAL_CLIENTS, MIN_CLIENTS_PER_ROOM, MINT_CONCURRENCY, START_DELAY,
};
use crate::mint::{Api, ws_url};
use crate::report::Report;
use crate::room::{self, Plan, RoomOutcome};
use crate::stats::Latency;

/// What one typing run does.
#[derive(Debug, Clone)]
pub struct TypingConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    pub api_key: String,
    pub rooms: usize,
    /// Clients per room: one typist (candidate token) and the rest watchers (interviewer and observer
    /// tokens, alternating).
    pub clients_per_room: usize,
    pub keys_per_sec: f64,
    /// How long the typist types.
    pub duration: Duration,
    /// How long watchers keep listening after the last scheduled key.
    pub drain: Duration,
}

impl TypingConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!((1..=MAX_ROOMS).contains(&self.rooms), "--rooms must be 1..={MAX_ROOMS}");
        ensure!(
            (MIN_CLIENTS_PER_ROOM..=MAX_CLIENTS_PER_ROOM).contains(&self.clients_per_room),
            "--clients-per-room must be {MIN_CLIENTS_PER_ROOM}..={MAX_CLIENTS_PER_ROOM}"
        );
        ensure!(
            self.rooms * self.clients_per_room <= MAX_TOTAL_CLIENTS,
            "rooms × clients per room must be at most {MAX_TOTAL_CLIENTS} (the file limit)"
        );
        ensure!(
            self.keys_per_sec > 0.0 && self.keys_per_sec <= MAX_KEYS_PER_SEC,
            "--keys-per-sec must be in (0, {MAX_KEYS_PER_SEC}]"
        );
        ensure!(
            !self.duration.is_zero() && self.duration <= MAX_DURATION,
            "--duration-s must be 1..={}",
            MAX_DURATION.as_secs()
        );
        ensure!(self.drain <= MAX_DRAIN, "--drain-s must be at most {}", MAX_DRAIN.as_secs());
        Ok(())
    }

    /// Keys each typist types: the whole keys that fit in the duration.
    pub fn keys_per_room(&self) -> u64 {
        (self.duration.as_secs_f64() * self.keys_per_sec).floor() as u64
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.keys_per_sec)
    }
}

/// Runs the scenario. `Err` means the run could not happen (minting or joining failed); losses and
/// divergence are in the report.
pub async fn run(cfg: &TypingConfig) -> anyhow::Result<Report> {
    cfg.validate()?;
    let wall = Instant::now();
    let api = Api::new(&cfg.server, &cfg.api_key)?;
    let rooms: Vec<PromoteResponse> = stream::iter(0..cfg.rooms)
        .map(|n| {
            let api = api.clone();
            async move { api.mint_room(n).await }
        })
        .buffered(MINT_CONCURRENCY)
        .try_collect()
        .await
        .context("minting rooms")?;

    let (clients, join) = join_all(&rooms, cfg.clients_per_room).await?;

    // Everyone is synced: the timetable starts now. Rooms are staggered across one key interval so
    // they do not all type in the same instant.
    let start = Instant::now() + START_DELAY;
    let interval = cfg.interval();
    let deadline = start + cfg.duration + cfg.drain;
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(r, room_clients)| {
            let phase = interval.mul_f64(r as f64 / cfg.rooms as f64);
            let plan = Plan { first: start + phase, interval, keys: cfg.keys_per_room(), deadline };
            tokio::spawn(room::run(room_clients, plan))
        })
        .collect();
    let mut outcomes: Vec<RoomOutcome> = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.map_err(|e| anyhow!("room task failed: {e}"))?);
    }
    Ok(Report::build(cfg, &outcomes, &join, wall.elapsed()))
}

/// The token client `i` of a room joins with: 0 the candidate (typist), then interviewer and observer
/// alternating.
fn token(room: &PromoteResponse, i: usize) -> &str {
    match i {
        0 => &room.tokens.candidate,
        i if i % 2 == 1 => &room.tokens.interviewer,
        _ => &room.tokens.observer,
    }
}

/// Connects every client of every room and waits until each is synced; returns them per room with the
/// join-time histogram.
async fn join_all(
    rooms: &[PromoteResponse],
    per_room: usize,
) -> anyhow::Result<(Vec<Vec<YClient>>, Latency)> {
    let gate = std::sync::Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut handles = Vec::with_capacity(rooms.len());
    for room in rooms {
        let mut room_handles = Vec::with_capacity(per_room);
        for i in 0..per_room {
            let url = ws_url(room, token(room, i));
            let gate = gate.clone();
            room_handles.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.map_err(|_| anyhow!("join gate closed"))?;
                YClient::join(&url).await
            }));
        }
        handles.push(room_handles);
    }
    let mut join = Latency::new();
    let mut all = Vec::with_capacity(rooms.len());
    for (room, room_handles) in rooms.iter().zip(handles) {
        let mut clients = Vec::with_capacity(per_room);
        for (i, h) in room_handles.into_iter().enumerate() {
            let (client, took) = h
                .await
                .map_err(|e| anyhow!("join task failed: {e}"))?
                .with_context(|| format!("client {i} of {} could not join", room.room.id))?;
            join.record(took);
            clients.push(client);
        }
        all.push(clients);
    }
    Ok((all, join))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> TypingConfig {
        TypingConfig {
            server: "http://127.0.0.1:1".into(),
            api_key: "k".into(),
            rooms: 10,
            clients_per_room: 3,
            keys_per_sec: 5.0,
            duration: Duration::from_secs(20),
            drain: Duration::from_secs(5),
        }
    }

    #[test]
    fn keys_fill_the_duration_on_a_fixed_timetable() {
        assert_eq!(cfg().keys_per_room(), 100);
        assert_eq!(cfg().interval(), Duration::from_millis(200));
        let first = Instant::now();
        let plan = Plan { first, interval: cfg().interval(), keys: 100, deadline: first };
        assert_eq!(plan.due(0), first);
        assert_eq!(plan.due(99), first + Duration::from_millis(19_800));
    }

    #[test]
    fn limits_are_enforced() {
        assert!(cfg().validate().is_ok());
        for bad in [
            TypingConfig { rooms: 0, ..cfg() },
            TypingConfig { clients_per_room: 1, ..cfg() },
            TypingConfig { rooms: MAX_ROOMS, clients_per_room: MAX_CLIENTS_PER_ROOM, ..cfg() },
            TypingConfig { keys_per_sec: 0.0, ..cfg() },
            TypingConfig { keys_per_sec: MAX_KEYS_PER_SEC * 2.0, ..cfg() },
            TypingConfig { duration: Duration::ZERO, ..cfg() },
            TypingConfig { drain: MAX_DRAIN * 2, ..cfg() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
