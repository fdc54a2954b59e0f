//! The typists' clock: one thread that wakes at each key's scheduled instant and tells that room's
//! typist to type key `k`. tokio's timer wheel has a 1 ms tick, so a typist sleeping on it sends up to a
//! millisecond late, and that lateness would sit inside every fan-out figure (measured from the scheduled
//! instant, as it must be). A thread sleeping on the OS clock wakes within the kernel's timer slack
//! (~50 µs) instead, and hands the key over through a channel that wakes the task at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// Keys per word in the words rhythm, a repeating cycle averaging 5 (an English word and its space).
pub const WORD_LENGTHS: [u64; 5] = [3, 7, 4, 6, 5];
/// Keys in one cycle of [`WORD_LENGTHS`].
pub const WORD_CYCLE_KEYS: u64 = {
    let (mut keys, mut i) = (0, 0);
    while i < WORD_LENGTHS.len() {
        keys += WORD_LENGTHS[i];
        i += 1;
    }
    keys
};
/// Within a word, keys come this many times as fast as the mean rate; the pause after the word takes up
/// the rest of its share of time (at 5 keys/s: 100 ms between a word's keys, 400–800 ms after it).
pub const WORD_SPEEDUP: u32 = 2;

/// How a typist spaces its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rhythm {
    /// Every key one mean interval after the last.
    Steady,
    /// Bursts: each word's keys at [`WORD_SPEEDUP`] times the mean rate, then a pause. Word `w` starts
    /// when it would in the steady rhythm, so the mean rate and the run's length are the steady ones.
    Words,
}

impl Rhythm {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rhythm::Steady => "steady",
            Rhythm::Words => "words",
        }
    }
}

/// The timetable of one typist: when key `k` is due. Steady: `first + k × interval`.
#[derive(Debug, Clone, Copy)]
pub struct Timetable {
    pub first: Instant,
    /// The mean interval between keys.
    pub interval: Duration,
    pub keys: u64,
    pub rhythm: Rhythm,
    /// Where in the cycle of word lengths this typist starts, so rooms' words do not line up.
    pub word_offset: u64,
}

impl Timetable {
    pub fn due(&self, k: u64) -> Instant {
        match self.rhythm {
            Rhythm::Steady => self.first + self.steady_offset(k),
            Rhythm::Words => {
                let origin = self.words_offset(self.word_offset);
                self.first + (self.words_offset(self.word_offset + k) - origin)
            }
        }
    }

    fn steady_offset(&self, k: u64) -> Duration {
        let nanos = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX).saturating_mul(k);
        Duration::from_nanos(nanos)
    }

    /// When key `k` of an endless words rhythm starting at the top of a cycle is due.
    fn words_offset(&self, k: u64) -> Duration {
        let (cycle, mut rest) = (k / WORD_CYCLE_KEYS, k % WORD_CYCLE_KEYS);
        let mut word_start = cycle * WORD_CYCLE_KEYS;
        for len in WORD_LENGTHS {
            if rest < len {
                break;
            }
            rest -= len;
            word_start += len;
        }
        self.steady_offset(word_start)
            + self.interval * u32::try_from(rest).unwrap_or(u32::MAX) / WORD_SPEEDUP
    }
}

/// Starts the clock thread for these timetables; receiver `i` yields the key numbers of timetable `i`
/// at their instants, and closes after the last. A dropped receiver stops that timetable only.
pub fn start(tables: Vec<Timetable>) -> std::io::Result<Vec<mpsc::UnboundedReceiver<u64>>> {
    let (senders, receivers): (Vec<_>, Vec<_>) = tables.iter().map(|_| mpsc::unbounded_channel()).unzip();
    std::thread::Builder::new()
        .name("handoff-load-metronome".into())
        .spawn(move || tick(&tables, senders))?;
    Ok(receivers)
}

fn tick(tables: &[Timetable], senders: Vec<mpsc::UnboundedSender<u64>>) {
    let mut next: BinaryHeap<Reverse<(Instant, usize, u64)>> = tables
        .iter()
        .enumerate()
        .filter(|(_, t)| t.keys > 0)
        .map(|(i, t)| Reverse((t.first, i, 0)))
        .collect();
    while let Some(Reverse((due, i, k))) = next.pop() {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if senders[i].send(k).is_ok() && k + 1 < tables[i].keys {
            next.push(Reverse((tables[i].due(k + 1), i, k + 1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_key_comes_in_order_and_never_early() {
        let first = Instant::now() + Duration::from_millis(5);
        let tables = vec![
            Timetable {
                first,
                interval: Duration::from_millis(3),
                keys: 4,
                rhythm: Rhythm::Steady,
                word_offset: 0,
            },
            Timetable {
                first: first + Duration::from_millis(1),
                interval: Duration::from_millis(2),
                keys: 9,
                rhythm: Rhythm::Words,
                word_offset: 2,
            },
            Timetable {
                first,
                interval: Duration::from_millis(1),
                keys: 0,
                rhythm: Rhythm::Steady,
                word_offset: 0,
            },
        ];
        let mut rx = start(tables.clone()).unwrap();
        for (i, t) in tables.iter().enumerate() {
            let mut got = Vec::new();
            while let Some(k) = rx[i].recv().await {
                assert!(Instant::now() >= t.due(k), "key {k} of table {i} came early");
                got.push(k);
            }
            assert_eq!(got, (0..t.keys).collect::<Vec<_>>());
        }
    }

    fn words(word_offset: u64) -> Timetable {
        let first = Instant::now();
        Timetable {
            first,
            interval: Duration::from_millis(200),
            keys: 100,
            rhythm: Rhythm::Words,
            word_offset,
        }
    }

    fn ms(t: &Timetable, k: u64) -> u128 {
        (t.due(k) - t.first).as_millis()
    }

    #[test]
    fn words_come_in_bursts_and_keep_the_mean_rate() {
        assert_eq!(WORD_CYCLE_KEYS, 25);
        let t = words(0);
        // A 3-key word at twice the rate, a pause, then the 7-key word from where the steady rhythm starts it.
        let first_words: Vec<u128> = (0..11).map(|k| ms(&t, k)).collect();
        assert_eq!(first_words, [0, 100, 200, 600, 700, 800, 900, 1000, 1100, 1200, 2000]);
        for cycle in 0..4 {
            assert_eq!(ms(&t, cycle * WORD_CYCLE_KEYS), u128::from(cycle) * 5_000, "cycle {cycle}");
        }
        // Another offset starts mid-cycle: its first key now, its next after the rest of that word's pause.
        let shifted = words(2);
        assert_eq!((ms(&shifted, 0), ms(&shifted, 1), ms(&shifted, 2)), (0, 400, 500));
        for offset in 0..WORD_CYCLE_KEYS {
            let t = words(offset);
            for k in 0..200 {
                assert!(t.due(k + 1) > t.due(k), "offset {offset}: key {} not after key {k}", k + 1);
            }
            // Never more than one cycle ahead of or behind the steady rhythm.
            let steady = Timetable { rhythm: Rhythm::Steady, ..t };
            let drift = (t.due(200) - t.first).abs_diff(steady.due(200) - steady.first);
            assert!(drift <= t.interval * WORD_CYCLE_KEYS as u32, "offset {offset}: drift {drift:?}");
        }
    }
}
