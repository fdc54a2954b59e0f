//! Progress on stderr while a run goes: one bar per phase (minting, joining, typing, drain). Nothing is
//! drawn when stderr is not a terminal (indicatif checks) or with `--quiet`, so redirected output and CI
//! logs stay clean; the report on stdout is never touched.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::limits::PROGRESS_REFRESH;

const COUNT_TEMPLATE: &str = "{prefix:>8} [{bar:32.cyan/blue}] {pos}/{len} ({elapsed}) {msg}";
const TIMED_TEMPLATE: &str = "{prefix:>8} [{bar:32.cyan/blue}] {msg}";

/// The progress display of one run. Bars of all phases share it, so they stack instead of overwriting
/// each other.
pub struct Progress {
    multi: MultiProgress,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        Progress { multi: MultiProgress::with_draw_target(target), quiet }
    }

    /// A bar for a phase with a known amount of work: rooms minted, clients joined.
    pub fn phase(&self, name: &str, total: u64) -> Bar {
        Bar(self.add(name, total, COUNT_TEMPLATE))
    }

    /// A bar for a phase of fixed duration (typing, drain): it fills with the clock, and its message is
    /// `status()` (e.g. "keys 12345/20000 · lost 0"), re-read every [`PROGRESS_REFRESH`]. `status` runs on
    /// a tokio task, so it should only read shared counters (atomics). Call inside a tokio runtime.
    pub fn timed<F>(&self, name: &str, duration: Duration, status: F) -> TimedBar
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        let clock = Clock { started: Instant::now(), duration };
        let bar = self.add(name, clock.len(), TIMED_TEMPLATE);
        let status: Status = Arc::new(status);
        clock.refresh(&bar, &*status);
        // Nothing to draw, nothing to poll.
        let ticker = (!bar.is_hidden()).then(|| {
            let (bar, status) = (bar.clone(), Arc::clone(&status));
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(PROGRESS_REFRESH);
                loop {
                    ticks.tick().await;
                    clock.refresh(&bar, &*status);
                }
            })
        });
        TimedBar { bar, ticker, status, clock }
    }

    /// Prints a line to stderr above the bars (a plain `eprintln!` would be drawn over); plainly when
    /// stderr is not a terminal, not at all when quiet.
    pub fn println(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        if self.multi.is_hidden() {
            eprintln!("{}", line.as_ref());
        } else {
            // Fails only if stderr is gone, and then there is no one to tell.
            let _ = self.multi.println(line);
        }
    }

    fn add(&self, name: &str, len: u64, template: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(template).expect("valid template").progress_chars("=> ");
        let bar = self.multi.add(ProgressBar::new(len));
        bar.set_style(style);
        bar.set_prefix(name.to_owned());
        bar
    }
}

/// The bar of a counted phase. Clones share the bar, so concurrent tasks can each [`Bar::inc`] it.
#[derive(Clone)]
pub struct Bar(ProgressBar);

impl Bar {
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    pub fn set_message(&self, msg: impl Into<Cow<'static, str>>) {
        self.0.set_message(msg);
    }

    pub fn position(&self) -> u64 {
        self.0.position()
    }

    /// Leaves the bar as it stands: a phase that ended early (an error) does not show as complete.
    pub fn finish(&self) {
        self.0.abandon();
    }
}

type Status = Arc<dyn Fn() -> String + Send + Sync>;

/// The clock of a fixed-duration phase: the bar's length and position are milliseconds.
#[derive(Clone, Copy)]
struct Clock {
    started: Instant,
    duration: Duration,
}

impl Clock {
    fn len(&self) -> u64 {
        u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    fn refresh(&self, bar: &ProgressBar, status: &(dyn Fn() -> String + Send + Sync)) {
        let elapsed = self.started.elapsed();
        bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX).min(self.len()));
        let (now, total) = (elapsed.as_secs_f64(), self.duration.as_secs_f64());
        bar.set_message(format!("{now:.0}/{total:.0} s · {}", status()));
    }
}

/// The bar of a fixed-duration phase; see [`Progress::timed`].
pub struct TimedBar {
    bar: ProgressBar,
    ticker: Option<JoinHandle<()>>,
    status: Status,
    clock: Clock,
}

impl TimedBar {
    /// Stops the updates and leaves the bar with a last reading of the clock and the status.
    pub fn finish(self) {
        self.clock.refresh(&self.bar, &*self.status);
        self.bar.abandon();
        // The ticker is stopped by Drop.
    }
}

impl Drop for TimedBar {
    fn drop(&mut self) {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn quiet_bars_count_but_draw_nothing() {
        let progress = Progress::new(true);
        let bar = progress.phase("mint", 10);
        assert!(bar.0.is_hidden());
        bar.clone().inc(3);
        bar.inc(4);
        bar.finish();
        assert_eq!(bar.position(), 7, "finish does not pretend the phase completed");
    }

    #[tokio::test]
    async fn timed_bar_shows_the_status() {
        let keys = Arc::new(AtomicU64::new(0));
        let progress = Progress::new(true);
        let seen = Arc::clone(&keys);
        let bar = progress.timed("typing", Duration::from_secs(20), move || {
            format!("keys {}/20000 · lost 0", seen.load(Ordering::Relaxed))
        });
        assert!(bar.ticker.is_none(), "hidden: no ticker task");
        keys.store(12345, Ordering::Relaxed);
        let inner = bar.bar.clone();
        bar.finish();
        assert!(inner.message().ends_with("keys 12345/20000 · lost 0"), "{}", inner.message());
        assert!(inner.message().starts_with("0/20 s"), "{}", inner.message());
    }
}
