//! The typing scenario: mint rooms through the REST API, join every client, then one typist per room
//! types on a fixed timetable while the other clients watch. Measures fan-out latency per key and
//! watcher, join time, losses and divergence. A run's rooms may be split over several processes (see
//! `procs.rs`); [`run_shard`] runs one process's share.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::YClient;
use crate::failover::Failover;
use crate::limits::{
    CONNECT_CONCURRENCY, MAX_CHUNK, MAX_CLIENTS_PER_ROOM, MAX_DRAIN, MAX_DURATION, MAX_KEYS_PER_SEC,
    MAX_PROCS, MAX_ROOMS, MAX_TOTAL_CLIENTS, MIN_CLIENTS_PER_ROOM, START_DELAY,
};
use crate::metronome::{self, Rhythm, Timetable};
use crate::mint::Submission;
use crate::progress::Progress;
use crate::report::{Report, Tally};
use crate::room::{self, Live, Plan, RoomOutcome};
use crate::server_watch::ServerWatch;
use crate::stats::Latency;
use crate::target::{Room, Target};

/// What one typing run does.
#[derive(Debug, Clone)]
pub struct TypingConfig {
    pub target: Target,
    pub rooms: usize,
    /// Clients per room: one typist (handoff: the candidate's token) and the rest watchers (interviewer
    /// and observer tokens, alternating).
    pub clients_per_room: usize,
    pub keys_per_sec: f64,
    /// How the typist spaces its keys around that mean rate.
    pub rhythm: Rhythm,
    /// Characters per key: 1 when typing; the paste size in the large-paste scenario.
    pub chunk: usize,
    /// Once the typed file is this long, each key also deletes as many characters from its start as it
    /// inserts, so a long soak edits a file of steady size (its history, tombstones, still grows).
    /// 0: never delete.
    pub keep_chars: usize,
    /// How long the typist types.
    pub duration: Duration,
    /// How long watchers keep listening after the last scheduled key.
    pub drain: Duration,
    /// A delivery later than this after its key was due counts as late (it still counts as delivered).
    pub late: Duration,
    /// The server's process on this machine, for CPU time and memory; `None` to skip them.
    pub server_pid: Option<u32>,
    /// No progress bars.
    pub quiet: bool,
}

impl TypingConfig {
    /// The bounds of a run in one process.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_split(1)
    }

    /// The bounds of a run whose rooms are split over `procs` processes: each process's share of rooms
    /// and clients stays within the bounds of one process ([`MAX_ROOMS`], [`MAX_TOTAL_CLIENTS`]).
    pub fn validate_split(&self, procs: usize) -> anyhow::Result<()> {
        ensure!((1..=MAX_PROCS).contains(&procs), "--procs must be 1..={MAX_PROCS}");
        let max_rooms = MAX_ROOMS * procs;
        ensure!(
            (1..=max_rooms).contains(&self.rooms),
            "--rooms must be 1..={max_rooms} ({MAX_ROOMS} per process, {procs} process(es))"
        );
        ensure!(self.rooms >= procs, "--rooms must be at least --procs ({procs}): every process runs a room");
        ensure!(
            (MIN_CLIENTS_PER_ROOM..=MAX_CLIENTS_PER_ROOM).contains(&self.clients_per_room),
            "--clients-per-room must be {MIN_CLIENTS_PER_ROOM}..={MAX_CLIENTS_PER_ROOM}"
        );
        let busiest = self.rooms.div_ceil(procs);
        ensure!(
            busiest * self.clients_per_room <= MAX_TOTAL_CLIENTS,
            "rooms × clients per room must be at most {MAX_TOTAL_CLIENTS} per process (the file limit), \
             here {busiest} × {} in the busiest of {procs} process(es): split the run with --procs",
            self.clients_per_room
        );
        ensure!(
            self.keys_per_sec > 0.0 && self.keys_per_sec <= MAX_KEYS_PER_SEC,
            "--keys-per-sec must be in (0, {MAX_KEYS_PER_SEC}]"
        );
        ensure!((1..=MAX_CHUNK).contains(&self.chunk), "the paste size must be 1..={MAX_CHUNK} characters");
        ensure!(
            self.keep_chars == 0 || self.keep_chars >= self.chunk,
            "--keep-chars must be 0 (never delete) or at least the characters per key ({})",
            self.chunk
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

/// Runs the scenario in this process. `Err` means the run could not happen (the rooms could not be
/// opened); clients that could not join, losses and divergence are in the report.
pub async fn run(cfg: &TypingConfig) -> anyhow::Result<Report> {
    cfg.validate()?;
    let wall = Instant::now();
    let progress = Progress::new(cfg.quiet);
    let mut server = None;
    let tally = run_shard(cfg, Shard::WHOLE, &progress, || {
        // Everyone is synced: the server is watched over the typing phase, which starts now.
        server = ServerWatch::start(cfg.server_pid);
        std::future::ready(Ok(std::time::Instant::now() + START_DELAY))
    })
    .await?;
    let server = match server {
        Some(w) => w.finish().await,
        None => None,
    };
    Ok(Report::from_tally(cfg, tally, server, wall.elapsed()))
}

/// Which of a run's rooms one process runs: global rooms `index`, `index + count`, `index + 2 × count`…
/// of a run split over `count` processes. Written `index/count` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// All the rooms: a run in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The global indices of this shard's rooms among `rooms`.
    pub fn rooms(self, rooms: usize) -> impl Iterator<Item = usize> {
        (self.index..rooms).step_by(self.count.max(1))
    }
}

impl FromStr for Shard {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Shard> {
        let (index, count) = s.split_once('/').context("a shard is written index/count, e.g. 0/4")?;
        let index: usize = index.parse().context("the shard index")?;
        let count: usize = count.parse().context("the shard count")?;
        if !(1..=MAX_PROCS).contains(&count) || index >= count {
            bail!("shard {s}: the count must be 1..={MAX_PROCS} and the index below it");
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Runs `shard`'s rooms of the run `cfg` describes: opens them, joins every client, then awaits `start`
/// for the instant the timetable starts, types until the last key and the drain, and tallies what
/// happened. Each room keeps its global index, so it is phased in the key interval exactly as in a run
/// in one process. `Err` means the rooms could not be opened or `start` failed.
pub async fn run_shard<F, Fut>(
    cfg: &TypingConfig,
    shard: Shard,
    progress: &Progress,
    start: F,
) -> anyhow::Result<Tally>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<std::time::Instant>>,
{
    cfg.validate_split(shard.count)?;
    ensure!(shard.index < shard.count, "shard {shard} does not exist");
    let run_id = format!("{}", std::process::id());
    let rooms = cfg.target.open_rooms(shard.rooms(cfg.rooms).count(), &Submission::typing(), &run_id).await?;
    type_in(cfg, shard, &rooms, progress, start).await
}

/// Runs the typing scenario in rooms opened elsewhere (the voice scenario's, with `--with-typing`): its
/// clients join beside whoever is there, and the server is watched by the caller, not here.
pub async fn run_in_rooms(cfg: &TypingConfig, rooms: &[Room]) -> anyhow::Result<Report> {
    ensure!(rooms.len() == cfg.rooms, "typing in {} rooms, {} given", cfg.rooms, rooms.len());
    cfg.validate()?;
    let wall = Instant::now();
    let progress = Progress::new(true);
    let start = || std::future::ready(Ok(std::time::Instant::now() + START_DELAY));
    let tally = type_in(cfg, Shard::WHOLE, rooms, &progress, start).await?;
    Ok(Report::from_tally(cfg, tally, None, wall.elapsed()))
}

/// [`run_shard`] once its rooms are open: `rooms` are `shard`'s rooms of the run, in order.
async fn type_in<F, Fut>(
    cfg: &TypingConfig,
    shard: Shard,
    rooms: &[Room],
    progress: &Progress,
    start: F,
) -> anyhow::Result<Tally>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<std::time::Instant>>,
{
    Ok(type_rooms(cfg, shard, rooms, progress, start).await?.tally())
}

/// What happened in each room of a run, before it is tallied.
pub struct Typed {
    /// Each room that ran, by its global index in the run (rooms whose clients could not all join are
    /// left out).
    pub outcomes: Vec<(usize, RoomOutcome)>,
    pub join: Latency,
    /// Errors of the clients that could not join.
    pub failures: Vec<String>,
}

impl Typed {
    pub fn tally(&self) -> Tally {
        let outcomes: Vec<&RoomOutcome> = self.outcomes.iter().map(|(_, o)| o).collect();
        Tally::from_outcomes(outcomes, &self.join, &self.failures)
    }
}

/// Joins every client of `rooms` (`shard`'s rooms of the run, in order), awaits `start` for the instant
/// the timetable starts, types until the last key and the drain, and returns each room's outcome.
pub async fn type_rooms<F, Fut>(
    cfg: &TypingConfig,
    shard: Shard,
    rooms: &[Room],
    progress: &Progress,
    start: F,
) -> anyhow::Result<Typed>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<std::time::Instant>>,
{
    let global: Vec<usize> = shard.rooms(cfg.rooms).collect();
    let joined = join_all(rooms, cfg.clients_per_room, progress).await;

    // Everyone is synced. Rooms are staggered across one key interval so they do not all type in the
    // same instant.
    let start = start().await?;
    let interval = cfg.interval();
    let deadline = Instant::from_std(start) + cfg.duration + cfg.drain;
    let runnable: Vec<(usize, Vec<YClient>, Option<Arc<Failover>>)> = global
        .iter()
        .zip(joined.rooms)
        .zip(rooms)
        .filter_map(|((&r, c), room)| c.map(|c| (r, c, room.failover.clone())))
        .collect();
    let tables: Vec<Timetable> = runnable
        .iter()
        .map(|(r, _, _)| {
            let phase = interval.mul_f64(*r as f64 / cfg.rooms as f64);
            // Each room starts at its own point of the word cycle: bursts spread over the cycle rather
            // than every room typing a word at once.
            let word_offset = *r as u64 % metronome::WORD_CYCLE_KEYS;
            Timetable {
                first: start + phase,
                interval,
                keys: cfg.keys_per_room(),
                rhythm: cfg.rhythm,
                word_offset,
            }
        })
        .collect();
    let ticks = metronome::start(tables.clone())?;
    let live = Arc::new(Live::default());
    let expected = cfg.keys_per_room() * (global.len() * (cfg.clients_per_room - 1)) as u64;
    let status = {
        let live = live.clone();
        move || {
            let sent = live.keys_sent.load(Ordering::Relaxed);
            let received = live.received.load(Ordering::Relaxed);
            format!("keys sent {sent} · deliveries {received}/{expected}")
        }
    };
    let lead = start.saturating_duration_since(std::time::Instant::now());
    let bar = progress.timed("typing", cfg.duration + lead, status);
    let tasks: Vec<_> = runnable
        .into_iter()
        .zip(tables)
        .zip(ticks)
        .map(|(((r, clients, failover), table), ticks)| {
            let plan = Plan { table, chunk: cfg.chunk, keep_chars: cfg.keep_chars, deadline };
            (r, tokio::spawn(room::run(clients, plan, ticks, live.clone(), failover)))
        })
        .collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for (r, task) in tasks {
        outcomes.push((r, task.await.map_err(|e| anyhow!("room task failed: {e}"))?));
    }
    bar.finish();
    Ok(Typed { outcomes, join: joined.join, failures: joined.failures })
}

/// Every room's clients after joining: `None` for a room where some client could not join (it is left
/// out of the run; its keys count as lost).
pub struct Joined {
    pub rooms: Vec<Option<Vec<YClient>>>,
    pub join: Latency,
    /// Errors of the clients that could not join.
    pub failures: Vec<String>,
}

/// Connects every client of every room, [`CONNECT_CONCURRENCY`] handshakes at a time, and waits until
/// each is synced.
pub async fn join_all(rooms: &[Room], per_room: usize, progress: &Progress) -> Joined {
    let bar = progress.phase("join", (rooms.len() * per_room) as u64);
    let gate = std::sync::Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut handles = Vec::with_capacity(rooms.len());
    for room in rooms {
        let mut room_handles = Vec::with_capacity(per_room);
        for i in 0..per_room {
            let (url, dialect, seed) = (room.url(i).to_owned(), room.dialect.clone(), room.seed.clone());
            let gate = gate.clone();
            room_handles.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.map_err(|_| anyhow!("join gate closed"))?;
                YClient::join(&url, &dialect, seed.as_deref().map(Vec::as_slice)).await
            }));
        }
        handles.push(room_handles);
    }
    let mut joined =
        Joined { rooms: Vec::with_capacity(rooms.len()), join: Latency::new(), failures: Vec::new() };
    for (room, room_handles) in rooms.iter().zip(handles) {
        let mut clients = Vec::with_capacity(per_room);
        let mut complete = true;
        for (i, h) in room_handles.into_iter().enumerate() {
            let result = h.await.map_err(|e| anyhow!("join task failed: {e}")).and_then(|r| r);
            bar.inc(1);
            match result {
                Ok((client, took)) => {
                    joined.join.record(took.total);
                    clients.push(client);
                }
                Err(e) => {
                    complete = false;
                    joined.failures.push(format!("client {i} of {} could not join: {e:#}", room.id));
                }
            }
        }
        if complete {
            joined.rooms.push(Some(clients));
        } else {
            for c in clients {
                c.close().await;
            }
            joined.rooms.push(None);
        }
    }
    bar.finish();
    joined
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Kind;

    fn cfg() -> TypingConfig {
        TypingConfig {
            target: Target {
                kind: Kind::Handoff,
                url: "http://127.0.0.1:1".into(),
                api_key: Some("k".into()),
            },
            rooms: 10,
            clients_per_room: 3,
            keys_per_sec: 5.0,
            rhythm: crate::metronome::Rhythm::Words,
            chunk: 1,
            keep_chars: 0,
            duration: Duration::from_secs(20),
            drain: Duration::from_secs(5),
            late: Duration::from_millis(crate::limits::DEFAULT_LATE_MS),
            server_pid: None,
            quiet: true,
        }
    }

    #[test]
    fn keys_fill_the_duration_on_a_fixed_timetable() {
        assert_eq!(cfg().keys_per_room(), 100);
        assert_eq!(cfg().interval(), Duration::from_millis(200));
        let first = std::time::Instant::now();
        let table = Timetable {
            first,
            interval: cfg().interval(),
            keys: 100,
            rhythm: Rhythm::Steady,
            word_offset: 0,
        };
        assert_eq!(table.due(0), first);
        assert_eq!(table.due(99), first + Duration::from_millis(19_800));
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
            TypingConfig { chunk: 0, ..cfg() },
            TypingConfig { chunk: MAX_CHUNK + 1, ..cfg() },
            TypingConfig { drain: MAX_DRAIN * 2, ..cfg() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn split_runs_bound_each_process() {
        let big = TypingConfig { rooms: MAX_ROOMS * 4, clients_per_room: 3, ..cfg() };
        assert!(big.validate().is_err(), "too many clients for one process");
        assert!(big.validate_split(4).is_ok(), "{} rooms per process", MAX_ROOMS);
        assert!(big.validate_split(3).is_err());
        // The busiest process gets the rounded-up share.
        let uneven = TypingConfig { rooms: MAX_ROOMS * 2 + 1, ..big.clone() };
        assert!(uneven.validate_split(2).is_err());
        assert!(uneven.validate_split(3).is_ok());
        assert!(TypingConfig { rooms: 2, ..cfg() }.validate_split(3).is_err(), "fewer rooms than processes");
        assert!(cfg().validate_split(0).is_err());
        assert!(cfg().validate_split(MAX_PROCS + 1).is_err());
        assert!(TypingConfig { rooms: MAX_ROOMS * MAX_PROCS, ..cfg() }.validate_split(MAX_PROCS).is_ok());
    }

    #[test]
    fn shards_deal_the_rooms_round_robin() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let dealt: Vec<Vec<usize>> = shards.iter().map(|s| s.rooms(8).collect()).collect();
        assert_eq!(dealt, vec![vec![0, 3, 6], vec![1, 4, 7], vec![2, 5]]);
        assert_eq!(Shard::WHOLE.rooms(3).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!("2/3".parse::<Shard>().unwrap(), shards[2]);
        assert_eq!(shards[1].to_string(), "1/3");
        for bad in ["3/3", "0/0", "1", "a/2", "0/99", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
