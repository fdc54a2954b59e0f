//! `--nodes URL,URL,…`: the typing scenario over the nodes of a cluster. Rooms are minted through the
//! first node; each room's typist connects to node `room mod N` (so every node has typists) and its
//! watchers as `--layout` says (`placement.rs`): spread, watcher `k` (1, 2, …) on node `(room + k) mod N`,
//! so with N nodes and N − 1 watchers a key reaches one watcher on every other node; or affinity, every
//! client of the room on its typist's node. The report adds fan-out latency per (sender node → receiver node) pair,
//! across nodes and within one, each node's CPU per update delivered to its clients (from its `/metrics`),
//! the server-side fan-out histogram's mean, and with `--redis-url` the CPU and commands of Redis.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde::Serialize;
use tokio::time::Instant;

use crate::failover::{self, Failover, KillClock, KillFigures, KillPlan};
use crate::limits::{MAX_NODES, START_DELAY};
use crate::mint::Submission;
use crate::node_metrics::{NodeFigures, NodeSample};
use crate::placement::{Layout, on_node};
use crate::progress::Progress;
use crate::redis_info::{self, RedisFigures, RedisSample};
use crate::report::Report;
use crate::room::RoomOutcome;
use crate::stats::{Latency, Percentiles};
use crate::sysstat::CpuWindow;
use crate::target::{Kind, Room};
use crate::typing::{Shard, TypingConfig, type_rooms};

/// A typing run spread over nodes.
#[derive(Debug, Clone)]
pub struct NodesConfig {
    /// The run; its target is the first node.
    pub typing: TypingConfig,
    /// Every node's base URL (`http://host:port`), the first included. The same URL twice is allowed: a
    /// single node then plays both.
    pub nodes: Vec<String>,
    /// Redis of the cluster, to read its CPU and commands over the run.
    pub redis_url: Option<String>,
    /// Each node's process id on this machine, in the order of `nodes` (or none): its CPU time is then
    /// read from `/proc`, to the clock tick, instead of from `/metrics`, whose process collector counts
    /// whole seconds.
    pub node_pids: Vec<u32>,
    /// Kill this node (its index in `nodes`; its pid comes from `node_pids`) this long after the first
    /// scheduled key: its clients rejoin the others and the report times the convergence.
    pub kill: Option<(usize, Duration)>,
    /// Which node each client joins.
    pub layout: Layout,
}

/// Fan-out latency and deliveries by (sender node, receiver node).
#[derive(Debug, Default)]
pub struct PairTally {
    pub pairs: BTreeMap<(usize, usize), Latency>,
    /// Keys delivered to the clients of each node.
    pub delivered: Vec<u64>,
}

impl PairTally {
    /// Sorts each room's watchers' latencies by the nodes of its typist and of each watcher.
    pub fn from_outcomes(outcomes: &[(usize, RoomOutcome)], nodes: usize, layout: Layout) -> PairTally {
        let mut t = PairTally { pairs: BTreeMap::new(), delivered: vec![0; nodes] };
        for (room, outcome) in outcomes {
            let from = layout.node_of(*room, 0, nodes);
            for (k, w) in outcome.watchers.iter().enumerate() {
                let to = layout.node_of(*room, k + 1, nodes);
                t.pairs.entry((from, to)).or_default().merge(&w.fanout);
                t.delivered[to] += w.received;
            }
        }
        t
    }

    /// Every pair's latencies merged where `keep(from, to)`.
    pub fn merged(&self, keep: impl Fn(usize, usize) -> bool) -> Latency {
        let mut all = Latency::new();
        for (&(from, to), l) in &self.pairs {
            if keep(from, to) {
                all.merge(l);
            }
        }
        all
    }
}

/// Fan-out latency of one (sender node → receiver node) pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairFigures {
    pub from: usize,
    pub to: usize,
    pub fanout: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodesReport {
    pub nodes: Vec<String>,
    pub layout: Layout,
    /// The typing report of the whole run (its `server` is the first node).
    pub typing: Report,
    pub pairs: Vec<PairFigures>,
    /// Keys delivered to a watcher on another node than the typist's: the cluster's bus on the path.
    pub cross_node: Percentiles,
    /// Keys delivered to a watcher on the typist's node.
    pub same_node: Percentiles,
    /// Each node over the typing phase, from its `/metrics`; `None` where it could not be read.
    pub node_figures: Vec<Option<NodeFigures>>,
    pub redis: Option<RedisFigures>,
    /// How the rooms came through the kill of a node (`--kill-node-after`).
    pub kill: Option<KillFigures>,
}

impl NodesReport {
    pub fn ok(&self) -> bool {
        self.typing.ok() && self.kill.as_ref().is_none_or(KillFigures::ok)
    }

    pub fn table(&self) -> String {
        let mut s = self.typing.table();
        let _ = writeln!(s, "\nlayout {}; fan-out by sender node → receiver node:", self.layout.name());
        let names: Vec<String> = self.pairs.iter().map(|p| format!("node {} → {}", p.from, p.to)).collect();
        let mut rows: Vec<(&str, &Percentiles)> =
            names.iter().zip(&self.pairs).map(|(n, p)| (n.as_str(), &p.fanout)).collect();
        rows.push(("cross-node", &self.cross_node));
        rows.push(("same node", &self.same_node));
        crate::stats::write_latency_table(&mut s, &rows);
        for (i, (url, f)) in self.nodes.iter().zip(&self.node_figures).enumerate() {
            match f {
                Some(f) => {
                    let _ = writeln!(s, "node {i}             {url}: {}", f.line());
                }
                None => {
                    let _ = writeln!(s, "node {i}             {url}: /metrics not read");
                }
            }
        }
        if let Some(r) = &self.redis {
            let _ = writeln!(s, "{}", r.table());
        }
        if let Some(k) = &self.kill {
            let _ = writeln!(s, "kill               {}", k.line());
        }
        s
    }
}

/// Runs the typing scenario spread over `cfg.nodes`. `Err` when the run could not happen.
pub async fn run(cfg: &NodesConfig) -> anyhow::Result<NodesReport> {
    let typing = &cfg.typing;
    typing.validate()?;
    ensure!(typing.target.kind == Kind::Handoff, "--nodes needs a handoff target");
    ensure!((1..=MAX_NODES).contains(&cfg.nodes.len()), "--nodes must name 1..={MAX_NODES} nodes");
    if let Some(url) = &cfg.redis_url {
        redis_info::address(url)?;
    }
    ensure!(
        cfg.node_pids.is_empty() || cfg.node_pids.len() == cfg.nodes.len(),
        "--node-pids must give one pid per node ({} nodes, {} pids)",
        cfg.nodes.len(),
        cfg.node_pids.len()
    );
    let n = cfg.nodes.len();
    let layout = cfg.layout;
    let kill = match cfg.kill {
        Some((node, after)) => {
            ensure!(n >= 2 && node < n, "--kill-node must name one of 2 or more nodes (0..{n})");
            let pid = *cfg.node_pids.get(node).context("--kill-node-after needs --node-pids")?;
            ensure!(
                cfg.nodes.iter().filter(|u| **u == cfg.nodes[node]).count() == 1,
                "the node to kill must not be named twice in --nodes"
            );
            ensure!(after < typing.duration, "--kill-node-after must fall within --duration-s");
            Some(KillPlan { node, pid, after })
        }
        None => None,
    };
    let clock = Arc::new(KillClock::default());
    let wall = Instant::now();
    let progress = Progress::new(typing.quiet);
    let run_id = format!("{}", std::process::id());
    let minted = typing.target.open_rooms(typing.rooms, &Submission::typing(), &run_id).await?;
    let rooms = minted
        .iter()
        .enumerate()
        .map(|(r, room)| {
            // Client i's URL on every node, from its own on: where it goes if its node dies.
            let everywhere = (0..typing.clients_per_room)
                .map(|i| {
                    (0..n)
                        .map(|j| on_node(room.url(i), &cfg.nodes[(layout.node_of(r, i, n) + j) % n]))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let urls = everywhere.iter().map(|u| u[0].clone()).collect();
            let room = room.with_urls(urls);
            Ok(match kill {
                Some(_) => room.with_failover(Failover { urls: everywhere, clock: clock.clone() }),
                None => room,
            })
        })
        .collect::<anyhow::Result<Vec<Room>>>()?;

    let mut before = None;
    let snapshot = &mut before;
    let mut killer = None;
    let killing = &mut killer;
    let kill_clock = clock.clone();
    let typed = type_rooms(typing, Shard::WHOLE, &rooms, &progress, move || async move {
        // Everyone is synced: the nodes and Redis are read over the typing phase, which starts now.
        *snapshot = Some(Snapshot::take(cfg).await);
        let start = std::time::Instant::now() + START_DELAY;
        if let Some(plan) = kill {
            let at = Instant::from_std(start) + plan.after;
            *killing =
                Some((Instant::from_std(start), tokio::spawn(failover::kill_at(plan, at, kill_clock))));
        }
        Ok(start)
    })
    .await?;
    let kill_figures = match (kill, killer) {
        (Some(plan), Some((started, task))) => {
            let killed = task.await.context("the killer task")??;
            Some(KillFigures::from_outcomes(plan, started, killed, &typed.outcomes, |r, c| {
                layout.node_of(r, c, n)
            }))
        }
        _ => None,
    };
    let after = Snapshot::take(cfg).await;
    let pairs = PairTally::from_outcomes(&typed.outcomes, n, layout);
    let before = before.unwrap_or_default();
    let node_figures = (0..n)
        .map(|i| {
            let (b, a) = (before.nodes.get(i)?.as_ref()?, after.nodes.get(i)?.as_ref()?);
            let figures = NodeFigures::between(b, a, pairs.delivered[i]);
            let cpu = before.cpu.get(i).and_then(|w| w.as_ref()).and_then(|w| w.finish().ok());
            Some(match cpu {
                Some(cpu) => figures.with_proc_cpu(cpu.total()),
                None => figures,
            })
        })
        .collect();
    let redis = match (&before.redis, &after.redis) {
        (Some(b), Some(a)) => Some(RedisFigures::between(b, a)),
        _ => None,
    };
    let report = Report::from_tally(typing, typed.tally(), None, wall.elapsed());
    Ok(NodesReport {
        nodes: cfg.nodes.clone(),
        layout,
        typing: report,
        pairs: pairs
            .pairs
            .iter()
            .map(|(&(from, to), l)| PairFigures { from, to, fanout: l.summary() })
            .collect(),
        cross_node: pairs.merged(|from, to| from != to).summary(),
        same_node: pairs.merged(|from, to| from == to).summary(),
        node_figures,
        redis,
        kill: kill_figures,
    })
}

/// Every node's and Redis's counters at one moment; what could not be read is `None` (and said).
#[derive(Debug, Default)]
struct Snapshot {
    nodes: Vec<Option<NodeSample>>,
    redis: Option<RedisSample>,
    /// Each node's CPU time from `/proc`, from this snapshot on (with `node_pids`).
    cpu: Vec<Option<CpuWindow>>,
}

impl Snapshot {
    async fn take(cfg: &NodesConfig) -> Snapshot {
        let mut nodes = Vec::with_capacity(cfg.nodes.len());
        for url in &cfg.nodes {
            nodes.push(match NodeSample::take(url).await {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("handoff-load: node {url}: {e:#}");
                    None
                }
            });
        }
        let redis = match &cfg.redis_url {
            Some(url) => match redis_info::sample(url).await {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("handoff-load: redis: {e:#}");
                    None
                }
            },
            None => None,
        };
        let cpu = cfg
            .node_pids
            .iter()
            .map(|&pid| match CpuWindow::start(pid) {
                Ok(w) => Some(w),
                Err(e) => {
                    eprintln!("handoff-load: node pid {pid}: {e:#}");
                    None
                }
            })
            .collect();
        Snapshot { nodes, redis, cpu }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::room::{TypistOutcome, WatcherOutcome};

    fn watcher(us: &[u64]) -> WatcherOutcome {
        let mut fanout = Latency::new();
        for &u in us {
            fanout.record(Duration::from_micros(u));
        }
        WatcherOutcome {
            received: us.len() as u64,
            fanout,
            from_send: Latency::new(),
            awareness: 0,
            files: BTreeMap::new(),
            error: None,
            recovery: Default::default(),
        }
    }

    fn room(watchers: Vec<WatcherOutcome>) -> RoomOutcome {
        let typist = TypistOutcome {
            keys_sent: 0,
            keys_before_kill: 0,
            send_lag: Latency::new(),
            files: BTreeMap::new(),
            error: None,
            recovery: Default::default(),
        };
        RoomOutcome { typist, watchers }
    }

    #[test]
    fn latencies_are_sorted_by_sender_and_receiver_node() {
        // Two nodes, three clients per room: room 0 types on node 0 (watchers on 1 and 0), room 1 on
        // node 1 (watchers on 0 and 1).
        let outcomes = vec![
            (0, room(vec![watcher(&[1000, 3000]), watcher(&[100])])),
            (1, room(vec![watcher(&[2000]), watcher(&[200, 400])])),
        ];
        let t = PairTally::from_outcomes(&outcomes, 2, Layout::Spread);
        let counts: Vec<((usize, usize), u64)> = t.pairs.iter().map(|(&k, l)| (k, l.count())).collect();
        assert_eq!(counts, vec![((0, 0), 1), ((0, 1), 2), ((1, 0), 1), ((1, 1), 2)]);
        assert_eq!(t.delivered, vec![2, 4], "node 0's clients got 1 + 1 keys, node 1's 2 + 2");
        let cross = t.merged(|f, to| f != to).summary();
        assert_eq!(cross.count, 3);
        assert!((1995..=2005).contains(&cross.p50_us), "{cross:?}");
        assert_eq!(t.merged(|f, to| f == to).count(), 3);
    }

    #[test]
    fn a_room_left_out_counts_for_no_pair() {
        let t = PairTally::from_outcomes(&[(3, room(vec![watcher(&[10])]))], 4, Layout::Spread);
        assert_eq!(t.pairs.keys().copied().collect::<Vec<_>>(), vec![(3, 0)]);
        assert_eq!(t.delivered, vec![1, 0, 0, 0]);
    }
}
