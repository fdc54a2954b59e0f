//! Every bound of the load tool in one place: what a run may ask for and how long it may wait.

use std::time::Duration;

/// Most rooms one process may open (with `--procs N`, a run may open N times as many).
pub const MAX_ROOMS: usize = 5_000;
/// Most clients per room; the server refuses more (`handoff_protocol::limits::MAX_CLIENTS_PER_ROOM`).
pub const MAX_CLIENTS_PER_ROOM: usize = handoff_protocol::limits::MAX_CLIENTS_PER_ROOM;
/// Fewest clients per room: one typist and at least one watcher, or there is nothing to measure.
pub const MIN_CLIENTS_PER_ROOM: usize = 2;
/// Most WebSocket connections one run may hold, kept below the per-process file limit (20,000) with room
/// for the HTTP client and the runtime.
/// With `--procs N` the bound applies to each process, so a run may hold N times as many.
pub const MAX_TOTAL_CLIENTS: usize = 15_000;
/// Most processes one typing run may split its clients over (`--procs`): 120,000 clients at most.
pub const MAX_PROCS: usize = 8;
/// Fastest typing rate. Each key is two messages (update + awareness); the server allows 200 messages/s.
pub const MAX_KEYS_PER_SEC: f64 = 50.0;
/// Longest typing phase of one run.
pub const MAX_DURATION: Duration = Duration::from_secs(3_600);
/// Longest drain period after the last scheduled key.
pub const MAX_DRAIN: Duration = Duration::from_secs(120);
/// Default drain period: how long watchers keep listening after the last scheduled key.
pub const DEFAULT_DRAIN_S: u64 = 5;
/// Default threshold of a late delivery: a key a watcher integrates more than this after it was due. At
/// about a tenth of a second a remote typist's keys stop looking live to the one watching them.
pub const DEFAULT_LATE_MS: u64 = 100;

/// Concurrent REST calls while minting rooms.
pub const MINT_CONCURRENCY: usize = 16;
/// Concurrent WebSocket handshakes while joining.
pub const CONNECT_CONCURRENCY: usize = 64;
/// Longest a single REST call may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a client may take from connecting to its first sync step 2.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the closing handshake of one client may take at the end of a run.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Delay between "everyone is synced" and the first scheduled key, so the schedule starts in the future.
pub const START_DELAY: Duration = Duration::from_millis(250);
/// Longest a child process of a split run (`--procs`) may take from its start to "joined" (minting its
/// rooms and joining their clients), and so the longest a child waits for the start instant.
pub const SHARD_JOIN_TIMEOUT: Duration = Duration::from_secs(600);
/// Latest start instant a child accepts: a start further ahead is refused as garbage.
pub const SHARD_MAX_START_AHEAD: Duration = Duration::from_secs(60);
/// How long after the last key and the drain a child may take to close its clients and print its result.
pub const SHARD_RESULT_GRACE: Duration = Duration::from_secs(120);
/// Longest a child may take to exit once it printed its result, or once it was killed.
pub const SHARD_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest line a child may print (its result: four histograms and a few errors as JSON).
pub const MAX_SHARD_LINE: usize = 16 * 1024 * 1024;
/// Last lines of a child's stderr kept to explain its failure (every line is printed as it comes).
pub const MAX_SHARD_STDERR_LINES: usize = 20;
/// How often an otherwise silent client renews its awareness (a stock y-websocket client does the same
/// every 15 s; the server closes clients that send nothing for 60 s).
pub const AWARENESS_RENEW: Duration = Duration::from_secs(15);

/// Highest latency the histograms track (µs); larger values are clamped to it.
pub const HIST_MAX_US: u64 = 300_000_000;
/// Significant decimal digits the histograms keep.
pub const HIST_SIGFIG: u8 = 3;
/// Most client errors a report lists verbatim (the count is always exact).
pub const MAX_REPORTED_ERRORS: usize = 20;
/// Largest paste one key may insert (the large-paste scenario); the server refuses frames over 4 MiB.
pub const MAX_CHUNK: usize = 1024 * 1024;
/// Longest a launched server may take to answer (the Node peers install their packages first).
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a launched server is asked whether it is ready.
pub const READY_POLL: Duration = Duration::from_millis(50);

/// Default interval between two readings of the server's resident memory during a run (soak): a trend over
/// minutes gets hundreds of points, and an hour-long run ([`MAX_DURATION`]) only 3,600 samples.
pub const DEFAULT_RSS_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest sampling interval accepted: each reading parses `/proc/<pid>/status` on the runtime's threads.
pub const MIN_RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(10);
/// Most memory samples one sampler keeps. Past it, every other sample is dropped and the stride doubles, so
/// a long soak stays evenly sampled from start to end in bounded memory (and a bounded JSON report).
pub const MAX_RSS_SAMPLES: usize = 4_096;
/// How often a time-based progress bar re-reads its status line and redraws.
pub const PROGRESS_REFRESH: Duration = Duration::from_millis(200);
/// Most clients joining one room at once in join-storm: handoff's per-room limit, less the client that
/// holds the room open.
pub const MAX_JOINERS: usize = MAX_CLIENTS_PER_ROOM - 1;
/// Most join storms in one run (`join-storm --storms`).
pub const MAX_STORMS: usize = 20;
/// How often join-storm checks that a peer holds the seeded files before giving up.
pub const SEED_CHECKS: usize = 50;
/// Pause between two of those checks.
pub const SEED_CHECK_PAUSE: Duration = Duration::from_millis(100);
/// Most submissions one promote run submits and promotes.
pub const MAX_PROMOTES: usize = 10_000;
/// Most promote iterations in flight at once.
pub const MAX_PROMOTE_CONCURRENCY: usize = 64;
/// tungstenite's read buffer of each load client (larger frames are read in several reads).
pub const CLIENT_READ_BUFFER: usize = 8 * 1024;
/// The read buffer of a join-storm joiner, whose first frame is the whole 200 KiB document: at 8 KiB it
/// took 25 reads (and wake-ups) of the generator per joiner, where a browser's socket hands over what
/// arrived in a few. Only these clients: tungstenite zeroes this much before every read.
pub const JOINER_READ_BUFFER: usize = 64 * 1024;
/// Most nodes one cross-node run (`--nodes`) spreads its clients over.
pub const MAX_NODES: usize = 16;
/// Longest a client of a killed node (`--kill-node-after`) may take to join another node, over every
/// attempt: long enough for a node that is slow to answer under load, short enough to end a run.
pub const REJOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after every node refused a rejoining client once, before it tries them all again.
pub const REJOIN_PAUSE: Duration = Duration::from_millis(100);
/// Most rejoins of one client in one run: one kill costs each client at most one; more means its
/// connection keeps breaking for another reason, which must fail the client rather than loop.
pub const MAX_REJOINS: u32 = 3;
/// Longest `INFO` reply read from Redis (a few KiB in practice).
pub const MAX_REDIS_INFO_BYTES: usize = 1024 * 1024;
