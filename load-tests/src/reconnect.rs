//! The reconnect-storm scenario: a network blip. Every room types a little, then every client's
//! connection drops at the same instant (no closing handshake), the typists keep typing offline, and all
//! clients reconnect at once with the documents they had. Measures the reconnect (connect → synced) and
//! how long until every watcher has the typist's offline keys, and checks that nothing was lost and
//! every room agrees.

use std::time::Duration;

use anyhow::{anyhow, ensure};
use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use yrs::{ClientID, Doc, Text, Transact};

use crate::client::YClient;
use crate::compare::{Outcome, Row};
use crate::limits::{
    MAX_CLIENTS_PER_ROOM, MAX_REPORTED_ERRORS, MAX_ROOMS, MAX_TOTAL_CLIENTS, MIN_CLIENTS_PER_ROOM,
    START_DELAY,
};
use crate::mint::{Submission, TYPED_FILE};
use crate::server_watch::{ServerFigures, ServerWatch};
use crate::stats::{Latency, Percentiles};
use crate::target::{Room, Target};
use crate::typing::join_all as join_rooms;

#[derive(Debug, Clone)]
pub struct ReconnectConfig {
    pub target: Target,
    pub rooms: usize,
    pub clients_per_room: usize,
    /// Keys each typist types while connected, before the drop.
    pub keys_online: u32,
    /// Keys each typist types while disconnected.
    pub keys_offline: u32,
    /// How long watchers may take to receive everything after reconnecting.
    pub settle: Duration,
    pub server_pid: Option<u32>,
    /// No progress bars.
    pub quiet: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReconnectReport {
    pub scenario: &'static str,
    pub target: &'static str,
    pub server: String,
    pub rooms: usize,
    pub clients_per_room: usize,
    pub keys_online: u32,
    pub keys_offline: u32,
    /// Connect → synced, per reconnecting client.
    pub reconnect: Percentiles,
    /// The storm's start → this watcher holds every key the typist typed, per watcher.
    pub caught_up: Percentiles,
    pub join_failures: usize,
    /// Watchers that never received all of the typist's keys.
    pub lost: usize,
    pub rooms_diverged: usize,
    pub errors: Vec<String>,
    /// The server over the reconnect storm; `cpu_us_per_delivered_update` is CPU per client reconnected.
    pub server_figures: Option<ServerFigures>,
    pub wall_s: f64,
}

/// One client between the drop and the reconnect: its document, and what it is.
struct Offline {
    doc: Doc,
    room: usize,
    index: usize,
}

pub async fn run(cfg: &ReconnectConfig) -> anyhow::Result<ReconnectReport> {
    ensure!((1..=MAX_ROOMS).contains(&cfg.rooms), "--rooms must be 1..={MAX_ROOMS}");
    ensure!(
        (MIN_CLIENTS_PER_ROOM..=MAX_CLIENTS_PER_ROOM).contains(&cfg.clients_per_room),
        "--clients-per-room must be {MIN_CLIENTS_PER_ROOM}..={MAX_CLIENTS_PER_ROOM}"
    );
    ensure!(cfg.rooms * cfg.clients_per_room <= MAX_TOTAL_CLIENTS, "at most {MAX_TOTAL_CLIENTS} connections");
    // Offline keys reach the others only through a server that keeps the document and asks the
    // reconnecting typist for what it lacks.
    ensure!(
        cfg.target.kind.keeps_documents(),
        "reconnect-storm needs a server that keeps documents; the {} keeps none",
        cfg.target.kind.name()
    );
    let wall = Instant::now();
    let rooms = cfg
        .target
        .open_rooms(cfg.rooms, &Submission::typing(), &format!("blip{}", std::process::id()))
        .await?;
    let joined = join_rooms(&rooms, cfg.clients_per_room, &crate::progress::Progress::new(cfg.quiet)).await;
    let mut errors: Vec<String> = joined.failures.iter().take(MAX_REPORTED_ERRORS).cloned().collect();
    let join_failures = joined.failures.len();

    // Online typing, then the drop: dropping a client closes its socket without a closing handshake.
    let mut offline = Vec::new();
    for (r, clients) in joined.rooms.into_iter().enumerate() {
        let Some(mut clients) = clients else { continue };
        for _ in 0..cfg.keys_online {
            let update = type_key(clients[0].doc());
            clients[0].send(handoff_protocol::frame::encode_update(&update)).await?;
        }
        for (index, c) in clients.into_iter().enumerate() {
            offline.push(Offline { doc: c.into_doc(), room: r, index });
        }
    }
    for o in offline.iter().filter(|o| o.index == 0) {
        for _ in 0..cfg.keys_offline {
            type_key(&o.doc);
        }
    }

    let (go_tx, go_rx) = watch::channel(false);
    let expected_keys = cfg.keys_online + cfg.keys_offline;
    let tasks: Vec<_> = offline
        .into_iter()
        .map(|o| {
            let room: Room = rooms[o.room].clone();
            let mut go = go_rx.clone();
            let deadline_after = cfg.settle;
            tokio::spawn(async move {
                go.wait_for(|open| *open).await.map_err(|_| anyhow!("gate"))?;
                let started = Instant::now();
                let typist = typist_id(o.index, &o.doc);
                let (mut c, times) = YClient::join_doc(room.url(o.index), &room.dialect, o.doc).await?;
                let caught_up = match typist {
                    None => wait_for_typist(&mut c, expected_keys, started, deadline_after).await?,
                    Some(_) => None,
                };
                anyhow::Ok((o.room, o.index, c, times.total, caught_up))
            })
        })
        .collect();
    tokio::time::sleep(START_DELAY).await;
    let server = ServerWatch::start(cfg.server_pid);
    let _ = go_tx.send(true);
    let results = join_all(tasks).await;
    let server = match server {
        Some(w) => w.finish().await,
        None => None,
    };

    let (mut reconnect, mut caught) = (Latency::new(), Latency::new());
    let mut reconnect_failures = 0;
    let mut by_room: Vec<Vec<(usize, YClient, Option<Duration>)>> =
        (0..cfg.rooms).map(|_| Vec::new()).collect();
    for r in results {
        match r.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok((room, index, c, took, caught_up)) => {
                reconnect.record(took);
                if let Some(t) = caught_up {
                    caught.record(t);
                }
                by_room[room].push((index, c, caught_up));
            }
            Err(e) => {
                reconnect_failures += 1;
                if errors.len() < MAX_REPORTED_ERRORS {
                    errors.push(format!("reconnect: {e:#}"));
                }
            }
        }
    }
    let (mut lost, mut diverged) = (0, 0);
    for mut clients in by_room.into_iter().filter(|c| !c.is_empty()) {
        clients.sort_by_key(|(i, _, _)| *i);
        let reference = clients[0].1.files();
        lost += clients.iter().filter(|(i, _, caught)| *i > 0 && caught.is_none()).count();
        diverged += usize::from(clients.iter().any(|(_, c, _)| c.files() != reference));
        for (_, c, _) in clients {
            c.close().await;
        }
    }
    let reconnected = reconnect.count();
    Ok(ReconnectReport {
        scenario: "reconnect-storm",
        target: cfg.target.kind.name(),
        server: cfg.target.url.clone(),
        rooms: cfg.rooms,
        clients_per_room: cfg.clients_per_room,
        keys_online: cfg.keys_online,
        keys_offline: cfg.keys_offline,
        reconnect: reconnect.summary(),
        caught_up: caught.summary(),
        join_failures: join_failures + reconnect_failures,
        lost,
        rooms_diverged: diverged,
        errors,
        server_figures: server.map(|f| f.with_deliveries(reconnected)),
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

/// The typist's client id for the typist (client 0), `None` for watchers.
fn typist_id(index: usize, doc: &Doc) -> Option<ClientID> {
    (index == 0).then(|| doc.client_id())
}

/// Types one character at the end of the typed file; returns the update.
fn type_key(doc: &Doc) -> Vec<u8> {
    let root = handoff_protocol::schema::files_root(doc);
    let mut txn = doc.transact_mut();
    let Some(yrs::Out::YText(text)) = yrs::Map::get(&root, &txn, TYPED_FILE) else { return Vec::new() };
    let end = text.len(&txn);
    text.insert(&mut txn, end, "x");
    txn.encode_update_v1()
}

/// Pumps a watcher's frames until the typed file holds every key (its length grew by `keys`), or the
/// deadline passes. Returns how long it took from `started`, `None` if it never did.
async fn wait_for_typist(
    c: &mut YClient,
    keys: u32,
    started: Instant,
    settle: Duration,
) -> anyhow::Result<Option<Duration>> {
    let want = crate::mint::INITIAL_CONTENT.len() as u32 + keys;
    let deadline = started + settle;
    loop {
        if typed_len(c) >= want {
            return Ok(Some(started.elapsed()));
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(None),
            frame = c.next_frame() => {
                let bytes = frame?.ok_or_else(|| anyhow!("connection closed"))?;
                c.handle(&bytes, None).await?;
            }
        }
    }
}

fn typed_len(c: &YClient) -> u32 {
    let root = handoff_protocol::schema::files_root(c.doc());
    let txn = c.doc().transact();
    match yrs::Map::get(&root, &txn, TYPED_FILE) {
        Some(yrs::Out::YText(t)) => t.len(&txn),
        _ => 0,
    }
}

impl ReconnectReport {
    pub fn ok(&self) -> bool {
        self.join_failures == 0 && self.lost == 0 && self.rooms_diverged == 0
    }

    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "handoff-load reconnect-storm: {} rooms × {} clients, {} keys online + {} offline, against {} at {}",
            self.rooms, self.clients_per_room, self.keys_online, self.keys_offline, self.target, self.server
        );
        let _ = writeln!(s, "join failures      {}", self.join_failures);
        let _ = writeln!(s, "lost               {} watchers never got every key", self.lost);
        let _ = writeln!(s, "divergence         {} rooms diverged", self.rooms_diverged);
        for e in &self.errors {
            let _ = writeln!(s, "  {e}");
        }
        crate::stats::write_latency_table(
            &mut s,
            &[("reconnect", &self.reconnect), ("caught up", &self.caught_up)],
        );
        if let Some(f) = &self.server_figures {
            let _ = writeln!(s, "{} (per client reconnected)", f.table());
        }
        crate::report::write_result(&mut s, self.ok(), "FAILED");
        s
    }
}

impl Outcome for ReconnectReport {
    fn table(&self) -> String {
        ReconnectReport::table(self)
    }
    fn ok(&self) -> bool {
        ReconnectReport::ok(self)
    }
    fn row(&self) -> Row {
        Row::new(
            self.target,
            self.ok(),
            self.lost as u64,
            self.join_failures,
            &self.reconnect,
            self.server_figures.as_ref(),
        )
    }
    fn headline(&self) -> &'static str {
        "reconnect"
    }
}
