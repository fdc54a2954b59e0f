//! Command line and environment configuration (DESIGN §4.4). Every flag is also an `HANDOFF_*` variable.
//! `Config` deliberately has no `Debug`: it holds secrets, and nothing should be able to log it whole.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use handoff_protocol::limits::{
    GROUP_COMMIT_WINDOW_MS, HEADER_READ_TIMEOUT_MS, MAX_GROUP_COMMIT_WINDOW_MS,
    MAX_HTTP_CONNECTIONS_PER_ADDR, OUTBOX_FRAMES, REDIS_QUEUE_BYTES, REOPEN_WINDOW_SECS, ROOM_IDLE_END_SECS,
    ROOM_IDLE_EVICT_SECS, SNAPSHOT_EVERY_UPDATES, WEBHOOK_RETRY_BASE_MS,
};

#[derive(Parser)]
#[command(name = "handoff", version, about = "Live follow-up rooms for async coding interviews")]
#[derive(Debug)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (API, WebSocket rooms, dashboard).
    Serve(Config),
    /// Check a configuration before going live (the same flags and environment as `serve`): one line
    /// per check, ok / warn / FAIL; exits non-zero when any check fails.
    Check(Config),
    /// Write a consistent copy of the SQLite store, with the data dir's secrets, to a file while the
    /// server runs (a PostgreSQL store is backed up with `pg_dump`).
    Backup(BackupArgs),
    /// Put a backup written by `handoff backup` into a data dir; the server on it must be stopped.
    Restore(RestoreArgs),
}

/// `handoff backup`: where to, and the server's configuration (which store, which data dir).
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write: 0600, and complete or not there at all.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Replace FILE when it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub config: Config,
}

/// `handoff restore`: from where, and the configuration of the server that will run on it.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file, as `handoff backup --to` wrote it.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Replace a store that holds submissions or rooms, and secret files that differ from the backup's.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Args, Clone)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HANDOFF_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Milliseconds a connection has to send a request's complete headers (from its accept, or from the
    /// end of its previous response); then it is closed unanswered.
    #[arg(long, env = "HANDOFF_HEADER_READ_TIMEOUT_MS", default_value_t = HEADER_READ_TIMEOUT_MS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// HTTP connections (not yet WebSockets) one client address may hold open; more are closed at once
    /// (0 counts as 1). Raise it behind a reverse proxy, where every connection comes from the proxy.
    #[arg(long, env = "HANDOFF_MAX_HTTP_CONNECTIONS_PER_ADDR", default_value_t = MAX_HTTP_CONNECTIONS_PER_ADDR)]
    pub max_http_connections_per_addr: usize,

    /// Public base URL browsers and clients reach this server at; used in `ws_url` and links.
    /// Defaults to `http://<listen address>`.
    #[arg(long, env = "HANDOFF_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Directory for the embedded database and generated secrets.
    #[arg(long, env = "HANDOFF_DATA_DIR", default_value = "handoff-data")]
    pub data_dir: PathBuf,

    /// Integrator API key (`Authorization: Bearer …`), at least 16 characters. When unset, a development
    /// key is generated once, kept in the data dir, and printed at startup with a dashboard link.
    #[arg(long, env = "HANDOFF_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Bearer token `/metrics` requires (`Authorization: Bearer …`); without it the scrape answers 401.
    /// When unset, `/metrics` is open: keep it on a private network then.
    #[arg(long, env = "HANDOFF_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Secret that signs room tokens (HS256). When unset, one is generated once and kept in the data dir.
    #[arg(long, env = "HANDOFF_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,

    /// Store URL: `sqlite://PATH`, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (the shared store
    /// of a cluster; the schema is migrated at start), or `memory://` (nothing survives a restart; for
    /// benchmarks and demos). Default: `sqlite://<data dir>/handoff.db`. A password in it is never shown.
    #[arg(long, env = "HANDOFF_STORE", hide_env_values = true)]
    pub store: Option<String>,

    /// Redis URL (`redis://[USER:PASSWORD@]HOST:PORT[/DB]`): turns cluster mode on, with this Redis as
    /// the bus that orders and carries every room's updates between the nodes. Needs a `postgres://`
    /// store shared by every node; Redis must run with AOF on and `maxmemory-policy noeviction`. A
    /// password in it is never shown.
    #[arg(long, env = "HANDOFF_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Bytes of updates a cluster node may queue while it cannot reach Redis. Past it, rooms that add
    /// more are held off (their clients here closed with 1013, joins refused) until the queue drains
    /// to half; nothing queued is dropped.
    #[arg(long, env = "HANDOFF_REDIS_QUEUE_BYTES", default_value_t = REDIS_QUEUE_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub redis_queue_bytes: usize,

    /// Seconds a room with no clients stays in memory before it is flushed and evicted.
    #[arg(long, env = "HANDOFF_ROOM_IDLE_EVICT_S", default_value_t = ROOM_IDLE_EVICT_SECS)]
    pub room_idle_evict_s: u64,

    /// Milliseconds an accepted update may wait to be group-committed (at most 1000).
    #[arg(long, env = "HANDOFF_COMMIT_WINDOW_MS", default_value_t = GROUP_COMMIT_WINDOW_MS,
          value_parser = clap::value_parser!(u64).range(0..=MAX_GROUP_COMMIT_WINDOW_MS))]
    pub commit_window_ms: u64,

    /// Accepted updates between two snapshots of a room: a load reads the newest snapshot and the log
    /// after it (the log itself is kept whole, as the session record). In a cluster the node that
    /// commits a room's log writes its snapshots.
    #[arg(long, env = "HANDOFF_SNAPSHOT_EVERY", default_value_t = SNAPSHOT_EVERY_UPDATES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: u64,

    /// Seconds without an edit, join or leave after which a live room with nobody connected ends by
    /// itself (as if the interviewer had ended it).
    #[arg(long, env = "HANDOFF_ROOM_IDLE_END_S", default_value_t = ROOM_IDLE_END_SECS)]
    pub room_idle_end_s: u64,

    /// Seconds after a room ended during which the interviewer may reopen it.
    #[arg(long, env = "HANDOFF_REOPEN_WINDOW_S", default_value_t = REOPEN_WINDOW_SECS)]
    pub reopen_window_s: u64,

    /// Seconds to keep a submission and everything recorded for it (rooms, logs, notes, scores) after it
    /// was submitted and its last room ended; then it is purged. 0 keeps everything.
    #[arg(long, env = "HANDOFF_RETENTION_S", default_value_t = 0)]
    pub retention_s: u64,

    /// Frames queued for one client before it is disconnected as a slow consumer (it reconnects and
    /// resyncs; frames are never dropped silently).
    #[arg(long, env = "HANDOFF_CLIENT_OUTBOX_FRAMES", default_value_t = OUTBOX_FRAMES)]
    pub client_outbox_frames: usize,

    /// URL that receives a signed POST when a room ends.
    #[arg(long, env = "HANDOFF_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// HMAC-SHA256 secret for `X-Handoff-Signature`. When unset, one is generated once in the data dir.
    #[arg(long, env = "HANDOFF_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// First retry delay of a failed webhook in milliseconds; doubled on every further failure.
    #[arg(long, env = "HANDOFF_WEBHOOK_RETRY_MS", default_value_t = WEBHOOK_RETRY_BASE_MS)]
    pub webhook_retry_ms: u64,

    /// Directory holding the built web client (`index.html` and `assets/`). Default: the repository's
    /// `web-client/dist`, as built by `npm --prefix web-client run build`.
    #[arg(long, env = "HANDOFF_WEB_DIR")]
    pub web_dir: Option<PathBuf>,

    /// Voice in rooms (an SFU inside the server). With `--voice=false` every `join` is refused with
    /// `voice_off`, whatever the room was promoted with.
    #[arg(long, env = "HANDOFF_VOICE", default_value_t = true, action = clap::ArgAction::Set)]
    pub voice: bool,

    /// UDP ports voice may use, as `FIRST-LAST`: each voice loop (one per core, at most 8) binds one
    /// port of the range, and every member in voice reaches the server through its room's loop's port;
    /// open the range in the firewall. Default: ephemeral ports.
    #[arg(long, env = "HANDOFF_VOICE_UDP_PORTS", value_parser = parse_port_range)]
    pub voice_udp_ports: Option<(u16, u16)>,

    /// The public IP browsers reach this server's voice ports at, when the server sits behind a 1:1
    /// NAT (cloud instances): announced in place of the private address.
    #[arg(long, env = "HANDOFF_VOICE_PUBLIC_IP")]
    pub voice_public_ip: Option<IpAddr>,

    /// The local IP voice binds its UDP ports on. Default: every interface, announced to browsers as
    /// the address of the default route (give `127.0.0.1` for voice on loopback only, as the tests do).
    #[arg(long, env = "HANDOFF_VOICE_BIND_IP", default_value = "0.0.0.0")]
    pub voice_bind_ip: IpAddr,

    /// STUN/TURN servers handed to browsers, comma-separated, each `URL` or `URL|USERNAME|CREDENTIAL`
    /// (e.g. `turn:turn.example.com:3478?transport=udp|handoff|secret`). Default: none, which suffices
    /// when the server's voice ports are reachable directly.
    #[arg(long, env = "HANDOFF_ICE_SERVERS", hide_env_values = true, value_delimiter = ',')]
    pub ice_servers: Vec<String>,

    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `handoff_server=debug`.
    #[arg(long, env = "HANDOFF_LOG", default_value = "info")]
    pub log: String,

    /// Async worker threads. Default: one per CPU. Fewer cap how many cores rooms and connections can use
    /// (since the room writes into sockets itself, one worker no longer saves CPU on a shared machine:
    /// docs/PERFORMANCE.md, seventh run).
    #[arg(long, env = "HANDOFF_WORKERS")]
    pub workers: Option<NonZeroUsize>,
}

impl Config {
    /// A configuration with every default, rooted at `data_dir` (used by tests and embedders).
    pub fn with_data_dir(data_dir: PathBuf) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            header_read_timeout_ms: HEADER_READ_TIMEOUT_MS,
            max_http_connections_per_addr: MAX_HTTP_CONNECTIONS_PER_ADDR,
            public_url: None,
            data_dir,
            api_key: None,
            metrics_token: None,
            token_secret: None,
            store: None,
            redis_url: None,
            redis_queue_bytes: REDIS_QUEUE_BYTES,
            room_idle_evict_s: ROOM_IDLE_EVICT_SECS,
            client_outbox_frames: OUTBOX_FRAMES,
            commit_window_ms: GROUP_COMMIT_WINDOW_MS,
            snapshot_every: SNAPSHOT_EVERY_UPDATES,
            web_dir: None,
            room_idle_end_s: ROOM_IDLE_END_SECS,
            retention_s: 0,
            reopen_window_s: REOPEN_WINDOW_SECS,
            webhook_url: None,
            webhook_secret: None,
            webhook_retry_ms: WEBHOOK_RETRY_BASE_MS,
            log: "info".into(),
            workers: None,
            voice: true,
            voice_udp_ports: None,
            voice_public_ip: None,
            voice_bind_ip: IpAddr::from([0, 0, 0, 0]),
            ice_servers: Vec::new(),
        }
    }

    /// Where the built web client is served from.
    pub fn web_dir(&self) -> PathBuf {
        self.web_dir
            .clone()
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client/dist"))
    }

    pub fn store_url(&self) -> String {
        self.store
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("handoff.db").display()))
    }
}

/// Reads `--voice-udp-ports`: `FIRST-LAST`, first ≤ last, neither 0.
fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (first, last) = text.split_once('-').ok_or("expected FIRST-LAST, e.g. 50000-50100")?;
    let port = |p: &str| p.trim().parse::<u16>().map_err(|e| format!("{p:?}: {e}"));
    let (first, last) = (port(first)?, port(last)?);
    if first == 0 || first > last {
        return Err(format!("{first}-{last}: the first port must be at least 1 and not above the last"));
    }
    Ok((first, last))
}

impl std::fmt::Debug for Config {
    /// Opaque: it holds the API key and the metrics token, which never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<Config, clap::Error> {
        let argv = ["handoff", "serve"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Serve(config) => config,
            _ => panic!("parsed as another command"),
        })
    }

    #[test]
    fn workers_default_to_the_runtime_choice_and_zero_is_refused_with_a_reason() {
        assert!(serve(&[]).unwrap().workers.is_none(), "unset: tokio's default, one per CPU");
        assert_eq!(serve(&["--workers", "1"]).unwrap().workers.map(NonZeroUsize::get), Some(1));
        let refused = serve(&["--workers", "0"]).expect_err("zero workers could serve nothing");
        assert!(refused.to_string().contains("--workers"), "{refused}");
    }

    #[test]
    fn voice_flags_parse_and_bad_ranges_are_refused() {
        let config = serve(&[]).unwrap();
        assert!(config.voice && config.voice_udp_ports.is_none() && config.ice_servers.is_empty());
        let config = serve(&[
            "--voice=false",
            "--voice-udp-ports",
            "50000-50100",
            "--ice-servers",
            "stun:a.example:3478,turn:b.example:3478|u|p",
        ])
        .unwrap();
        assert!(!config.voice);
        assert_eq!(config.voice_udp_ports, Some((50000, 50100)));
        assert_eq!(config.ice_servers.len(), 2);
        for bad in ["50100-50000", "0-10", "50000", "a-b"] {
            assert!(serve(&["--voice-udp-ports", bad]).is_err(), "{bad}");
        }
    }
}
