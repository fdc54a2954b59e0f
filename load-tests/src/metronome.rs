//! The typists' clock: one thread that wakes at each key's scheduled instant and tells that room's
//! typist to type key `k`. tokio's timer wheel has a 1 ms tick, so a typist sleeping on it sends up to a
//! millisecond late, and that lateness would sit inside every fan-out figure (measured from the scheduled
//! instant, as it must be). A thread sleeping on the OS clock wakes within the kernel's timer slack
//! (~50 µs) instead, and hands the key over through a channel that wakes the task at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// The timetable of one typist: key `k` is due at `first + k × interval`.
#[derive(Debug, Clone, Copy)]
pub struct Timetable {
    pub first: Instant,
    pub interval: Duration,
    pub keys: u64,
}

impl Timetable {
    pub fn due(&self, k: u64) -> Instant {
        let nanos = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX).saturating_mul(k);
        self.first + Duration::from_nanos(nanos)
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
            Timetable { first, interval: Duration::from_millis(3), keys: 4 },
            Timetable {
                first: first + Duration::from_millis(1),
                interval: Duration::from_millis(2),
                keys: 3,
            },
            Timetable { first, interval: Duration::from_millis(1), keys: 0 },
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
}
