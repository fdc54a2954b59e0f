//! How the accept loop behaves when accepting fails or connections are refused: it pauses, longer with
//! every consecutive failure, and it logs a streak of like events once per period with their count
//! instead of a line each (out of file descriptors, a failing accept would otherwise spin and log without
//! end).

use std::time::Duration;

use handoff_protocol::limits::{ACCEPT_BACKOFF_MAX_MS, ACCEPT_BACKOFF_MIN_MS};
use tokio::time::Instant;

/// The pause after each consecutive accept error: doubling from the least to the longest.
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff { next: Duration::from_millis(ACCEPT_BACKOFF_MIN_MS) }
    }

    /// An accept failed: how long to pause before the next one.
    pub(super) fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Duration::from_millis(ACCEPT_BACKOFF_MAX_MS));
        pause
    }

    /// An accept succeeded: the next failure starts a new streak.
    pub(super) fn succeeded(&mut self) {
        self.next = Duration::from_millis(ACCEPT_BACKOFF_MIN_MS);
    }
}

/// Lets one log line through per period; counts the events in between.
pub(super) struct Throttle {
    period: Duration,
    last: Option<Instant>,
    unlogged: u64,
}

impl Throttle {
    pub(super) fn new(period: Duration) -> Throttle {
        Throttle { period, last: None, unlogged: 0 }
    }

    /// An event at `now`: `Some(events not logged since the last line)` if this one is to be logged.
    pub(super) fn event(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.period => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_longest_and_start_over_after_a_success() {
        let mut backoff = Backoff::new();
        let pauses: Vec<u64> = (0..9).map(|_| backoff.failed().as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(pauses[0], ACCEPT_BACKOFF_MIN_MS);
        assert_eq!(pauses[8], ACCEPT_BACKOFF_MAX_MS);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(ACCEPT_BACKOFF_MIN_MS));
    }

    #[test]
    fn a_streak_is_logged_once_per_period_with_the_count_in_between() {
        let mut throttle = Throttle::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(throttle.event(start), Some(0), "the first is logged at once");
        // An error every second for a minute: no line until the period is over.
        for s in 1..60 {
            assert_eq!(throttle.event(start + Duration::from_secs(s)), None);
        }
        assert_eq!(throttle.event(start + Duration::from_secs(60)), Some(59));
        assert_eq!(throttle.event(start + Duration::from_secs(61)), None);
    }
}
