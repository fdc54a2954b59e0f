//! One handoff node seen through its `/metrics` over a run: the CPU its process used
//! (`process_cpu_seconds_total`, in whole seconds; `/proc` replaces it when the node's pid is known) per
//! update delivered to its clients, and its server-side fan-out
//! histogram (`handoff_fanout_seconds`: from the room taking an update to its write into each member's
//! socket), and in cluster mode its bus hop (`handoff_bus_hop_seconds`: from another node accepting an
//! update to this node reading it from the bus). Works for a node on another machine, where `/proc`
//! cannot be read.

use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::limits::HTTP_TIMEOUT;

/// One reading of a node's counters.
#[derive(Debug, Clone)]
pub struct NodeSample {
    pub cpu_s: f64,
    pub fanout: HistogramSample,
    pub bus_hop: HistogramSample,
    pub at: Instant,
}

/// One reading of a histogram.
#[derive(Debug, Clone, Default)]
pub struct HistogramSample {
    pub sum_s: f64,
    pub count: f64,
    /// (upper bound in seconds, cumulative count), in page order (ascending, `+Inf` last).
    pub buckets: Vec<(f64, f64)>,
}

/// What one node did between two samples.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct NodeFigures {
    pub cpu_s: f64,
    /// Where `cpu_s` comes from: `metrics` (`process_cpu_seconds_total`, whole seconds: the Prometheus
    /// process collector counts no finer) or `proc` (`/proc/<pid>/stat`, to the clock tick).
    pub cpu_from: &'static str,
    pub wall_s: f64,
    /// Keys the run's watchers connected to this node received.
    pub delivered_updates: u64,
    /// `cpu_s / delivered_updates` in µs (0 when nothing was delivered).
    pub cpu_us_per_delivered_update: f64,
    /// Writes the server-side fan-out histogram counted (every accepted update once per other member).
    pub server_fanout_writes: u64,
    /// Their mean latency in µs (0 when none).
    pub server_fanout_mean_us: f64,
    /// The upper bound (µs) of the histogram bucket holding the median write, and of the one holding the
    /// 99th percentile: at most that long. `None` when no write was counted or the bucket is `+Inf`.
    pub server_fanout_p50_le_us: Option<f64>,
    pub server_fanout_p99_le_us: Option<f64>,
    /// Updates this node read from the bus that another node accepted, and their hop (mean, and the
    /// bounds of the buckets holding the median and the 99th percentile, µs; millisecond stamps).
    pub bus_hop_updates: u64,
    pub bus_hop_mean_us: f64,
    pub bus_hop_p50_le_us: Option<f64>,
    pub bus_hop_p99_le_us: Option<f64>,
}

impl NodeSample {
    /// Reads `base`'s `/metrics`.
    pub async fn take(base: &str) -> anyhow::Result<NodeSample> {
        let url = format!("{}/metrics", base.trim_end_matches('/'));
        let http = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().context("http client")?;
        let resp = http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        anyhow::ensure!(status.is_success(), "GET {url}: HTTP {status}");
        let page = resp.text().await.with_context(|| format!("GET {url}"))?;
        let at = Instant::now();
        NodeSample::parse(&page, at)
    }

    /// The counters of a Prometheus text page; a histogram counts 0 on a node without it.
    pub fn parse(page: &str, at: Instant) -> anyhow::Result<NodeSample> {
        Ok(NodeSample {
            cpu_s: metric(page, "process_cpu_seconds_total")
                .context("/metrics has no process_cpu_seconds_total (not on Linux?)")?,
            fanout: HistogramSample::parse(page, "handoff_fanout_seconds"),
            bus_hop: HistogramSample::parse(page, "handoff_bus_hop_seconds"),
            at,
        })
    }
}

impl HistogramSample {
    fn parse(page: &str, name: &str) -> HistogramSample {
        HistogramSample {
            sum_s: metric(page, &format!("{name}_sum")).unwrap_or(0.0),
            count: metric(page, &format!("{name}_count")).unwrap_or(0.0),
            buckets: buckets(page, &format!("{name}_bucket")),
        }
    }

    /// Observations since `before`, their mean (µs), and the bucket bounds of the median and the
    /// 99th percentile.
    fn since(&self, before: &HistogramSample) -> (u64, f64, Option<f64>, Option<f64>) {
        let count = (self.count - before.count).max(0.0);
        let sum = (self.sum_s - before.sum_s).max(0.0);
        (
            count as u64,
            if count > 0.0 { sum * 1e6 / count } else { 0.0 },
            bucket_quantile_us(&before.buckets, &self.buckets, 0.5),
            bucket_quantile_us(&before.buckets, &self.buckets, 0.99),
        )
    }
}

/// The value of the unlabelled sample `name` on a Prometheus text page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The `(le, count)` pairs of the histogram buckets `name` on a Prometheus text page.
fn buckets(page: &str, name: &str) -> Vec<(f64, f64)> {
    page.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix("{le=\"")?;
            let (le, rest) = rest.split_once('"')?;
            let count = rest.strip_prefix('}')?.trim().parse().ok()?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, count))
        })
        .collect()
}

/// The upper bound (µs) of the bucket holding quantile `q` of the observations between two readings
/// of one histogram's buckets; `None` without observations or past the last finite bound.
fn bucket_quantile_us(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let count_before = |le: f64| before.iter().find(|(b, _)| *b == le).map_or(0.0, |(_, c)| *c);
    let diffs: Vec<(f64, f64)> = after.iter().map(|&(le, c)| (le, (c - count_before(le)).max(0.0))).collect();
    let total = diffs.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let (le, _) = diffs.into_iter().find(|&(_, c)| c >= q * total)?;
    le.is_finite().then_some(le * 1e6)
}

impl NodeFigures {
    pub fn between(before: &NodeSample, after: &NodeSample, delivered: u64) -> NodeFigures {
        let cpu_s = (after.cpu_s - before.cpu_s).max(0.0);
        let (writes, fanout_mean, fanout_p50, fanout_p99) = after.fanout.since(&before.fanout);
        let (hops, hop_mean, hop_p50, hop_p99) = after.bus_hop.since(&before.bus_hop);
        NodeFigures {
            cpu_s,
            cpu_from: "metrics",
            wall_s: after.at.saturating_duration_since(before.at).as_secs_f64(),
            delivered_updates: delivered,
            cpu_us_per_delivered_update: crate::sysstat::per_unit_us(
                std::time::Duration::from_secs_f64(cpu_s),
                delivered,
            ),
            server_fanout_writes: writes,
            server_fanout_mean_us: fanout_mean,
            server_fanout_p50_le_us: fanout_p50,
            server_fanout_p99_le_us: fanout_p99,
            bus_hop_updates: hops,
            bus_hop_mean_us: hop_mean,
            bus_hop_p50_le_us: hop_p50,
            bus_hop_p99_le_us: hop_p99,
        }
    }

    /// These figures with the node's CPU time read from `/proc` instead.
    pub fn with_proc_cpu(self, cpu: std::time::Duration) -> NodeFigures {
        NodeFigures {
            cpu_s: cpu.as_secs_f64(),
            cpu_from: "proc",
            cpu_us_per_delivered_update: crate::sysstat::per_unit_us(cpu, self.delivered_updates),
            ..self
        }
    }

    /// The node's line of the report.
    pub fn line(&self) -> String {
        let hop = if self.bus_hop_updates == 0 {
            String::new()
        } else {
            format!(
                "; bus hop {:.0} µs mean, p50 ≤ {}, p99 ≤ {} over {} updates",
                self.bus_hop_mean_us,
                bound(self.bus_hop_p50_le_us),
                bound(self.bus_hop_p99_le_us),
                self.bus_hop_updates
            )
        };
        format!(
            "CPU {:.2} s ({}) over {:.1} s, {:.1} µs per delivered update ({} delivered); server-side fan-out {:.0} µs mean, p50 ≤ {}, p99 ≤ {} over {} writes{hop}",
            self.cpu_s,
            self.cpu_from,
            self.wall_s,
            self.cpu_us_per_delivered_update,
            self.delivered_updates,
            self.server_fanout_mean_us,
            bound(self.server_fanout_p50_le_us),
            bound(self.server_fanout_p99_le_us),
            self.server_fanout_writes
        )
    }
}

/// A bucket bound for the report line.
fn bound(us: Option<f64>) -> String {
    us.map_or_else(|| "?".to_owned(), |us| format!("{us:.0} µs"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_node_s_cpu_per_delivery_and_server_side_fan_out() {
        let t0 = Instant::now();
        let page = |cpu: &str, sum: &str, count: &str| {
            format!(
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}\n\
                 handoff_fanout_seconds_bucket{{le=\"0.00005\"}} 1\nhandoff_fanout_seconds_sum {sum}\n\
                 handoff_fanout_seconds_count {count}\n"
            )
        };
        let before = NodeSample::parse(&page("1.5", "0.001", "10"), t0).unwrap();
        let after = NodeSample::parse(&page("3.5", "0.041", "110"), t0 + Duration::from_secs(10)).unwrap();
        let f = NodeFigures::between(&before, &after, 1000);
        assert_eq!((f.delivered_updates, f.server_fanout_writes), (1000, 100));
        assert!((f.cpu_us_per_delivered_update - 2000.0).abs() < 1e-6, "{f:?}");
        assert!((f.server_fanout_mean_us - 400.0).abs() < 1e-6, "{f:?}");
        assert!((f.wall_s - 10.0).abs() < 1e-9);
        let precise = f.with_proc_cpu(Duration::from_millis(1500));
        assert_eq!(precise.cpu_from, "proc");
        assert!((precise.cpu_us_per_delivered_update - 1500.0).abs() < 1e-6, "{precise:?}");

        assert_eq!(
            (f.server_fanout_p50_le_us, f.server_fanout_p99_le_us),
            (None, None),
            "its one bucket counted none of the writes"
        );

        let hist = |b: [u32; 3]| {
            format!(
                "process_cpu_seconds_total 1\nhandoff_fanout_seconds_bucket{{le=\"0.0001\"}} {}\n\
                 handoff_fanout_seconds_bucket{{le=\"0.01\"}} {}\nhandoff_fanout_seconds_bucket{{le=\"+Inf\"}} {}\n",
                b[0], b[1], b[2]
            )
        };
        let before = NodeSample::parse(&hist([10, 10, 10]), t0).unwrap();
        let after = NodeSample::parse(&hist([60, 109, 110]), t0).unwrap();
        let f = NodeFigures::between(&before, &after, 100);
        assert_eq!(f.server_fanout_p50_le_us, Some(100.0), "50 of 100 new writes within 100 µs");
        assert_eq!(f.server_fanout_p99_le_us, Some(10_000.0), "99 of 100 within 10 ms");
        let slow = NodeSample::parse(&hist([60, 100, 110]), t0).unwrap();
        assert_eq!(NodeFigures::between(&before, &slow, 100).server_fanout_p99_le_us, None, "past 10 ms");

        let hop = |count: u32, sum: &str| {
            format!(
                "process_cpu_seconds_total 1\nhandoff_bus_hop_seconds_bucket{{le=\"0.001\"}} {count}\n\
                 handoff_bus_hop_seconds_bucket{{le=\"+Inf\"}} {count}\nhandoff_bus_hop_seconds_sum {sum}\n\
                 handoff_bus_hop_seconds_count {count}\n"
            )
        };
        let f = NodeFigures::between(
            &NodeSample::parse(&hop(0, "0"), t0).unwrap(),
            &NodeSample::parse(&hop(4, "0.002"), t0).unwrap(),
            4,
        );
        assert_eq!((f.bus_hop_updates, f.bus_hop_p99_le_us), (4, Some(1000.0)));
        assert!((f.bus_hop_mean_us - 500.0).abs() < 1e-6, "{f:?}");
        assert_eq!(f.server_fanout_writes, 0, "the two histograms are read apart");

        let old = NodeSample::parse("process_cpu_seconds_total 2\n", t0).unwrap();
        assert_eq!(old.fanout.count, 0.0, "a node without the histogram counts none");
        assert_eq!(NodeFigures::between(&old, &old, 0).bus_hop_updates, 0);
        assert!(NodeSample::parse("handoff_connections 3\n", t0).is_err());
    }
}
