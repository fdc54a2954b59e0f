//! The server process seen from outside while a phase runs: CPU time it burned and how its resident
//! memory moved. Works for any server on this machine (handoff, the relay, the Node peers), so the
//! comparison uses one ruler.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::limits::DEFAULT_RSS_SAMPLE_INTERVAL;
use crate::sysstat::{CpuWindow, RssSampler, RssTrend, per_unit_us};

/// Watching one process; see [`ServerWatch::start`].
pub struct ServerWatch {
    pid: u32,
    cpu: CpuWindow,
    rss: RssSampler,
    started: Instant,
}

/// What the server process did over a phase.
#[derive(Debug, Clone, Serialize)]
pub struct ServerFigures {
    pub pid: u32,
    /// CPU time (user + system) the server used over the phase.
    pub cpu_s: f64,
    /// The part of `cpu_s` in the server's own code, and the part in the kernel on its behalf.
    pub user_s: f64,
    pub system_s: f64,
    pub wall_s: f64,
    /// Updates delivered to clients over the phase (filled in by the scenario).
    pub delivered_updates: u64,
    /// cpu_s / delivered_updates, in µs: the cost of one delivery, everything included (the cursor
    /// updates that travel with each key, sync, keepalives, storage).
    pub cpu_us_per_delivered_update: f64,
    pub rss: Option<RssTrend>,
}

impl ServerWatch {
    /// Starts watching `pid`; `None` when no pid was given or its `/proc` entry cannot be read (the
    /// reason is printed: the run goes on without server figures).
    pub fn start(pid: Option<u32>) -> Option<ServerWatch> {
        let pid = pid?;
        let started = Instant::now();
        match (CpuWindow::start(pid), RssSampler::start(pid, DEFAULT_RSS_SAMPLE_INTERVAL)) {
            (Ok(cpu), Ok(rss)) => Some(ServerWatch { pid, cpu, rss, started }),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("handoff-load: not watching server pid {pid}: {e:#}");
                None
            }
        }
    }

    pub async fn finish(self) -> Option<ServerFigures> {
        let cpu = match self.cpu.finish() {
            Ok(cpu) => cpu,
            Err(e) => {
                eprintln!("handoff-load: server pid {}: {e:#}", self.pid);
                return None;
            }
        };
        let rss = self.rss.stop().await.ok();
        Some(ServerFigures {
            pid: self.pid,
            cpu_s: cpu.total().as_secs_f64(),
            user_s: cpu.user.as_secs_f64(),
            system_s: cpu.system.as_secs_f64(),
            wall_s: self.started.elapsed().as_secs_f64(),
            delivered_updates: 0,
            cpu_us_per_delivered_update: 0.0,
            rss,
        })
    }
}

impl ServerFigures {
    /// The figures with the delivery count the scenario measured.
    pub fn with_deliveries(mut self, delivered: u64) -> ServerFigures {
        self.delivered_updates = delivered;
        self.cpu_us_per_delivered_update = per_unit_us(Duration::from_secs_f64(self.cpu_s), delivered);
        self
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "server CPU         {:.2} s (user {:.2}, system {:.2}) over {:.1} s ({:.0} % of a core), {:.1} µs per delivered update",
            self.cpu_s,
            self.user_s,
            self.system_s,
            self.wall_s,
            100.0 * self.cpu_s / self.wall_s.max(f64::MIN_POSITIVE),
            self.cpu_us_per_delivered_update
        );
        if let Some(r) = &self.rss {
            let _ = write!(
                s,
                "\nserver RSS         {} → {} KiB (max {}), {:+.0} KiB/min",
                r.first_kib, r.last_kib, r.max_kib, r.slope_kib_per_min
            );
        }
        s
    }
}
