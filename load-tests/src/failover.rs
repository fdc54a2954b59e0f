//! `--kill-node-after`: one node of a cluster run is killed with SIGKILL partway through the typing
//! phase. Its clients rejoin the room on another node with the document they hold, as a y-websocket
//! provider does after a drop: the node greets them with its sync step 1, which they answer with what
//! they have beyond it (their edits that never left the dead node), and its step 2 brings what they
//! missed. The report gives how long each room with a client on the dead node took to converge, from
//! the kill until every client of the room was connected again and held every key typed before it, and
//! how many of those keys never reached some watcher (which must be none).

use std::ops::Range;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use tokio::time::{Instant, sleep, sleep_until};
use yrs::{ClientID, ReadTxn, Transact};

use crate::client::YClient;
use crate::limits::{MAX_REJOINS, REJOIN_PAUSE, REJOIN_TIMEOUT};
use crate::room::RoomOutcome;
use crate::stats::{Latency, Percentiles};

/// The node to kill and when.
#[derive(Debug, Clone, Copy)]
pub struct KillPlan {
    /// Its index in `--nodes`.
    pub node: usize,
    pub pid: u32,
    /// From the first scheduled key.
    pub after: Duration,
}

/// The instant of the kill, shared by the killer and every client: a key is "typed before the kill" when
/// its update went out before that instant.
#[derive(Debug, Default)]
pub struct KillClock(OnceLock<Instant>);

impl KillClock {
    /// Whether an update sent at `sent` went out before the kill (every update does until the kill).
    pub fn before_kill(&self, sent: Instant) -> bool {
        self.0.get().is_none_or(|&k| sent < k)
    }

    pub fn at(&self) -> Option<Instant> {
        self.0.get().copied()
    }
}

/// Where one room's clients go when their connection drops.
#[derive(Debug)]
pub struct Failover {
    /// Client `i`'s URL on every node, its own node first, then the following ones in turn.
    pub urls: Vec<Vec<String>>,
    pub clock: Arc<KillClock>,
}

/// How one client came through the kill.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recovery {
    /// Times it joined another node after losing its connection.
    pub rejoins: u32,
    /// When its last rejoin completed (synced).
    pub rejoined: Option<Instant>,
    /// Keys typed before the kill that it learned (a watcher).
    pub before_kill: u64,
    /// When it learned the last of them.
    pub last_before_kill: Option<Instant>,
}

impl Recovery {
    /// Notes that a key sent at `sent` arrived at `arrived`.
    pub fn learned(&mut self, clock: &KillClock, sent: Instant, arrived: Instant) {
        if clock.before_kill(sent) {
            self.before_kill += 1;
            self.last_before_kill = Some(self.last_before_kill.map_or(arrived, |l| l.max(arrived)));
        }
    }

    /// When this client had come through the kill: connected again (if it lost its connection) and
    /// holding every key typed before the kill that it ever learned.
    fn settled(&self) -> Option<Instant> {
        [self.rejoined, self.last_before_kill].into_iter().flatten().max()
    }
}

impl Failover {
    /// Joins client `client`'s room on the next node that takes it, with the document `c` holds (see
    /// the module). Returns the new client and the clocks of `watch` the rejoin taught it. Nodes are
    /// tried in turn, from the one after the client's own, for at most [`REJOIN_TIMEOUT`].
    pub async fn rejoin(
        &self,
        c: YClient,
        client: usize,
        watch: ClientID,
        recovery: &mut Recovery,
    ) -> anyhow::Result<(YClient, Range<u32>)> {
        if recovery.rejoins >= MAX_REJOINS {
            bail!("lost its connection again after {MAX_REJOINS} rejoins");
        }
        let urls = self.urls.get(client).context("no URLs for this client")?;
        let before = c.doc().transact().state_vector().get(&watch);
        let dialect = c.dialect().clone();
        let doc = c.into_doc();
        let deadline = Instant::now() + REJOIN_TIMEOUT;
        let mut last = anyhow!("no node to rejoin");
        loop {
            for url in urls.iter().skip(1).chain(urls.first()) {
                match YClient::join_doc(url, &dialect, doc.clone()).await {
                    Ok((c, _)) => {
                        recovery.rejoins += 1;
                        recovery.rejoined = Some(Instant::now());
                        let after = c.doc().transact().state_vector().get(&watch);
                        return Ok((c, before..after));
                    }
                    Err(e) => last = e,
                }
            }
            if Instant::now() + REJOIN_PAUSE >= deadline {
                return Err(last.context(format!("no node took the client back within {REJOIN_TIMEOUT:?}")));
            }
            sleep(REJOIN_PAUSE).await;
        }
    }
}

/// Kills `plan.pid` with SIGKILL at `at`, after setting the kill instant on `clock`. Returns that instant.
pub async fn kill_at(plan: KillPlan, at: Instant, clock: Arc<KillClock>) -> anyhow::Result<Instant> {
    sleep_until(at).await;
    let pid = i32::try_from(plan.pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .with_context(|| format!("{} is not a process id", plan.pid))?;
    let now = Instant::now();
    let _ = clock.0.set(now);
    rustix::process::kill_process(pid, rustix::process::Signal::KILL)
        .with_context(|| format!("kill -9 {} (node {})", plan.pid, plan.node))?;
    Ok(now)
}

/// How the rooms came through the kill.
#[derive(Debug, Clone, Serialize)]
pub struct KillFigures {
    pub node: usize,
    pub pid: u32,
    /// Seconds from the first scheduled key to the kill.
    pub after_s: f64,
    /// Rooms with a client on the killed node.
    pub affected_rooms: u64,
    /// Clients that joined another node (each of the killed node's clients, once).
    pub rejoins: u64,
    /// Per affected room: from the kill until every client of the room was connected again and held
    /// every key typed before the kill.
    pub convergence: Percentiles,
    /// Affected rooms that never converged within the run: some client did not come back, or some
    /// watcher still lacked a key typed before the kill when the run ended.
    pub rooms_not_converged: u64,
    /// Keys typed before the kill, summed over the affected rooms' watchers.
    pub keys_before_kill: u64,
    /// Of those, keys a watcher never learned.
    pub lost_before_kill: u64,
}

impl KillFigures {
    /// The figures of `outcomes` (each room's global index and outcome) for a kill of node `plan.node`
    /// at `killed`; `node_of(room, client)` says where each client first joined.
    pub fn from_outcomes(
        plan: KillPlan,
        started: Instant,
        killed: Instant,
        outcomes: &[(usize, RoomOutcome)],
        node_of: impl Fn(usize, usize) -> usize,
    ) -> KillFigures {
        let mut f = KillFigures {
            node: plan.node,
            pid: plan.pid,
            after_s: killed.saturating_duration_since(started).as_secs_f64(),
            affected_rooms: 0,
            rejoins: 0,
            convergence: Latency::new().summary(),
            rooms_not_converged: 0,
            keys_before_kill: 0,
            lost_before_kill: 0,
        };
        let mut convergence = Latency::new();
        for (room, o) in outcomes {
            let clients = 1 + o.watchers.len();
            let recoveries =
                std::iter::once(&o.typist.recovery).chain(o.watchers.iter().map(|w| &w.recovery));
            f.rejoins += recoveries.clone().map(|r| u64::from(r.rejoins)).sum::<u64>();
            if !(0..clients).any(|c| node_of(*room, c) == plan.node) {
                continue;
            }
            f.affected_rooms += 1;
            let typed = o.typist.keys_before_kill;
            let mut missing = 0;
            for w in &o.watchers {
                f.keys_before_kill += typed;
                missing += typed.saturating_sub(w.recovery.before_kill);
            }
            f.lost_before_kill += missing;
            let lost_client = (0..clients).any(|c| {
                let r = if c == 0 { &o.typist.recovery } else { &o.watchers[c - 1].recovery };
                node_of(*room, c) == plan.node && r.rejoined.is_none()
            });
            // A room converged once every client is back and every watcher holds every key typed
            // before the kill: the last of those events is its convergence instant.
            if lost_client || missing > 0 {
                f.rooms_not_converged += 1;
                continue;
            }
            let settled = recoveries.filter_map(Recovery::settled).max().unwrap_or(killed);
            convergence.record(settled.saturating_duration_since(killed));
        }
        f.convergence = convergence.summary();
        f
    }

    pub fn ok(&self) -> bool {
        self.rooms_not_converged == 0 && self.lost_before_kill == 0
    }

    pub fn line(&self) -> String {
        let c = &self.convergence;
        format!(
            "node {} (pid {}) killed {:.1} s into typing: {} rooms affected, {} clients rejoined; convergence p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} rooms ({} never converged); keys typed before the kill {} (× watchers), lost {}",
            self.node,
            self.pid,
            self.after_s,
            self.affected_rooms,
            self.rejoins,
            c.p50_us as f64 / 1000.0,
            c.p99_us as f64 / 1000.0,
            c.max_us as f64 / 1000.0,
            c.count,
            self.rooms_not_converged,
            self.keys_before_kill,
            self.lost_before_kill
        )
    }
}
