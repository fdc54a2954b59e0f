//! `handoff check`: the configuration `serve` would run with, checked before going live. One line per
//! check — `ok`, `warn` (it runs, but read this) or `FAIL` (fix this first) — with what to do, and a
//! non-zero exit when anything fails. It changes nothing: no data dir is created, no schema migrated.
//! The checks that read local files and settings are here; those that reach the network (listen
//! address, voice ports, store, Redis) are in `check/reach.rs`.

mod reach;

use std::fmt;
use std::path::Path;

use handoff_protocol::limits::{MAX_HTTP_CONNECTIONS, MIN_API_KEY_CHARS};

use crate::config::Config;

/// Descriptors the server needs before its first WebSocket client (docs/security/connections.md, "File-
/// descriptor budget"): every HTTP connection the server accepts, the reserve and SQLite's files.
const FIXED_DESCRIPTORS: u64 = MAX_HTTP_CONNECTIONS as u64 + 256 + 15;
/// The limit the deployment kit sets (`LimitNOFILE=65536`, `ulimit -n 65536`).
const RECOMMENDED_NOFILE: u64 = 65_536;
/// Files a data dir check lists by name at most; beyond, it counts them.
const MAX_FILES_NAMED: usize = 5;
/// How deep the data dir check looks under the data dir (the recordings are two levels down).
const MAX_DATA_DIR_DEPTH: usize = 3;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of the report: what was checked, what was found, and what to do about it.
#[derive(Debug)]
struct Outcome {
    level: Level,
    what: &'static str,
    found: String,
}

impl Outcome {
    fn ok(what: &'static str, found: impl Into<String>) -> Outcome {
        Outcome { level: Level::Ok, what, found: found.into() }
    }
    fn warn(what: &'static str, found: impl Into<String>) -> Outcome {
        Outcome { level: Level::Warn, what, found: found.into() }
    }
    fn fail(what: &'static str, found: impl Into<String>) -> Outcome {
        Outcome { level: Level::Fail, what, found: found.into() }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{level:<4}  {:<12} {}", self.what, self.found)
    }
}

/// Runs every check and prints the report; fails when any check failed.
pub fn run(config: Config) -> anyhow::Result<()> {
    let mut outcomes = settings(&config);
    outcomes.push(data_dir(&config.data_dir));
    outcomes.push(descriptors());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    outcomes.extend(runtime.block_on(reach::all(&config)));
    for outcome in &outcomes {
        println!("{outcome}");
    }
    let count = |level| outcomes.iter().filter(|o| o.level == level).count();
    let (failed, warned) = (count(Level::Fail), count(Level::Warn));
    println!("{} checks: {} ok, {warned} warn, {failed} FAIL", outcomes.len(), count(Level::Ok));
    if failed > 0 {
        anyhow::bail!(
            "{failed} check(s) failed: fix what the FAIL lines say, then run `handoff check` again"
        );
    }
    Ok(())
}

/// The settings that parse but may not fit together or may not suit production.
fn settings(config: &Config) -> Vec<Outcome> {
    let mut out = Vec::new();
    let key_chars = config.api_key.as_deref().map_or(0, |k| k.chars().count());
    out.push(match key_chars {
        0 => Outcome::warn(
            "api key",
            "not set: development mode generates one; set --api-key (HANDOFF_API_KEY) in production",
        ),
        n if n < MIN_API_KEY_CHARS => Outcome::fail(
            "api key",
            format!("{n} characters, at least {MIN_API_KEY_CHARS} needed: `openssl rand -hex 32`"),
        ),
        _ => Outcome::ok("api key", "set"),
    });
    out.push(match &config.public_url {
        None => Outcome::warn(
            "public url",
            format!("not set: links use http://{}; set --public-url to what browsers reach", config.listen),
        ),
        Some(u) => match reqwest::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Outcome::ok("public url", u.clone()),
            _ => Outcome::fail("public url", format!("{u:?} is not an http(s) URL: fix --public-url")),
        },
    });
    if let Some(hook) = config.webhook_url.as_ref().filter(|h| reqwest::Url::parse(h).is_err()) {
        out.push(Outcome::fail("webhook url", format!("{hook:?} is not a URL: fix --webhook-url")));
    }
    if config.metrics_token.is_none() {
        out.push(Outcome::warn(
            "metrics",
            "/metrics is open to anyone who reaches the server: set --metrics-token or keep it private",
        ));
    }
    let store = config.store_url();
    let shared = store.starts_with("postgres://") || store.starts_with("postgresql://");
    if config.redis_url.is_some() && !shared {
        out.push(Outcome::fail(
            "cluster",
            "--redis-url is set but the store is not PostgreSQL, so serve refuses to start: every node of \
             a cluster needs the one shared store (--store postgres://…)",
        ));
    }
    out.push(voice_public_ip(config));
    out
}

/// `--voice-public-ip` (an address already, or the flag would not parse): one browsers can reach.
fn voice_public_ip(config: &Config) -> Outcome {
    const WHAT: &str = "voice ip";
    let Some(ip) = config.voice_public_ip else {
        return Outcome::ok(WHAT, "--voice-public-ip not set: voice announces this host's own addresses");
    };
    if ip.is_unspecified() || ip.is_multicast() {
        return Outcome::fail(
            WHAT,
            format!("{ip} is not an address browsers can reach: fix --voice-public-ip"),
        );
    }
    let private = match ip {
        std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => v6.is_loopback(),
    };
    if private {
        return Outcome::warn(WHAT, format!("{ip} is private: only browsers on that network reach voice"));
    }
    Outcome::ok(WHAT, format!("{ip}"))
}

/// The data dir as `serve` keeps it: 0700, owned by this user, every file in it 0600.
fn data_dir(dir: &Path) -> Outcome {
    use std::os::unix::fs::MetadataExt;
    const WHAT: &str = "data dir";
    let shown = dir.display();
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::warn(WHAT, format!("{shown} does not exist: `serve` creates it 0700"));
        }
        Err(e) => return Outcome::fail(WHAT, format!("{shown}: {e}")),
    };
    if !meta.is_dir() {
        return Outcome::fail(WHAT, format!("{shown} is not a directory: fix --data-dir"));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Outcome::fail(
            WHAT,
            format!(
                "{shown} belongs to uid {}, not to this user ({me}): `chown -R` it to the server's user",
                meta.uid()
            ),
        );
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Outcome::fail(
            WHAT,
            format!("{shown} is {mode:o}, readable by other users: `chmod 700 {shown}`"),
        );
    }
    let mut loose = Vec::new();
    loose_files(dir, 0, &mut loose);
    if !loose.is_empty() {
        let count = loose.len();
        let named: Vec<String> =
            loose.iter().take(MAX_FILES_NAMED).map(|p| p.display().to_string()).collect();
        return Outcome::fail(
            WHAT,
            format!(
                "{count} files readable by other users ({}{}): `chmod -R go-rwx {shown}`",
                named.join(", "),
                if count > MAX_FILES_NAMED { ", …" } else { "" }
            ),
        );
    }
    Outcome::ok(WHAT, format!("{shown}: 700, files 600"))
}

/// Files and directories under `dir` that others may read (group or other bits set).
fn loose_files(dir: &Path, depth: usize, out: &mut Vec<std::path::PathBuf>) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            out.push(path.clone());
        }
        if meta.is_dir() && depth < MAX_DATA_DIR_DEPTH {
            loose_files(&path, depth + 1, out);
        }
    }
}

/// The process's open-file limit against the descriptor budget.
fn descriptors() -> Outcome {
    const WHAT: &str = "open files";
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let Some(current) = limit.current else {
        return Outcome::ok(WHAT, "unlimited");
    };
    let budget = "docs/security/connections.md, \"File-descriptor budget\"";
    if current < FIXED_DESCRIPTORS {
        return Outcome::fail(
            WHAT,
            format!(
                "limit {current}, below the {FIXED_DESCRIPTORS} the server needs before its first client: \
                 set LimitNOFILE={RECOMMENDED_NOFILE} (systemd) or `ulimit -n {RECOMMENDED_NOFILE}` ({budget})"
            ),
        );
    }
    let clients = current - FIXED_DESCRIPTORS;
    if current < RECOMMENDED_NOFILE {
        return Outcome::warn(
            WHAT,
            format!(
                "limit {current}: room for about {clients} WebSocket clients; the deployment kit sets \
                 {RECOMMENDED_NOFILE} ({budget})"
            ),
        );
    }
    Outcome::ok(WHAT, format!("limit {current}: room for about {clients} WebSocket clients"))
}
