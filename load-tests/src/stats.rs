//! Latency histograms (microsecond resolution) and their summary.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::limits::{HIST_MAX_US, HIST_SIGFIG};

/// A latency histogram in microseconds.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        Latency(Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG).expect("valid histogram bounds"))
    }

    /// Records one latency; values above [`HIST_MAX_US`] are clamped to it.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, HIST_MAX_US);
        self.0.saturating_record(us);
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        self.0.add(&other.0).expect("histograms with equal bounds");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn summary(&self) -> Percentiles {
        let h = &self.0;
        let q = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        Percentiles {
            count: h.len(),
            mean_us: if h.is_empty() { 0 } else { h.mean().round() as u64 },
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if h.is_empty() { 0 } else { h.max() },
        }
    }
}

/// Percentiles of a latency histogram, in microseconds (0 when empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Latency::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        // hdrhistogram keeps 3 significant digits: values are exact to within 0.1 %.
        assert!((499..=501).contains(&s.p50_us), "{s:?}");
        assert!((989..=991).contains(&s.p99_us), "{s:?}");
        assert_eq!(s.max_us, 1000);
    }

    #[test]
    fn empty_is_all_zero_and_huge_values_are_clamped() {
        assert_eq!(Latency::new().summary(), Percentiles::default());
        let mut h = Latency::new();
        h.record(Duration::from_secs(1_000_000));
        let mut total = Latency::new();
        total.merge(&h);
        assert_eq!(total.count(), 1);
        assert!(total.summary().max_us >= HIST_MAX_US);
    }
}
