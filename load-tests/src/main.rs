//! `handoff-load`: command-line front end of the load scenarios.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use handoff_load::limits::DEFAULT_DRAIN_S;
use handoff_load::{TypingConfig, typing};

#[derive(Parser)]
#[command(name = "handoff-load", version, about = "Load generator and benchmark for handoff")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One typist per room types on a fixed timetable; the other clients measure fan-out latency.
    Typing(TypingArgs),
    /// Connection density: server memory per idle connection and per loaded room.
    Idle(IdleArgs),
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
    /// Process id of the server (on this machine), whose resident memory is read.
    #[arg(long, env = "HANDOFF_LOAD_SERVER_PID")]
    server_pid: u32,
    /// Also write the report as JSON to this file.
    #[arg(long, env = "HANDOFF_LOAD_JSON")]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct TypingArgs {
    /// Base URL of the server.
    #[arg(long, env = "HANDOFF_LOAD_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Integrator API key of the server.
    #[arg(long, env = "HANDOFF_LOAD_API_KEY")]
    api_key: String,
    /// Rooms to mint and load.
    #[arg(long, env = "HANDOFF_LOAD_ROOMS", default_value_t = 100)]
    rooms: usize,
    /// Clients per room: one typist, the rest watchers.
    #[arg(long, env = "HANDOFF_LOAD_CLIENTS_PER_ROOM", default_value_t = 3)]
    clients_per_room: usize,
    /// Keys per second each typist types (one update and one cursor update per key).
    #[arg(long, env = "HANDOFF_LOAD_KEYS_PER_SEC", default_value_t = 5.0)]
    keys_per_sec: f64,
    /// Seconds of typing.
    #[arg(long, env = "HANDOFF_LOAD_DURATION_S", default_value_t = 20)]
    duration_s: u64,
    /// Seconds watchers keep listening after the last scheduled key.
    #[arg(long, env = "HANDOFF_LOAD_DRAIN_S", default_value_t = DEFAULT_DRAIN_S)]
    drain_s: u64,
    /// Also write the report as JSON to this file.
    #[arg(long, env = "HANDOFF_LOAD_JSON")]
    json: Option<PathBuf>,
}

/// Exit code when the run could not happen at all (bad flags, minting or joining failed).
const EXIT_RUN_FAILED: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("handoff-load: {e:#}");
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

/// Runs the command; `SUCCESS` when nothing was lost or diverged, `FAILURE` otherwise.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Typing(a) => {
            let cfg = TypingConfig {
                server: a.server,
                api_key: a.api_key,
                rooms: a.rooms,
                clients_per_room: a.clients_per_room,
                keys_per_sec: a.keys_per_sec,
                duration: Duration::from_secs(a.duration_s),
                drain: Duration::from_secs(a.drain_s),
            };
            let report = typing::run(&cfg).await?;
            println!("{}", report.table());
            if let Some(path) = a.json {
                let json = serde_json::to_string_pretty(&report)?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Idle(a) => {
            let cfg = handoff_load::idle::IdleConfig {
                server: a.server,
                api_key: a.api_key,
                rooms: a.rooms,
                clients_per_room: a.clients_per_room,
                server_pid: a.server_pid,
                settle: handoff_load::idle::DEFAULT_SETTLE,
            };
            let report = handoff_load::idle::run(&cfg).await?;
            println!("{}", report.table());
            if let Some(path) = a.json {
                let json = serde_json::to_string_pretty(&report)?;
                std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
