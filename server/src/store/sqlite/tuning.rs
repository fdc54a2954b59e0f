//! The embedded store's tuning: queue and pool sizes, page caches, group commit spacing and the fold of
//! the recent log. Only the SQLite store uses these; none is part of the wire or API contract. The
//! figures cited are in docs/PERFORMANCE.md.

/// Writes queued for the writer thread. Callers wait (backpressure) when it is full.
pub(super) const WRITE_QUEUE: usize = 1024;

/// Idle read connections kept open.
/// Also the most reads run at once: a join storm's hundred handshakes each check their room, and without
/// the bound each opened (and parsed the schema on) a connection of its own on a blocking thread.
pub(super) const READ_POOL: usize = 4;

/// How long a connection waits on a lock held by another before failing.
pub(super) const BUSY_TIMEOUT_MS: u64 = 5_000;

/// SQLite's page cache per reader connection, in KiB. With its default (2,000 KiB) on every connection a
/// soak's RSS kept climbing for 30 minutes, past that mark; this size cost no measurable CPU, join or
/// promote time (docs/PERFORMANCE.md, sixth run). The OS page cache holds the file anyway: a miss here
/// is a `pread`, not a disk read.
pub(super) const PAGE_CACHE_KIB: u32 = 256;

/// The writer's page cache, in KiB: every fold of the recent log (`sqlite/log.rs`) rewrites the last log
/// page of each room in it, and with the readers' 256 KiB those pages (about 1.2 MiB at 300 typing rooms)
/// are read back with `pread` each time. Measured when every group commit rewrote them: at 300 rooms
/// this size cut the writer thread's CPU by a fifth and the server's per update by 6 %
/// (docs/PERFORMANCE.md, seventh run). One connection, so still bounded.
pub(super) const WRITER_PAGE_CACHE_KIB: u32 = 2048;

/// Least time between the starts of two group commits, when the last one held more than one write:
/// writes that arrive meanwhile join the next group instead of each paying an fsync. An accepted edit may
/// wait this much longer than the room's commit window (`GROUP_COMMIT_WINDOW_MS` in
/// `protocol/src/limits.rs`); `kill -9` loses at most the window plus this plus one commit (and a fold
/// of the recent log, when one runs just before that commit: see [`LOG_FOLD_ROWS`]).
pub(super) const GROUP_COMMIT_GATHER_MS: u64 = 5;

/// Log rows written in one store transaction at most; a longer queue is committed in several.
pub(super) const GROUP_COMMIT_MAX_ROWS: usize = 4096;

/// Rows the recent log holds before they are folded into the log proper (`sqlite/log.rs`). Each fold
/// writes a page per room in it, so fewer, larger folds cost less: at 1000 typing rooms the writer thread
/// used 52–59, 43–47 and 28–29 ticks per 10 s with 8192, 16384 and 32768 rows. But readers scan the
/// recent rows: 16384 rows of 100 bytes are about 1.6 MB, about 2 ms per room load. At 300 typing rooms
/// the interval below comes first. A fold holds the writer: at 1000 typing rooms folds of 16384 rows
/// took 56–165 ms, which the commits queued behind them wait out.
pub(super) const LOG_FOLD_ROWS: usize = 16384;

/// Longest time a row stays in the recent log before the fold, in milliseconds. Each fold writes one
/// page per room it holds, where a commit straight into the log wrote one per room per commit window:
/// ten seconds is twenty windows of 500 ms.
pub(super) const LOG_FOLD_INTERVAL_MS: u64 = 10_000;

/// Updates at least this long go straight into `room_log`. Such a row fills pages of its own wherever it
/// lands, so the recent table saves it nothing, and a fold would copy it a second time: a submission's
/// preload (200 KiB in the benchmarks) is one, and a promote storm's preloads would make a fold of tens
/// of megabytes that every commit behind it waits out.
pub(super) const DIRECT_ROW_BYTES: usize = 4096;
