//! `handoff-load`: command-line front end of the load scenarios.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use handoff_load::compare::{self, Outcome, Row};
use handoff_load::launch::{self, Programs};
use handoff_load::nodes::{self, NodesConfig};
use handoff_load::target::{Kind, Target};
use handoff_load::typing::Shard;
use handoff_load::voice::VoiceConfig;
use handoff_load::{TypingConfig, procs, typing};
use serde::Serialize;

mod args;

use args::{Cli, Command, TargetArgs, TypingArgs, VoiceArgs};

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
            if !a.nodes.is_empty() {
                return across_nodes(&a, 1).await;
            }
            let t = a.target.clone();
            on_targets(&t, move |target, pid| typing_run(a.clone(), 1, target, pid)).await
        }
        Command::LargePaste(a) => {
            if let Some(shard) = a.typing.shard {
                return shard_child(&a.typing, a.paste_bytes, shard).await;
            }
            if !a.typing.nodes.is_empty() {
                return across_nodes(&a.typing, a.paste_bytes).await;
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
        Command::Voice(a) => voice(a).await,
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

/// `voice`: against the server the flags name, or one launched here for the run.
async fn voice(a: VoiceArgs) -> anyhow::Result<ExitCode> {
    let mut launched = None;
    let (target, server_pid) = if a.launch {
        let mut handoff_args = vec![
            "--voice-bind-ip".to_owned(),
            "127.0.0.1".to_owned(),
            "--voice-udp-ports".to_owned(),
            a.voice_udp_ports.clone(),
        ];
        handoff_args.extend(a.handoff_arg.iter().cloned());
        let programs = Programs {
            handoff: a.handoff_bin.clone(),
            relay: PathBuf::new(),
            peers: PathBuf::new(),
            handoff_args,
            relay_args: Vec::new(),
        };
        let l = launch::launch(Kind::Handoff, &programs).await?;
        let t = (l.target.clone(), Some(l.pid));
        launched = Some(l);
        t
    } else {
        (Target { kind: Kind::Handoff, url: a.server.clone(), api_key: a.api_key.clone() }, a.server_pid)
    };
    let duration = Duration::from_secs(a.duration_s);
    let typing = a.with_typing.then(|| TypingConfig {
        target: target.clone(),
        rooms: a.rooms,
        clients_per_room: 3,
        keys_per_sec: 5.0,
        rhythm: handoff_load::metronome::Rhythm::Words,
        chunk: 1,
        keep_chars: 0,
        duration,
        drain: Duration::from_secs(handoff_load::limits::DEFAULT_DRAIN_S),
        late: Duration::from_millis(handoff_load::limits::DEFAULT_LATE_MS),
        server_pid: None,
        quiet: true,
    });
    let cfg = VoiceConfig {
        target,
        rooms: a.rooms,
        warmup: Duration::from_secs(a.warmup_s),
        duration,
        server_pid,
        record_voice: a.record_voice,
        quiet: a.quiet,
        typing,
    };
    let result = handoff_load::voice::run(&cfg).await;
    if let Some(l) = launched {
        l.stop().await;
    }
    let report = result?;
    println!("{}", report.table());
    write_json(a.json.as_ref(), &report)?;
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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

/// `--nodes`: the typing run spread over a cluster's nodes (see `nodes.rs`).
async fn across_nodes(a: &TypingArgs, chunk: usize) -> anyhow::Result<ExitCode> {
    if a.target.compare || a.procs != 1 {
        bail!("--nodes runs in one process against the nodes it names: not with --compare or --procs");
    }
    let first = a.nodes[0].clone();
    let target = Target { kind: a.target.target, url: first, api_key: a.target.api_key.clone() };
    let cfg = NodesConfig {
        typing: typing_config(a, chunk, target, None),
        nodes: a.nodes.clone(),
        redis_url: a.redis_url.clone(),
        node_pids: a.node_pids.clone(),
        layout: a.layout,
        kill: match a.kill_node_after {
            Some(s) => {
                let after = std::time::Duration::try_from_secs_f64(s)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .context("--kill-node-after must be a positive number of seconds")?;
                Some((a.kill_node.unwrap_or(a.nodes.len().saturating_sub(1)), after))
            }
            None => None,
        },
    };
    let report = nodes::run(&cfg).await?;
    println!("{}", report.table());
    write_json(a.target.json.as_ref(), &report)?;
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
