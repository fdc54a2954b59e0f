//! The join-storm scenario: rooms holding a large submission (200 KiB in 50 files by default), each
//! already open with one client, then many clients join every room at the same instant. Measures, per
//! joiner, the WebSocket handshake and the first sync (step 1 sent → the server's full step 2 received),
//! and checks that every joiner ends with exactly the submission's files. Joiners apply what they
//! received only after the storm: one generator process plays a hundred clients, and each one's yrs work
//! (real clients do it on their own machines) would otherwise delay the others' reads and be counted
//! against the server. `--storms N` runs N storms one after another into the same rooms, each after the
//! last one's joiners have left and been checked, and reports all their joiners together: one storm's
//! p99 is its one or two slowest joiners, and on a shared host it moved by more than the changes measured.
//!
//! A peer has nothing to preload from, so a seeding client that holds the files joins first and stays:
//! y-websocket and Hocuspocus then hold the document (and would drop it if the room emptied). The relay
//! keeps no document and cannot take part.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{JoinTimes, YClient};
use crate::compare::{Outcome, Row};
use crate::limits::{
    MAX_JOINERS, MAX_REPORTED_ERRORS, MAX_ROOMS, MAX_STORMS, MAX_TOTAL_CLIENTS, START_DELAY,
};
use crate::mint::Submission;
use crate::server_watch::{ServerFigures, ServerWatch};
use crate::stats::{Latency, Percentiles};
use crate::sysstat::{own_cpu_time, per_unit_us};
use crate::target::{Kind, Room, Target};

#[derive(Debug, Clone)]
pub struct JoinStormConfig {
    pub target: Target,
    pub rooms: usize,
    /// Clients joining each room at once.
    pub joiners: usize,
    /// Size and file count of the submission every room holds.
    pub bytes: usize,
    pub files: usize,
    /// Storms, one after another, into the same rooms; every joiner of every storm is reported together.
    pub storms: usize,
    pub server_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct JoinStormReport {
    pub scenario: &'static str,
    pub target: &'static str,
    pub server: String,
    pub rooms: usize,
    pub joiners_per_room: usize,
    pub submission_bytes: usize,
    pub submission_files: usize,
    pub storms: usize,
    /// The first client of each room, joining alone: for handoff this loads the room from the store.
    pub room_open: Percentiles,
    /// Connect → WebSocket handshake done, per joiner.
    pub handshake: Percentiles,
    /// Sync step 1 sent → the server's step 2 received (before applying it), per joiner.
    pub first_sync: Percentiles,
    /// Connect → step 2 received, per joiner (applied after the storm).
    pub join: Percentiles,
    pub join_failures: usize,
    /// Joiners whose files were not exactly the submission's after the sync.
    pub incomplete: usize,
    pub errors: Vec<String>,
    /// The server over the storm itself; `cpu_us_per_delivered_update` is CPU per joiner synced.
    pub server_figures: Option<ServerFigures>,
    /// The generator's own CPU per joiner, from each gate's opening to its last joiner's close: its
    /// clients' connects, handshakes, reads and closes (not the check of the files after each storm).
    /// On one machine the generator and the server share the cores, so this is time the server's
    /// joiners could not have had.
    pub generator_cpu_us_per_joiner: f64,
    pub wall_s: f64,
}

impl JoinStormConfig {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!((1..=MAX_ROOMS).contains(&self.rooms), "--rooms must be 1..={MAX_ROOMS}");
        ensure!((1..=MAX_JOINERS).contains(&self.joiners), "--joiners must be 1..={MAX_JOINERS}");
        ensure!((1..=MAX_STORMS).contains(&self.storms), "--storms must be 1..={MAX_STORMS}");
        ensure!(
            self.rooms * (self.joiners + 1) <= MAX_TOTAL_CLIENTS,
            "at most {MAX_TOTAL_CLIENTS} connections"
        );
        ensure!(self.files >= 1 && self.bytes >= self.files, "--bytes must be at least --files");
        if !self.target.kind.keeps_documents() {
            bail!(
                "join-storm needs a server that keeps documents; the {} keeps none",
                self.target.kind.name()
            );
        }
        Ok(())
    }
}

pub async fn run(cfg: &JoinStormConfig) -> anyhow::Result<JoinStormReport> {
    cfg.validate()?;
    let wall = Instant::now();
    let sub = Submission::large(cfg.bytes, cfg.files);
    let expected: BTreeMap<String, String> =
        sub.files.iter().map(|f| (f.path.clone(), f.content.clone())).collect();
    let rooms = cfg.target.open_rooms(cfg.rooms, &sub, &format!("storm{}", std::process::id())).await?;

    // One client per room first: handoff loads the room; a peer receives the files from it.
    let mut room_open = Latency::new();
    let mut holders = Vec::with_capacity(rooms.len());
    for room in &rooms {
        let (holder, took) = open_room(room, cfg.target.kind, &expected).await?;
        room_open.record(took.total);
        holders.push(holder);
    }

    // The server is watched over every storm and the pauses between them, in which it is idle.
    let mut server = None;
    let (mut handshake, mut first_sync, mut join) = (Latency::new(), Latency::new(), Latency::new());
    let (mut failures, mut incomplete, mut errors) = (0, 0, Vec::new());
    let mut generator_cpu = std::time::Duration::ZERO;
    for _ in 0..cfg.storms {
        // Every joiner waits at the gate; the gate opens once, for all of them.
        let (go_tx, go_rx) = watch::channel(false);
        let tasks = joiners_at_gate(&rooms, cfg.joiners, &go_rx);
        tokio::time::sleep(START_DELAY).await;
        if server.is_none() {
            server = Some(ServerWatch::start(cfg.server_pid));
        }
        let cpu_before = own_cpu_time();
        let _ = go_tx.send(true);
        let joined = join_all(tasks).await;
        generator_cpu += own_cpu_time().saturating_sub(cpu_before);
        for r in joined {
            match r.map_err(anyhow::Error::from).and_then(|r| r) {
                Ok((t, held)) => {
                    record(&mut handshake, &mut first_sync, &mut join, &t);
                    incomplete += usize::from(!holds_exactly(&held, &expected));
                }
                Err(e) => {
                    failures += 1;
                    if errors.len() < MAX_REPORTED_ERRORS {
                        errors.push(format!("{e:#}"));
                    }
                }
            }
        }
    }
    let server = match server.flatten() {
        Some(w) => w.finish().await,
        None => None,
    };
    for h in holders {
        h.close().await;
    }

    let synced = join.count();
    Ok(JoinStormReport {
        scenario: "join-storm",
        target: cfg.target.kind.name(),
        server: cfg.target.url.clone(),
        rooms: cfg.rooms,
        joiners_per_room: cfg.joiners,
        submission_bytes: sub.bytes(),
        submission_files: sub.files.len(),
        storms: cfg.storms,
        room_open: room_open.summary(),
        handshake: handshake.summary(),
        first_sync: first_sync.summary(),
        join: join.summary(),
        join_failures: failures,
        incomplete,
        errors,
        server_figures: server.map(|f| f.with_deliveries(synced)),
        generator_cpu_us_per_joiner: per_unit_us(generator_cpu, synced),
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

/// One joiner's timings and the updates it received, unapplied.
type Joined = (JoinTimes, Vec<Bytes>);

/// `joiners` clients per room, each waiting for `go`, then joining empty (the server must send the whole
/// document) and keeping what it received, unapplied (see `YClient::join_holding`).
fn joiners_at_gate(
    rooms: &[Room],
    joiners: usize,
    go: &watch::Receiver<bool>,
) -> Vec<JoinHandle<anyhow::Result<Joined>>> {
    let mut tasks = Vec::with_capacity(rooms.len() * joiners);
    for room in rooms {
        for i in 0..joiners {
            let (url, dialect) = (room.url(i + 1).to_owned(), room.dialect.clone());
            let mut go = go.clone();
            tasks.push(tokio::spawn(async move {
                go.wait_for(|open| *open).await.context("gate")?;
                let (mut client, times) = YClient::join_holding(&url, &dialect).await?;
                let held = client.take_held();
                client.close().await;
                anyhow::Ok((times, held))
            }));
        }
    }
    tasks
}

/// Whether the updates a joiner received make a document holding exactly `expected`.
fn holds_exactly(held: &[Bytes], expected: &BTreeMap<String, String>) -> bool {
    use yrs::Transact;
    use yrs::updates::decoder::Decode;
    let doc = yrs::Doc::new();
    for bytes in held {
        let Ok(update) = yrs::Update::decode_v1(bytes) else { return false };
        if doc.transact_mut().apply_update(update).is_err() {
            return false;
        }
    }
    handoff_protocol::schema::read_files(&doc) == *expected
}

fn record(handshake: &mut Latency, first_sync: &mut Latency, join: &mut Latency, t: &JoinTimes) {
    handshake.record(t.handshake);
    first_sync.record(t.first_sync);
    join.record(t.total);
}

/// Opens a room with its first client and makes sure the server holds the submission: handoff preloads
/// it; a peer gets it from this client, which joins with the seed and pushes it as an update.
async fn open_room(
    room: &Room,
    kind: Kind,
    expected: &BTreeMap<String, String>,
) -> anyhow::Result<(YClient, JoinTimes)> {
    let seed = room.seed.as_deref().map(Vec::as_slice);
    let (mut holder, took) = YClient::join(room.url(0), &room.dialect, seed).await?;
    if let Some(seed) = seed {
        holder.send(handoff_protocol::frame::encode_update(seed)).await?;
        // The server has applied the seed once a fresh client is synced with all of it.
        let probe =
            wait_for_files(room, expected).await.with_context(|| format!("{} kept no seed", kind.name()))?;
        probe.close().await;
    } else if holder.files() != *expected {
        bail!("room {} did not open with the submission's files", room.id);
    }
    Ok((holder, took))
}

async fn wait_for_files(room: &Room, expected: &BTreeMap<String, String>) -> anyhow::Result<YClient> {
    for _ in 0..crate::limits::SEED_CHECKS {
        let (probe, _) = YClient::join(room.url(1), &room.dialect, None).await?;
        if probe.files() == *expected {
            return Ok(probe);
        }
        probe.close().await;
        tokio::time::sleep(crate::limits::SEED_CHECK_PAUSE).await;
    }
    bail!("the files never arrived")
}

impl JoinStormReport {
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "handoff-load join-storm: {} rooms of {} KiB in {} files, {} joiners each at once, {} storm(s), against {} at {}",
            self.rooms,
            self.submission_bytes / 1024,
            self.submission_files,
            self.joiners_per_room,
            self.storms,
            self.target,
            self.server
        );
        let _ = writeln!(s, "join failures      {}", self.join_failures);
        let _ = writeln!(
            s,
            "incomplete         {} joiners without exactly the submission's files",
            self.incomplete
        );
        for e in &self.errors {
            let _ = writeln!(s, "  {e}");
        }
        crate::stats::write_latency_table(
            &mut s,
            &[
                ("room open", &self.room_open),
                ("handshake", &self.handshake),
                ("first sync", &self.first_sync),
                ("join", &self.join),
            ],
        );
        if let Some(f) = &self.server_figures {
            let _ = writeln!(s, "{} (per joiner synced)", f.table());
        }
        let _ =
            writeln!(s, "generator CPU      {:.1} µs per joiner synced", self.generator_cpu_us_per_joiner);
        crate::report::write_result(&mut s, self.ok(), "FAILED");
        s
    }

    pub fn ok(&self) -> bool {
        self.join_failures == 0 && self.incomplete == 0
    }
}

impl Outcome for JoinStormReport {
    fn table(&self) -> String {
        JoinStormReport::table(self)
    }
    fn ok(&self) -> bool {
        JoinStormReport::ok(self)
    }
    fn row(&self) -> Row {
        Row::new(
            self.target,
            self.ok(),
            self.incomplete as u64,
            self.join_failures,
            &self.first_sync,
            self.server_figures.as_ref(),
        )
    }
    fn headline(&self) -> &'static str {
        "first sync"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(storms: usize) -> JoinStormConfig {
        let target = Target { kind: Kind::Handoff, url: "http://127.0.0.1:1".into(), api_key: None };
        JoinStormConfig {
            target,
            rooms: 10,
            joiners: 10,
            bytes: 200 * 1024,
            files: 50,
            storms,
            server_pid: None,
        }
    }

    #[test]
    fn storms_are_bounded() {
        assert!(cfg(1).validate().is_ok());
        assert!(cfg(MAX_STORMS).validate().is_ok());
        for bad in [0, MAX_STORMS + 1] {
            let err = cfg(bad).validate().unwrap_err().to_string();
            assert!(err.contains("--storms"), "{bad}: {err}");
        }
    }
}
