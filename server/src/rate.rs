//! Per-connection message rate limit: a token bucket refilled continuously.

use std::time::Instant;

pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: Instant::now(),
        }
    }

    /// Takes one token at time `now`; `false` when the bucket is empty.
    pub(crate) fn allow_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub(crate) fn allow(&mut self) -> bool {
        self.allow_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 5);
        r.last = t0;
        assert!((0..5).all(|_| r.allow_at(t0)));
        assert!(!r.allow_at(t0), "the burst is spent");
        assert!(r.allow_at(t0 + Duration::from_millis(100)), "one token back after 1/10 s");
        assert!(!r.allow_at(t0 + Duration::from_millis(100)));
        assert!((0..5).all(|_| r.allow_at(t0 + Duration::from_secs(60))), "refill is capped at the burst");
        assert!(!r.allow_at(t0 + Duration::from_secs(60)));
    }
}
