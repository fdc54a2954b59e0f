//! Server-side figures of a process on this machine, read from Linux `/proc`: CPU time (user + system) and
//! resident memory, once or sampled over a run. The load tool and the server share the machine, so these
//! are the server's own costs: CPU per delivered message, memory per room, memory growth during a soak.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::limits::{MAX_RSS_SAMPLES, MIN_RSS_SAMPLE_INTERVAL};

/// Clock ticks per second, the unit of the CPU times in `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`, 100 on
/// Linux in practice). Read from the kernel's auxiliary vector through rustix, which needs no `unsafe`.
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// CPU time a process has used, split the way the kernel accounts it: `user` in the process's own code,
/// `system` in the kernel on its behalf (socket calls, wake-ups, page faults). Two servers that make the
/// same socket calls per message spend about the same system time; the split shows which side differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The time used since `earlier`, part by part.
    pub fn since(&self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// CPU time a process has used so far: user and system time of all its threads, from `/proc/<pid>/stat`.
/// Time of its waited-for children (`cutime`, `cstime`) is not included: the server spawns none, and a
/// child's work is not the server's.
pub fn cpu_time(pid: u32) -> anyhow::Result<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let (user, system) = stat_cpu_ticks(&stat).with_context(|| format!("parsing /proc/{pid}/stat"))?;
    let hz = clock_ticks_per_second();
    ensure!(hz > 0, "the kernel reports no clock tick rate");
    // Whole seconds and the remainder separately: exact, and no overflow for any realistic tick count.
    let time = |ticks: u64| {
        Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz)
    };
    Ok(CpuTime { user: time(user), system: time(system) })
}

/// (utime, stime), in clock ticks, of one `/proc/<pid>/stat` line. The second field (`comm`, the command
/// name in parentheses) may itself contain spaces and ')', so fields are counted after the last ')'.
fn stat_cpu_ticks(stat: &str) -> anyhow::Result<(u64, u64)> {
    let (_, rest) = stat.rsplit_once(')').context("no ')' after the command name")?;
    // After the ')' come fields 3 (state) onwards; utime and stime are fields 14 and 15 (proc(5)).
    let mut fields = rest.split_whitespace().skip(14 - 3);
    let mut next = |name: &str| -> anyhow::Result<u64> {
        fields
            .next()
            .with_context(|| format!("no {name} field"))?
            .parse()
            .with_context(|| format!("malformed {name}"))
    };
    let utime = next("utime")?;
    let stime = next("stime")?;
    Ok((utime, stime))
}

/// Resident memory of a process in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status_vm_rss(&status).with_context(|| format!("parsing /proc/{pid}/status"))
}

fn status_vm_rss(status: &str) -> anyhow::Result<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS line")?;
    // "VmRSS:\t  12345 kB": the kernel always reports it in kB (KiB).
    line.split_whitespace().nth(1).context("malformed VmRSS")?.parse().context("malformed VmRSS")
}

/// CPU time a process spends during one phase of a run: [`CpuWindow::start`] before, [`CpuWindow::finish`]
/// after. Also keeps the wall time, since CPU time / wall time says how busy the server was.
#[derive(Debug, Clone, Copy)]
pub struct CpuWindow {
    pid: u32,
    cpu_at_start: CpuTime,
    started: Instant,
}

impl CpuWindow {
    pub fn start(pid: u32) -> anyhow::Result<CpuWindow> {
        Ok(CpuWindow { pid, cpu_at_start: cpu_time(pid)?, started: Instant::now() })
    }

    /// CPU time used since [`CpuWindow::start`]. May be called more than once (each time up to now).
    pub fn finish(&self) -> anyhow::Result<CpuTime> {
        Ok(cpu_time(self.pid)?.since(self.cpu_at_start))
    }

    /// Wall time since [`CpuWindow::start`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// CPU time (user + system, every thread, exited ones included) this process has used, to the
/// nanosecond: the generator's own cost over phases far shorter than a clock tick, such as one join
/// storm. It tells whether the generator, sharing the machine's cores with the server, could have
/// delayed what it measured.
pub fn own_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0))
}

/// CPU time per unit of work in µs (per delivered key, per join, …); 0 when there were no units. The
/// figure is only as fine as the clock tick (10 ms at 100 Hz), so measure phases of seconds, not
/// milliseconds.
pub fn per_unit_us(cpu: Duration, units: u64) -> f64 {
    if units == 0 { 0.0 } else { cpu.as_secs_f64() * 1e6 / units as f64 }
}

/// Resident memory over a run: the samples and their summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RssTrend {
    pub first_kib: u64,
    pub min_kib: u64,
    pub max_kib: u64,
    pub last_kib: u64,
    /// Least-squares slope of RSS against time, KiB per minute: a steady positive slope over a long soak
    /// is a leak; warm-up growth flattens out.
    pub slope_kib_per_min: f64,
    /// Time span from the first to the last sample, in seconds.
    pub span_s: f64,
    /// (seconds since the sampler started, KiB), evenly spaced and at most [`MAX_RSS_SAMPLES`] + 1 of them
    /// (the last one is taken when the sampler stops, whatever the stride).
    pub samples: Vec<(f64, u64)>,
}

impl RssTrend {
    /// The summary of a series of samples; `None` when there are none.
    pub fn from_samples(samples: Vec<(f64, u64)>) -> Option<RssTrend> {
        let &(t0, first_kib) = samples.first()?;
        let &(t1, last_kib) = samples.last()?;
        Some(RssTrend {
            first_kib,
            min_kib: samples.iter().map(|s| s.1).min()?,
            max_kib: samples.iter().map(|s| s.1).max()?,
            last_kib,
            slope_kib_per_min: slope_per_s(&samples) * 60.0,
            span_s: t1 - t0,
            samples,
        })
    }
}

/// Least-squares slope of y against t (y units per second); 0 with fewer than two distinct instants.
fn slope_per_s(samples: &[(f64, u64)]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    // Centred sums: far better conditioned than Σty − n·t̄·ȳ when RSS is ~10^5 KiB.
    let (mut sty, mut stt) = (0.0, 0.0);
    for &(t, y) in samples {
        let (dt, dy) = (t - mean_t, y as f64 - mean_y);
        sty += dt * dy;
        stt += dt * dt;
    }
    if stt == 0.0 { 0.0 } else { sty / stt }
}

/// Evenly strided samples in bounded memory: a reading is kept every `stride` ticks; when `cap` are held,
/// every other one is dropped and the stride doubles (the kept ones stay evenly spaced).
#[derive(Debug)]
struct Strided {
    samples: Vec<(f64, u64)>,
    cap: usize,
    stride: u64,
    tick: u64,
}

impl Strided {
    fn new(cap: usize) -> Strided {
        Strided { samples: Vec::new(), cap: cap.max(2), stride: 1, tick: 0 }
    }

    /// Whether the current tick is one to read (saves reading /proc for samples that would be dropped).
    fn wanted(&self) -> bool {
        self.tick.is_multiple_of(self.stride)
    }

    /// Records the reading of the current tick (if wanted) and moves to the next tick.
    fn push(&mut self, sample: (f64, u64)) {
        if self.wanted() {
            if self.samples.len() == self.cap {
                let mut i = 0;
                self.samples.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
            // After halving, this tick may no longer be on the doubled stride.
            if self.wanted() {
                self.samples.push(sample);
            }
        }
        self.tick += 1;
    }

    fn skip(&mut self) {
        self.tick += 1;
    }
}

/// Samples a process's resident memory every `interval` on a tokio task until [`RssSampler::stop`], for
/// the memory trend of a long run.
pub struct RssSampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<Vec<(f64, u64)>>>,
}

impl RssSampler {
    /// Takes the first sample now (so a wrong pid fails here, not at the end of a soak) and starts
    /// sampling. Must be called inside a tokio runtime. Intervals below [`MIN_RSS_SAMPLE_INTERVAL`] are
    /// raised to it.
    pub fn start(pid: u32, interval: Duration) -> anyhow::Result<RssSampler> {
        let interval = interval.max(MIN_RSS_SAMPLE_INTERVAL);
        let started = Instant::now();
        let mut kept = Strided::new(MAX_RSS_SAMPLES);
        kept.push((0.0, rss_kib(pid)?));
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            // A late tick (busy runtime) is taken late, not made up with a burst of readings.
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {
                        if kept.wanted() {
                            let t = started.elapsed().as_secs_f64();
                            // A small procfs read: cheaper than handing it to the blocking pool.
                            let kib = rss_kib(pid).with_context(|| format!("memory sample at {t:.1} s"))?;
                            kept.push((t, kib));
                        } else {
                            kept.skip();
                        }
                    }
                }
            }
            let mut samples = kept.samples;
            samples.push((started.elapsed().as_secs_f64(), rss_kib(pid)?));
            Ok(samples)
        });
        Ok(RssSampler { stop, task })
    }

    /// Takes a last sample and summarises. Fails if any reading failed (the process exited, say).
    pub async fn stop(self) -> anyhow::Result<RssTrend> {
        // The task may have ended already on a failed reading; its error is in the join result.
        let _ = self.stop.send(());
        let samples = self.task.await.context("the memory sampler panicked")??;
        RssTrend::from_samples(samples).context("no memory samples")
    }
}

#[cfg(test)]
mod tests {
    use std::hint::black_box;

    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // comm "a) b (c" contains spaces and parentheses; utime = 1234, stime = 56.
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 7 8 20 0 3 0 99 1000 200 \n";
        assert_eq!(stat_cpu_ticks(line).unwrap(), (1234, 56));
        assert!(stat_cpu_ticks("4242 (x) S 1 2").is_err());
        assert!(stat_cpu_ticks("no parenthesis").is_err());
    }

    #[test]
    fn cpu_time_of_this_process_grows_with_work() {
        assert!(clock_ticks_per_second() > 0);
        let pid = std::process::id();
        let before = cpu_time(pid).unwrap();
        let window = CpuWindow::start(pid).unwrap();
        // A fixed amount of work (not a time-based loop): tens of milliseconds of CPU even optimised.
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        black_box(x);
        let after = cpu_time(pid).unwrap();
        assert!(after.user >= before.user && after.system >= before.system, "{before:?} then {after:?}");
        // The loop makes no system calls: its time is the process's own.
        assert!(after.user > before.user, "{before:?} then {after:?}");
        let used = window.finish().unwrap();
        assert!(used.total() <= after.total() && used.user > Duration::ZERO, "{used:?}");
        assert!(cpu_time(u32::MAX).is_err(), "no such process");
    }

    #[test]
    fn per_unit_is_in_microseconds() {
        assert_eq!(per_unit_us(Duration::from_millis(30), 1_000), 30.0);
        assert_eq!(per_unit_us(Duration::from_secs(1), 0), 0.0);
    }

    #[test]
    fn rss_of_this_process_parses() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert_eq!(status_vm_rss("Name:\tx\nVmPeak:\t 9 kB\nVmRSS:\t   12345 kB\n").unwrap(), 12345);
        assert!(status_vm_rss("Name:\tx\n").is_err());
    }

    #[test]
    fn slope_of_a_straight_line_is_exact() {
        // 3 KiB per second = 180 KiB per minute; small integers keep every step exact in f64.
        let samples: Vec<(f64, u64)> = (0..5).map(|t| (f64::from(t), 1000 + 3 * t as u64)).collect();
        let trend = RssTrend::from_samples(samples).unwrap();
        assert_eq!(trend.slope_kib_per_min, 180.0);
        assert_eq!((trend.first_kib, trend.min_kib, trend.max_kib, trend.last_kib), (1000, 1000, 1012, 1012));
        assert_eq!(trend.span_s, 4.0);
        let flat = RssTrend::from_samples(vec![(0.0, 5), (0.0, 9)]).unwrap();
        assert_eq!(flat.slope_kib_per_min, 0.0, "no time span, no slope");
        assert!(RssTrend::from_samples(Vec::new()).is_none());
    }

    #[test]
    fn strided_samples_stay_bounded_and_even() {
        let mut s = Strided::new(4);
        for tick in 0..20u64 {
            if s.wanted() {
                s.push((tick as f64, tick));
            } else {
                s.skip();
            }
        }
        // 0..20 with at most 4 kept: the stride grows 1 → 2 → 4 → 8.
        assert_eq!(s.stride, 8);
        assert_eq!(s.samples.iter().map(|x| x.1).collect::<Vec<_>>(), [0, 8, 16]);
    }

    #[tokio::test]
    async fn sampler_keeps_first_and_last() {
        let sampler = RssSampler::start(std::process::id(), Duration::from_millis(10)).unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let trend = sampler.stop().await.unwrap();
        assert!(trend.samples.len() >= 2, "{trend:?}");
        assert!(trend.min_kib <= trend.first_kib && trend.first_kib <= trend.max_kib);
        assert!(trend.samples.windows(2).all(|w| w[0].0 <= w[1].0), "time goes forward");
        assert!(RssSampler::start(u32::MAX, Duration::from_secs(1)).is_err(), "no such process");
    }
}
