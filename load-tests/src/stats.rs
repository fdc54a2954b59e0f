//! Latency histograms (microsecond resolution), their summary, and their lossless wire form (so
//! histograms recorded in several processes can be merged into one).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

use crate::limits::{HIST_MAX_US, HIST_SIGFIG};

/// A latency histogram in microseconds. In JSON it is its hdrhistogram V2 encoding as a hex string:
/// every count is kept, so a histogram read back merges exactly like the original.
#[derive(Clone, PartialEq)]
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

    /// How many recorded latencies exceed `threshold`, to the histogram's precision ([`HIST_SIGFIG`]
    /// significant digits).
    pub fn count_above(&self, threshold: Duration) -> u64 {
        let us = u64::try_from(threshold.as_micros()).unwrap_or(u64::MAX);
        if us >= HIST_MAX_US {
            return 0;
        }
        // count_between counts whole buckets; start from the first bucket entirely above the threshold.
        let low = self.0.next_non_equivalent(us);
        self.0.count_between(low, HIST_MAX_US)
    }

    /// The histogram in hdrhistogram's V2 encoding (uncompressed), every count included.
    pub fn to_v2_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(&self.0, &mut bytes).context("encoding a latency histogram")?;
        Ok(bytes)
    }

    /// Reads back [`Latency::to_v2_bytes`]. Fails on bytes that are not a V2 histogram or hold values
    /// beyond this tool's bounds ([`HIST_MAX_US`]), so whatever it returns merges with any other.
    pub fn from_v2_bytes(bytes: &[u8]) -> anyhow::Result<Latency> {
        let read: Histogram<u64> =
            Deserializer::new().deserialize(&mut &bytes[..]).context("decoding a latency histogram")?;
        let mut latency = Latency::new();
        latency.0.add(&read).context("a latency histogram beyond the tool's bounds")?;
        Ok(latency)
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

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Latency").field(&self.summary()).finish()
    }
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_v2_bytes().map_err(|e| serde::ser::Error::custom(format!("{e:#}")))?;
        serializer.serialize_str(&to_hex(&bytes))
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Latency, D::Error> {
        let hex = String::deserialize(deserializer)?;
        from_hex(&hex)
            .and_then(|bytes| Latency::from_v2_bytes(&bytes))
            .map_err(|e| serde::de::Error::custom(format!("{e:#}")))
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn from_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        bail!("a histogram must be an even number of hex digits");
    }
    // Every byte is an ASCII hex digit, so every two-byte slice is on a char boundary.
    (0..s.len()).step_by(2).map(|i| Ok(u8::from_str_radix(&s[i..i + 2], 16)?)).collect()
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

/// Appends the latency table every report prints: a header, then one line per named histogram.
pub fn write_latency_table(out: &mut String, rows: &[(&str, &Percentiles)]) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "{:<18} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency (µs)", "count", "p50", "p90", "p99", "p99.9", "max", "mean"
    );
    for (name, p) in rows {
        let _ = writeln!(
            out,
            "{name:<18} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            p.count, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us, p.mean_us
        );
    }
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
    fn latencies_above_a_threshold_are_counted_to_the_histograms_precision() {
        let h = spread(1, 1, 1000); // 1 µs to 1000 µs, one each
        assert_eq!(h.count_above(Duration::from_micros(900)), 100);
        assert_eq!(h.count_above(Duration::from_micros(1000)), 0);
        assert_eq!(h.count_above(Duration::ZERO), 1000);
        assert_eq!(Latency::new().count_above(Duration::ZERO), 0);
        // A clamped value sits at the bound, which no threshold at or past it exceeds.
        let mut huge = Latency::new();
        huge.record(Duration::from_secs(10_000));
        assert_eq!(huge.count_above(Duration::from_secs(1)), 1);
        assert_eq!(huge.count_above(Duration::from_micros(HIST_MAX_US)), 0);
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

    fn spread(from_us: u64, step_us: u64, n: u64) -> Latency {
        let mut h = Latency::new();
        for i in 0..n {
            h.record(Duration::from_micros(from_us + i * step_us));
        }
        h
    }

    #[test]
    fn the_wire_form_keeps_every_count() {
        for h in [Latency::new(), spread(1, 1, 1), spread(40, 37, 5_000), spread(HIST_MAX_US - 10, 1, 3)] {
            let json = serde_json::to_string(&h).unwrap();
            let back: Latency = serde_json::from_str(&json).unwrap();
            assert!(back == h, "{h:?} came back as {back:?}");
            assert_eq!(back.summary(), h.summary());
            assert_eq!(Latency::from_v2_bytes(&h.to_v2_bytes().unwrap()).unwrap(), h);
        }
    }

    #[test]
    fn histograms_merged_after_the_wire_equal_one_recorded_in_one_place() {
        let (a, b) = (spread(100, 3, 700), spread(5_000, 11, 300));
        let mut together = a.clone();
        together.merge(&b);
        let mut merged: Latency = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        merged.merge(&serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap());
        assert_eq!(merged, together);
        assert_eq!(merged.count(), 1_000);
        assert_eq!(merged.summary(), together.summary());
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["\"\"", "\"0\"", "\"zz\"", "\"1c849303deadbeef\"", "[1,2]", "12"] {
            assert!(serde_json::from_str::<Latency>(bad).is_err(), "{bad} was accepted");
        }
        // A histogram with wider bounds than the tool's, holding a value beyond them.
        let mut wide = Histogram::<u64>::new_with_bounds(1, HIST_MAX_US * 10, HIST_SIGFIG).unwrap();
        wide.record(HIST_MAX_US * 5).unwrap();
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(&wide, &mut bytes).unwrap();
        assert!(Latency::from_v2_bytes(&bytes).is_err());
    }
}
