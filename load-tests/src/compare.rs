//! `--compare`: the same scenario against handoff and each peer, one after another, each server
//! launched alone on the machine, then one table with the ratios (handoff ÷ peer, so below 1 means
//! handoff is cheaper or faster).

use std::fmt::Write as _;

use serde::Serialize;

use crate::target::Kind;

/// The figures a comparison lines up, from any scenario's report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub target: &'static str,
    /// Whether the run lost nothing, diverged nowhere and every client joined.
    pub ok: bool,
    pub lost: u64,
    pub join_failures: usize,
    /// The scenario's headline latency (fan-out for typing, first sync for join-storm, …), µs.
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub cpu_us_per_delivered_update: Option<f64>,
    pub rss_max_kib: Option<u64>,
    /// Why a target has no figures (it could not be launched or the run could not happen).
    pub error: Option<String>,
}

impl Row {
    /// A run's line: its headline latency and, when the server was watched, its CPU and memory.
    pub fn new(
        target: &'static str,
        ok: bool,
        lost: u64,
        join_failures: usize,
        latency: &crate::stats::Percentiles,
        server: Option<&crate::server_watch::ServerFigures>,
    ) -> Row {
        Row {
            target,
            ok,
            lost,
            join_failures,
            p50_us: latency.p50_us,
            p99_us: latency.p99_us,
            p999_us: latency.p999_us,
            cpu_us_per_delivered_update: server.map(|f| f.cpu_us_per_delivered_update),
            rss_max_kib: server.and_then(|f| f.rss.as_ref()).map(|r| r.max_kib),
            error: None,
        }
    }

    pub fn failed(kind: Kind, error: String) -> Row {
        Row {
            target: kind.name(),
            ok: false,
            lost: 0,
            join_failures: 0,
            p50_us: 0,
            p99_us: 0,
            p999_us: 0,
            cpu_us_per_delivered_update: None,
            rss_max_kib: None,
            error: Some(error),
        }
    }
}

/// What every scenario's report offers the front end.
pub trait Outcome: Serialize {
    /// The human-readable summary.
    fn table(&self) -> String;
    /// Nothing lost, nothing diverged, every client joined.
    fn ok(&self) -> bool;
    /// Its line in a comparison.
    fn row(&self) -> Row;
    /// What the row's latency is (for the comparison's heading).
    fn headline(&self) -> &'static str;
}

fn ratio(a: f64, b: f64) -> String {
    if a > 0.0 && b > 0.0 { format!("{:.2}×", a / b) } else { "–".to_owned() }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// The comparison table: one line per target, then handoff's ratios to each peer.
pub fn table(rows: &[Row], headline: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12} {:>6} {:>8} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "target", "ok", "lost", "p50 ms", "p99 ms", "p99.9 ms", "CPU µs/upd", "RSS max MiB"
    );
    for r in rows {
        if let Some(e) = &r.error {
            let _ = writeln!(s, "{:<12} failed: {e}", r.target);
            continue;
        }
        let cpu = r.cpu_us_per_delivered_update.map_or("–".into(), |c| format!("{c:.1}"));
        let rss = r.rss_max_kib.map_or("–".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        let _ = writeln!(
            s,
            "{:<12} {:>6} {:>8} {:>9} {:>9} {:>9} {:>10} {:>10}",
            r.target,
            if r.ok { "yes" } else { "NO" },
            r.lost,
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.p999_us),
            cpu,
            rss
        );
    }
    let Some(ours) = rows.iter().find(|r| r.target == Kind::Handoff.name() && r.error.is_none()) else {
        return s;
    };
    let _ = writeln!(s, "handoff ÷ peer ({headline}: below 1× means handoff is faster or cheaper)");
    for r in rows.iter().filter(|r| r.target != ours.target && r.error.is_none()) {
        let cpu = match (ours.cpu_us_per_delivered_update, r.cpu_us_per_delivered_update) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => "–".into(),
        };
        let _ = writeln!(
            s,
            "  vs {:<12} p50 {:>7}  p99 {:>7}  CPU per update {:>7}",
            r.target,
            ratio(ours.p50_us as f64, r.p50_us as f64),
            ratio(ours.p99_us as f64, r.p99_us as f64),
            cpu
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &'static str, p99_us: u64, cpu: f64) -> Row {
        Row {
            target,
            ok: true,
            lost: 0,
            join_failures: 0,
            p50_us: p99_us / 2,
            p99_us,
            p999_us: p99_us,
            cpu_us_per_delivered_update: Some(cpu),
            rss_max_kib: Some(2048),
            error: None,
        }
    }

    #[test]
    fn ratios_are_handoff_over_each_peer() {
        let rows = [
            row("handoff", 2000, 30.0),
            row("relay", 1000, 25.0),
            row("y-websocket", 8000, 75.0),
            Row::failed(Kind::Hocuspocus, "not ready".into()),
        ];
        let t = table(&rows, "fan-out");
        assert!(t.contains("vs relay        p50   2.00×  p99   2.00×  CPU per update   1.20×"), "{t}");
        assert!(t.contains("vs y-websocket  p50   0.25×  p99   0.25×  CPU per update   0.40×"), "{t}");
        assert!(t.contains("hocuspocus   failed: not ready"), "{t}");
        assert!(!t.contains("vs hocuspocus"), "{t}");
    }
}
