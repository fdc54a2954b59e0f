//! `handoff-load`: command-line front end of the load scenarios.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use handoff_load::compare::{self, Outcome, Row};
use handoff_load::launch::{self, Programs};
use handoff_load::limits::{DEFAULT_DRAIN_S, DEFAULT_LATE_MS};
use handoff_load::metronome::Rhythm;
use handoff_load::target::{Kind, Target};
use handoff_load::typing::Shard;
use handoff_load::{TypingConfig, procs, typing};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "handoff-load",
    version,
    about = "Load generator and benchmark for handoff and other Yjs servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One typist per room types on a fixed timetable (a cursor update per key); the other clients
    /// measure fan-out latency.
    Typing(TypingArgs),
    /// Like typing, but each "key" pastes a large block: fan-out of big updates.
    LargePaste(PasteArgs),
    /// A long typing run that watches the server's memory for growth.
    Soak(TypingArgs),
    /// Many clients join rooms holding a large submission at the same instant: first-sync latency.
    JoinStorm(JoinStormArgs),
    /// Every client drops at once while typists keep typing offline, then all reconnect at once.
    ReconnectStorm(ReconnectArgs),
    /// Submit + promote + first join through handoff's API: promote → room ready, and the rate.
    Promote(PromoteArgs),
    /// Connection density: server memory per idle connection and per loaded room (handoff).
    Idle(IdleArgs),
    /// Draws p50/p99 latency against rooms for each target from report JSON files, as SVG.
    Plot(PlotArgs),
}

#[derive(Args)]
struct PlotArgs {
    /// Report JSON files (typing reports or --compare arrays); others are skipped.
    inputs: Vec<PathBuf>,
    /// The SVG to write.
    #[arg(long, short)]
    out: PathBuf,
    #[arg(long, default_value = "Fan-out latency against rooms (3 clients per room, 5 keys/s)")]
    title: String,
}

#[derive(Args, Clone)]
struct JoinStormArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Rooms; each gets --joiners clients at once, so rooms × joiners join together.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Clients joining each room at once.
    #[arg(long, default_value_t = 10)]
    joiners: usize,
    /// Bytes of the submission every room holds.
    #[arg(long, default_value_t = 200 * 1024)]
    bytes: usize,
    /// Files of that submission.
    #[arg(long, default_value_t = 50)]
    files: usize,
    /// Storms, one after another, into the same rooms: their joiners' latencies are reported together,
    /// so the tail rests on more than one storm's hundred joiners.
    #[arg(long, default_value_t = 1)]
    storms: usize,
}

#[derive(Args, Clone)]
struct ReconnectArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long, default_value_t = 300)]
    rooms: usize,
    #[arg(long, default_value_t = 3)]
    clients_per_room: usize,
    /// Keys each typist types before the drop.
    #[arg(long, default_value_t = 20)]
    keys_online: u32,
    /// Keys each typist types while disconnected.
    #[arg(long, default_value_t = 20)]
    keys_offline: u32,
    /// Seconds watchers may take to catch up after reconnecting.
    #[arg(long, default_value_t = 30)]
    settle_s: u64,
}

#[derive(Args, Clone)]
struct PromoteArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Submissions to submit and promote.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Iterations in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 200 * 1024)]
    bytes: usize,
    #[arg(long, default_value_t = 50)]
    files: usize,
}

/// Which server to drive, or `--compare` to drive each in turn.
#[derive(Args, Clone)]
struct TargetArgs {
    /// Kind of server at --server.
    #[arg(long, value_enum, default_value = "handoff")]
    target: Kind,
    /// Base URL: http://… for handoff, ws://… for a peer.
    #[arg(long, env = "HANDOFF_LOAD_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Integrator API key (handoff).
    #[arg(long, env = "HANDOFF_LOAD_API_KEY")]
    api_key: Option<String>,
    /// Process id of the server on this machine: CPU per delivered update and memory are read from it.
    #[arg(long, env = "HANDOFF_LOAD_SERVER_PID")]
    server_pid: Option<u32>,
    /// Launch handoff and each peer in turn on a free loopback port, run the scenario against each, and
    /// print the ratios. --target/--server/--api-key/--server-pid are then ignored.
    #[arg(long)]
    compare: bool,
    /// Targets of --compare, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "handoff,relay,y-websocket,hocuspocus")]
    targets: Vec<Kind>,
    /// The handoff binary --compare launches.
    #[arg(long, default_value = "target/release/handoff")]
    handoff_bin: PathBuf,
    /// The relay binary --compare launches.
    #[arg(long, default_value = "target/release/handoff-relay")]
    relay_bin: PathBuf,
    /// The folder holding the peers' start.sh.
    #[arg(long, default_value = "load-tests/peers")]
    peers_dir: PathBuf,
    /// Extra argument for the launched `handoff serve` (repeat it), e.g. --handoff-arg=--store=memory://
    #[arg(long, allow_hyphen_values = true)]
    handoff_arg: Vec<String>,
    /// Extra argument for the launched `handoff-relay` (repeat it), e.g. --relay-arg=--writes=tasks
    #[arg(long, allow_hyphen_values = true)]
    relay_arg: Vec<String>,
    /// No progress bars on stderr.
    #[arg(long)]
    quiet: bool,
    /// Also write the report (an array of reports with --compare) as JSON to this file.
    #[arg(long, env = "HANDOFF_LOAD_JSON")]
    json: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct TypingArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Rooms to open.
    #[arg(long, env = "HANDOFF_LOAD_ROOMS", default_value_t = 100)]
    rooms: usize,
    /// Clients per room: one typist, the rest watchers.
    #[arg(long, env = "HANDOFF_LOAD_CLIENTS_PER_ROOM", default_value_t = 3)]
    clients_per_room: usize,
    /// Keys per second each typist types on average (one update and one cursor update per key).
    #[arg(long, env = "HANDOFF_LOAD_KEYS_PER_SEC", default_value_t = 5.0)]
    keys_per_sec: f64,
    /// How typists space their keys: words (bursts at twice the mean rate, then a pause) or steady.
    #[arg(long, env = "HANDOFF_LOAD_RHYTHM", value_enum, default_value_t = Rhythm::Words)]
    rhythm: Rhythm,
    /// Seconds of typing (soak: make it long, e.g. 1800).
    #[arg(long, env = "HANDOFF_LOAD_DURATION_S", default_value_t = 20)]
    duration_s: u64,
    /// Seconds watchers keep listening after the last scheduled key.
    #[arg(long, env = "HANDOFF_LOAD_DRAIN_S", default_value_t = DEFAULT_DRAIN_S)]
    drain_s: u64,
    /// Once the typed file holds this many characters, every key also deletes as many from its start
    /// as it types (a soak that edits rather than only appends). 0 never deletes.
    #[arg(long, env = "HANDOFF_LOAD_KEEP_CHARS", default_value_t = 0)]
    keep_chars: usize,
    /// A key a watcher integrates more than this many milliseconds after it was due counts as late.
    #[arg(long, env = "HANDOFF_LOAD_LATE_MS", default_value_t = DEFAULT_LATE_MS)]
    late_ms: u64,
    /// Split the clients over this many child processes of this program (rooms dealt round-robin), each
    /// within one process's file limit; their results make one report, as if one process had run it.
    #[arg(long, default_value_t = 1)]
    procs: usize,
    /// Internal: run as child index/count of a --procs run (prints `joined`, reads the start instant on
    /// stdin, prints its result as one JSON line).
    #[arg(long, hide = true)]
    shard: Option<Shard>,
}

#[derive(Args, Clone)]
struct PasteArgs {
    #[command(flatten)]
    typing: TypingArgs,
    /// Characters per paste.
    #[arg(long, default_value_t = 64 * 1024)]
    paste_bytes: usize,
}

#[derive(Args)]
struct IdleArgs {
    /// Base URL of the server.
    #[arg(long, env = "HANDOFF_LOAD_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Integrator API key of the server.
    #[arg(long, env = "HANDOFF_LOAD_API_KEY")]
    api_key: String,
    /// Rooms to mint and load.
    #[arg(long, env = "HANDOFF_LOAD_ROOMS", default_value_t = 1000)]
    rooms: usize,
    /// Clients per room.
    #[arg(long, env = "HANDOFF_LOAD_CLIENTS_PER_ROOM", default_value_t = 3)]
    clients_per_room: usize,
    /// Bytes of each room's submission (spread over --files files); 0: the small typing submission.
    #[arg(long, default_value_t = 0)]
    bytes: usize,
    /// Files of that submission.
    #[arg(long, default_value_t = 50)]
    files: usize,
    /// Process id of the server (on this machine), whose resident memory is read.
    #[arg(long, env = "HANDOFF_LOAD_SERVER_PID")]
    server_pid: u32,
    /// Also write the report as JSON to this file.
    #[arg(long, env = "HANDOFF_LOAD_JSON")]
    json: Option<PathBuf>,
}

/// Exit code when the run could not happen at all (bad flags, the server could not be reached).
const EXIT_RUN_FAILED: u8 = 2;

fn main() -> ExitCode {
    let threads = std::env::var("HANDOFF_LOAD_THREADS").ok().and_then(|t| t.parse::<usize>().ok());
    let runtime = match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
        None => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("handoff-load: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_RUN_FAILED);
        }
    };
    runtime.block_on(async_main())
}

async fn async_main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("handoff-load: {e:#}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Typing(a) | Command::Soak(a) => {
            if let Some(shard) = a.shard {
                return shard_child(&a, 1, shard).await;
            }
            let t = a.target.clone();
            on_targets(&t, move |target, pid| typing_run(a.clone(), 1, target, pid)).await
        }
        Command::LargePaste(a) => {
            if let Some(shard) = a.typing.shard {
                return shard_child(&a.typing, a.paste_bytes, shard).await;
            }
            let t = a.typing.target.clone();
            on_targets(&t, move |target, pid| typing_run(a.typing.clone(), a.paste_bytes, target, pid)).await
        }
        Command::JoinStorm(a) => {
            let t = a.target.clone();
            on_targets(&t, move |target, server_pid| {
                let cfg = handoff_load::join_storm::JoinStormConfig {
                    target,
                    rooms: a.rooms,
                    joiners: a.joiners,
                    bytes: a.bytes,
                    files: a.files,
                    storms: a.storms,
                    server_pid,
                };
                async move { handoff_load::join_storm::run(&cfg).await }
            })
            .await
        }
        Command::ReconnectStorm(a) => {
            let t = a.target.clone();
            on_targets(&t, move |target, server_pid| {
                let cfg = handoff_load::reconnect::ReconnectConfig {
                    target,
                    rooms: a.rooms,
                    clients_per_room: a.clients_per_room,
                    keys_online: a.keys_online,
                    keys_offline: a.keys_offline,
                    settle: Duration::from_secs(a.settle_s),
                    server_pid,
                    quiet: a.target.quiet,
                };
                async move { handoff_load::reconnect::run(&cfg).await }
            })
            .await
        }
        Command::Promote(a) => {
            let t = a.target.clone();
            on_targets(&t, move |target, server_pid| {
                let cfg = handoff_load::promote::PromoteConfig {
                    target,
                    count: a.count,
                    concurrency: a.concurrency,
                    bytes: a.bytes,
                    files: a.files,
                    server_pid,
                };
                async move { handoff_load::promote::run(&cfg).await }
            })
            .await
        }
        Command::Plot(a) => {
            handoff_load::plot::run_plot(&a.inputs, &a.out, &a.title)?;
            println!("wrote {}", a.out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Idle(a) => {
            let cfg = handoff_load::idle::IdleConfig {
                server: a.server,
                api_key: a.api_key,
                rooms: a.rooms,
                clients_per_room: a.clients_per_room,
                submission: (a.bytes > 0).then_some((a.bytes, a.files.max(1))),
                server_pid: a.server_pid,
                settle: handoff_load::idle::DEFAULT_SETTLE,
            };
            let report = handoff_load::idle::run(&cfg).await?;
            println!("{}", report.table());
            write_json(a.json.as_ref(), &report)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn typing_config(a: &TypingArgs, chunk: usize, target: Target, server_pid: Option<u32>) -> TypingConfig {
    TypingConfig {
        target,
        rooms: a.rooms,
        clients_per_room: a.clients_per_room,
        keys_per_sec: a.keys_per_sec,
        rhythm: a.rhythm,
        chunk,
        keep_chars: a.keep_chars,
        duration: Duration::from_secs(a.duration_s),
        drain: Duration::from_secs(a.drain_s),
        late: Duration::from_millis(a.late_ms),
        server_pid,
        quiet: a.target.quiet,
    }
}

async fn typing_run(
    a: TypingArgs,
    chunk: usize,
    target: Target,
    server_pid: Option<u32>,
) -> anyhow::Result<handoff_load::Report> {
    let cfg = typing_config(&a, chunk, target, server_pid);
    if a.procs == 1 {
        return typing::run(&cfg).await;
    }
    let exe = std::env::current_exe().context("finding this program to start its --procs children")?;
    procs::run(&exe, &cfg, a.procs).await
}

/// A child of a `--procs` run: its share of the rooms against the target its flags name; the protocol
/// with the parent is on stdin and stdout (see `procs.rs`).
async fn shard_child(a: &TypingArgs, chunk: usize, shard: Shard) -> anyhow::Result<ExitCode> {
    if a.target.compare || a.procs != 1 || a.target.json.is_some() {
        bail!("--shard is for the children of a --procs run, which start without --compare, --procs, --json");
    }
    let target =
        Target { kind: a.target.target, url: a.target.server.clone(), api_key: a.target.api_key.clone() };
    let cfg = TypingConfig { quiet: true, ..typing_config(a, chunk, target, None) };
    procs::serve_shard(&cfg, shard, procs::stdin()?, procs::stdout()?).await?;
    Ok(ExitCode::SUCCESS)
}

fn write_json(path: Option<&PathBuf>, value: &impl Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(value)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs `scenario` against the one target the flags name, or with `--compare` against each target in
/// turn, launched here; prints the report(s) and the comparison. Exit: success when every run was ok.
async fn on_targets<R, F, Fut>(t: &TargetArgs, scenario: F) -> anyhow::Result<ExitCode>
where
    R: Outcome,
    F: Fn(Target, Option<u32>) -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    if !t.compare {
        let target = Target { kind: t.target, url: t.server.clone(), api_key: t.api_key.clone() };
        let report = scenario(target, t.server_pid).await?;
        println!("{}", report.table());
        write_json(t.json.as_ref(), &report)?;
        return Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if t.targets.is_empty() {
        bail!("--targets names no target");
    }
    let programs = Programs {
        handoff: t.handoff_bin.clone(),
        relay: t.relay_bin.clone(),
        peers: t.peers_dir.clone(),
        handoff_args: t.handoff_arg.clone(),
        relay_args: t.relay_arg.clone(),
    };
    let mut reports = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut headline = "latency";
    for &kind in &t.targets {
        eprintln!("handoff-load: --compare: {}", kind.name());
        let launched = match launch::launch(kind, &programs).await {
            Ok(l) => l,
            Err(e) => {
                rows.push(Row::failed(kind, format!("{e:#}")));
                continue;
            }
        };
        let result = scenario(launched.target.clone(), Some(launched.pid)).await;
        launched.stop().await;
        match result {
            Ok(report) => {
                println!("{}\n", report.table());
                headline = report.headline();
                rows.push(report.row());
                reports.push(report);
            }
            Err(e) => rows.push(Row::failed(kind, format!("{e:#}"))),
        }
    }
    println!("{}", compare::table(&rows, headline));
    write_json(t.json.as_ref(), &reports)?;
    let all_ok = rows.iter().all(|r| r.ok);
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
