//! Redis seen from outside over a run of cluster mode: its CPU time and the commands it served, read from
//! `INFO` (sections `cpu` and `stats`) before and after. A few lines of RESP over a plain TCP socket:
//! two commands per run do not need a client library.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::limits::{HTTP_TIMEOUT, MAX_REDIS_INFO_BYTES};

/// Redis's default port, when the URL names none.
const DEFAULT_PORT: u16 = 6379;

/// One reading of Redis's counters.
#[derive(Debug, Clone, Copy)]
pub struct RedisSample {
    /// `used_cpu_sys + used_cpu_user`, in seconds.
    pub cpu_s: f64,
    /// `total_commands_processed`.
    pub commands: u64,
    /// `instantaneous_ops_per_sec`: Redis's own rate over its last few seconds.
    pub ops_per_sec: u64,
    pub at: Instant,
}

/// What Redis did between two samples.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RedisFigures {
    /// CPU time (user + system) Redis used.
    pub cpu_s: f64,
    pub wall_s: f64,
    /// Commands Redis processed (every client's, not only the nodes').
    pub commands: u64,
    /// `commands / wall_s`.
    pub ops_per_sec: f64,
    /// Redis's `instantaneous_ops_per_sec` at the end of the window.
    pub instantaneous_ops_per_sec: u64,
}

impl RedisFigures {
    pub fn between(before: &RedisSample, after: &RedisSample) -> RedisFigures {
        let wall_s = after.at.saturating_duration_since(before.at).as_secs_f64();
        let commands = after.commands.saturating_sub(before.commands);
        RedisFigures {
            cpu_s: (after.cpu_s - before.cpu_s).max(0.0),
            wall_s,
            commands,
            ops_per_sec: if wall_s > 0.0 { commands as f64 / wall_s } else { 0.0 },
            instantaneous_ops_per_sec: after.ops_per_sec,
        }
    }

    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "redis              CPU {:.2} s over {:.1} s ({:.0} % of a core), {} commands ({:.0}/s; {}/s at the end)",
            self.cpu_s,
            self.wall_s,
            100.0 * self.cpu_s / self.wall_s.max(f64::MIN_POSITIVE),
            self.commands,
            self.ops_per_sec,
            self.instantaneous_ops_per_sec
        );
        s
    }
}

/// `host:port` of a `redis://host[:port][/db]` URL.
pub fn address(url: &str) -> anyhow::Result<String> {
    let rest = url.strip_prefix("redis://").context("--redis-url must start with redis://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    ensure!(!authority.contains('@'), "--redis-url with a user or password is not supported here");
    ensure!(!authority.is_empty(), "--redis-url names no host");
    Ok(if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_owned()
    } else {
        format!("{authority}:{DEFAULT_PORT}")
    })
}

/// Reads Redis's counters at `url`.
pub async fn sample(url: &str) -> anyhow::Result<RedisSample> {
    let addr = address(url)?;
    let text = tokio::time::timeout(HTTP_TIMEOUT, info(&addr))
        .await
        .with_context(|| format!("INFO from Redis at {addr} timed out"))??;
    let at = Instant::now();
    let fields = parse_info(&text);
    let number = |k: &str| -> anyhow::Result<f64> {
        fields.get(k).with_context(|| format!("Redis INFO lacks {k}"))?.parse().with_context(|| k.to_owned())
    };
    Ok(RedisSample {
        cpu_s: number("used_cpu_sys")? + number("used_cpu_user")?,
        commands: number("total_commands_processed")? as u64,
        ops_per_sec: number("instantaneous_ops_per_sec")? as u64,
        at,
    })
}

/// `INFO cpu` and `INFO stats` in one connection, as one text.
async fn info(addr: &str) -> anyhow::Result<String> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to Redis at {addr}"))?;
    let mut stream = BufReader::new(stream);
    let mut text = String::new();
    for section in ["cpu", "stats"] {
        let command = format!("*2\r\n$4\r\nINFO\r\n${}\r\n{section}\r\n", section.len());
        stream.get_mut().write_all(command.as_bytes()).await?;
        text.push_str(&read_bulk(&mut stream).await?);
    }
    Ok(text)
}

/// Reads one RESP bulk string (`$len\r\n…\r\n`); an error reply (`-…`) is an error.
async fn read_bulk(stream: &mut BufReader<TcpStream>) -> anyhow::Result<String> {
    let mut header = String::new();
    stream.read_line(&mut header).await?;
    let header = header.trim_end();
    if let Some(err) = header.strip_prefix('-') {
        bail!("Redis answered: {err}");
    }
    let len: usize =
        header.strip_prefix('$').and_then(|l| l.parse().ok()).context("not a Redis bulk reply")?;
    ensure!(len <= MAX_REDIS_INFO_BYTES, "Redis INFO reply of {len} bytes is too long");
    let mut body = vec![0; len + 2];
    stream.read_exact(&mut body).await?;
    body.truncate(len);
    String::from_utf8(body).context("Redis INFO is not UTF-8")
}

/// The `key:value` lines of an `INFO` reply (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> HashMap<&str, &str> {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.trim_end().split_once(':')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_and_port() {
        assert_eq!(address("redis://127.0.0.1:6379/").unwrap(), "127.0.0.1:6379");
        assert_eq!(address("redis://redis.internal/2").unwrap(), "redis.internal:6379");
        assert_eq!(address("redis://localhost:7000").unwrap(), "localhost:7000");
        assert!(address("http://127.0.0.1:6379").is_err());
        assert!(address("redis://:secret@127.0.0.1").is_err());
        assert!(address("redis:///0").is_err());
    }

    #[test]
    fn info_fields_and_the_window_between_two_samples() {
        let text = "# CPU\r\nused_cpu_sys:1.50\r\nused_cpu_user:2.25\r\n\r\n# Stats\r\ntotal_commands_processed:1000\r\n";
        let f = parse_info(text);
        assert_eq!(f["used_cpu_sys"], "1.50");
        assert_eq!(f["total_commands_processed"], "1000");
        assert_eq!(f.len(), 3);

        let t0 = Instant::now();
        let before = RedisSample { cpu_s: 3.75, commands: 1000, ops_per_sec: 5, at: t0 };
        let after = RedisSample {
            cpu_s: 4.25,
            commands: 3000,
            ops_per_sec: 900,
            at: t0 + std::time::Duration::from_secs(2),
        };
        let w = RedisFigures::between(&before, &after);
        assert_eq!((w.commands, w.instantaneous_ops_per_sec), (2000, 900));
        assert!((w.cpu_s - 0.5).abs() < 1e-9 && (w.ops_per_sec - 1000.0).abs() < 1e-9, "{w:?}");
    }
}
