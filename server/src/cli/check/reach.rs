//! The checks that reach out: the listen address and the voice ports can be bound, the store and Redis
//! answer. Each is bounded by [`REACH_TIMEOUT_MS`], so an address that drops packets fails rather than
//! hangs.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use super::Outcome;
use crate::config::Config;
use crate::store::{MEMORY_URL, StoreError, postgres_probe, redact_url, sqlite_backup};

/// Milliseconds a store or Redis has to answer.
const REACH_TIMEOUT_MS: u64 = 5_000;
/// Voice ports tried at most: a wider range is sampled evenly (each bind is cheap, but a range of
/// thousands says little more than a sample of it).
const MAX_PORTS_TRIED: usize = 1_000;
/// Taken ports a report names at most.
const MAX_PORTS_NAMED: usize = 10;

pub(super) async fn all(config: &Config) -> Vec<Outcome> {
    let mut out = vec![listen(config.listen), voice_ports(config), store(config).await];
    if let Some(url) = &config.redis_url {
        out.push(redis(url).await);
    }
    out
}

fn listen(addr: SocketAddr) -> Outcome {
    const WHAT: &str = "listen";
    match TcpListener::bind(addr) {
        Ok(_) => Outcome::ok(WHAT, format!("{addr} is free")),
        Err(e) => Outcome::fail(
            WHAT,
            format!("cannot bind {addr}: {e}; stop what holds it or choose another --listen"),
        ),
    }
}

/// Binds every port of `--voice-udp-ports` (or a sample of a wide range) on `--voice-bind-ip`.
fn voice_ports(config: &Config) -> Outcome {
    const WHAT: &str = "voice ports";
    if !config.voice {
        return Outcome::ok(WHAT, "voice is off");
    }
    let Some((first, last)) = config.voice_udp_ports else {
        return Outcome::ok(
            WHAT,
            "any ephemeral UDP port (set --voice-udp-ports to open a range in the firewall)",
        );
    };
    let total = usize::from(last - first) + 1;
    let stride = total.div_ceil(MAX_PORTS_TRIED);
    let tried: Vec<u16> = (first..=last).step_by(stride).collect();
    let taken: Vec<u16> =
        tried.iter().copied().filter(|p| UdpSocket::bind((config.voice_bind_ip, *p)).is_err()).collect();
    let range = format!("{first}-{last} on {}", config.voice_bind_ip);
    let sampled = if stride > 1 { format!(" (sampled {} of {total})", tried.len()) } else { String::new() };
    if taken.is_empty() {
        return Outcome::ok(WHAT, format!("{range}: every port binds{sampled}"));
    }
    let named: Vec<String> = taken.iter().take(MAX_PORTS_NAMED).map(u16::to_string).collect();
    let more = if taken.len() > MAX_PORTS_NAMED { ", …" } else { "" };
    let found =
        format!("{range}: {} of {} taken ({}{more}){sampled}", taken.len(), tried.len(), named.join(", "));
    if taken.len() == tried.len() {
        return Outcome::fail(WHAT, format!("{found}; choose a free range for --voice-udp-ports"));
    }
    Outcome::warn(WHAT, format!("{found}; each voice loop needs one port"))
}

/// The store answers and its schema is one this build knows (it is not migrated here).
async fn store(config: &Config) -> Outcome {
    const WHAT: &str = "store";
    let url = config.store_url();
    let shown = redact_url(&url);
    let verdict = |found: Option<u32>, known: u32| match found {
        None => Outcome::ok(
            WHAT,
            format!("{shown} answers; the first start creates the schema (version {known})"),
        ),
        Some(v) if v < known => {
            Outcome::ok(WHAT, format!("{shown} at schema version {v}; the next start migrates it to {known}"))
        }
        Some(v) => Outcome::ok(WHAT, format!("{shown} at schema version {v}, this build's")),
    };
    let fail = |e: StoreError| {
        let fix = match e {
            StoreError::SchemaTooNew { .. } => "run the newer handoff, or restore a backup taken before",
            _ => "check --store, and that the database is up and reachable from here",
        };
        Outcome::fail(WHAT, format!("{shown}: {e}; {fix}"))
    };
    if url == MEMORY_URL {
        return Outcome::warn(WHAT, "memory://: nothing survives a restart (benchmarks and demos only)");
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = std::path::PathBuf::from(path);
        if !path.exists() {
            return Outcome::ok(WHAT, format!("{shown} does not exist yet: the first start creates it"));
        }
        let inspected = tokio::task::spawn_blocking(move || sqlite_backup::inspect(&path)).await;
        return match inspected {
            Ok(Ok(contents)) => verdict(Some(contents.version), sqlite_backup::known_version()),
            Ok(Err(e)) => fail(e),
            Err(e) => fail(StoreError::backend(e)),
        };
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let probe = tokio::time::timeout(
            Duration::from_millis(REACH_TIMEOUT_MS),
            postgres_probe::schema_version(&url),
        );
        return match probe.await {
            Ok(Ok((found, known))) => verdict(found, known),
            Ok(Err(e)) => fail(e),
            Err(_) => fail(StoreError::backend(format!("no answer in {REACH_TIMEOUT_MS} ms"))),
        };
    }
    fail(StoreError::UnsupportedUrl(shown.clone()))
}

/// Redis answers a PING, and keeps what a cluster needs it to keep: AOF on (a restart without it loses
/// every edit PostgreSQL does not hold yet, which the nodes then have to get back from the clients) and
/// `noeviction` (an evicted stream or seq does the same). Either missing is a warning; a Redis whose
/// `CONFIG` is disabled (managed services) is trusted, with a note.
async fn redis(url: &str) -> Outcome {
    const WHAT: &str = "redis";
    let shown = redact_url(url);
    let ping = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        let mut settings = Vec::new();
        for name in ["appendonly", "maxmemory-policy"] {
            let pair: redis::RedisResult<Vec<String>> =
                redis::cmd("CONFIG").arg("GET").arg(name).query_async(&mut conn).await;
            settings.push(pair.ok().and_then(|p| p.get(1).cloned()));
        }
        Ok::<_, redis::RedisError>(settings)
    };
    match tokio::time::timeout(Duration::from_millis(REACH_TIMEOUT_MS), ping).await {
        Ok(Ok(settings)) => match (settings[0].as_deref(), settings[1].as_deref()) {
            (Some("yes"), Some("noeviction")) => {
                Outcome::ok(WHAT, format!("{shown} answers (AOF on, maxmemory-policy noeviction)"))
            }
            (Some(aof), Some(policy)) => Outcome::warn(
                WHAT,
                format!(
                    "{shown} answers, but appendonly is {aof} and maxmemory-policy {policy}: a cluster needs \
                     appendonly yes and noeviction, or a Redis restart or eviction loses edits not yet in \
                     PostgreSQL until the clients send them again"
                ),
            ),
            _ => Outcome::ok(
                WHAT,
                format!(
                    "{shown} answers (CONFIG is disabled: make sure AOF is on and maxmemory-policy is noeviction)"
                ),
            ),
        },
        Ok(Err(e)) => Outcome::fail(WHAT, format!("{shown}: {e}; start Redis or fix --redis-url")),
        Err(_) => Outcome::fail(
            WHAT,
            format!("{shown}: no answer in {REACH_TIMEOUT_MS} ms; start Redis or fix --redis-url"),
        ),
    }
}
