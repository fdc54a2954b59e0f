//! `--procs N`: a typing run (typing, large-paste, soak) split over N child processes of this program, so
//! a run may hold more clients than one process's file limit allows, merged into one report exactly as
//! if one process had run it.
//!
//! The parent ([`run`]) starts N children with the run's flags and `--shard i/N --quiet`; child `i` runs
//! the run's rooms `i`, `i + N`, `i + 2N`… ([`typing::run_shard`]), each room keeping its global index for
//! its phase in the key interval. The protocol, one line at a time over the child's stdin and stdout:
//!
//! 1. the child opens its rooms, joins its clients and prints `joined`;
//! 2. once every child has joined, the parent writes the start instant of the timetable to each child, as
//!    microseconds since the Unix epoch (now + [`START_DELAY`]); each child turns it into an instant of its
//!    own clock ([`serve_shard`]);
//! 3. each child types, drains, and prints its [`ShardResult`] (counts and whole histograms) as one JSON
//!    line.
//!
//! The parent merges the tallies into one [`Report`]; it alone watches the server process, over the
//! typing phase. A child that dies, prints anything else or misses a deadline fails the run: the others
//! are killed. Every wait is bounded (the `SHARD_*` limits).

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail, ensure};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

use crate::limits::{
    MAX_SHARD_LINE, MAX_SHARD_STDERR_LINES, SHARD_EXIT_TIMEOUT, SHARD_JOIN_TIMEOUT, SHARD_MAX_START_AHEAD,
    SHARD_RESULT_GRACE, START_DELAY,
};
use crate::progress::Progress;
use crate::report::{Report, Tally};
use crate::server_watch::{ServerFigures, ServerWatch};
use crate::typing::{self, Shard, TypingConfig};

/// What a child prints once its clients are synced.
pub const JOINED: &str = "joined";

/// Environment variables a child must not take from the parent: it writes no JSON and watches no server
/// (the parent does both).
const NOT_FOR_CHILDREN: [&str; 2] = ["HANDOFF_LOAD_JSON", "HANDOFF_LOAD_SERVER_PID"];

/// A child's result: the last line it prints.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardResult {
    /// Which shard this is, `index/count`.
    pub shard: String,
    pub tally: Tally,
}

/// Runs `cfg` split over `procs` child processes of the program `exe` (this program:
/// `std::env::current_exe()`), and merges their results into one report. The server's process
/// (`cfg.server_pid`) is watched here, over the typing phase. `Err` when the run could not happen, a
/// child failed or missed a deadline (the others are killed then).
pub async fn run(exe: &Path, cfg: &TypingConfig, procs: usize) -> anyhow::Result<Report> {
    cfg.validate_split(procs)?;
    ensure!(
        cfg.duration.subsec_nanos() == 0 && cfg.drain.subsec_nanos() == 0,
        "a run split over processes needs whole seconds of duration and drain"
    );
    let wall = Instant::now();
    let progress = Progress::new(cfg.quiet);
    let mut children = Vec::with_capacity(procs);
    for index in 0..procs {
        match ChildProc::spawn(exe, cfg, Shard { index, count: procs }) {
            Ok(child) => children.push(child),
            Err(e) => {
                kill_all(&mut children).await;
                return Err(e);
            }
        }
    }
    match drive(&mut children, cfg, &progress).await {
        Ok((tally, server)) => {
            for child in &mut children {
                child.stderr_done().await;
            }
            Ok(Report::from_tally(cfg, tally, server, wall.elapsed()))
        }
        Err(Failed { index, error }) => {
            kill_all(&mut children).await;
            let child = &mut children[index];
            child.stderr_done().await;
            let exit = child.status.map_or("could not be reaped".to_owned(), |s| format!("ended ({s})"));
            let mut msg = format!("child process {} of the run failed: {error:#}; it {exit}", child.shard);
            let said = child.stderr_tail();
            if said.is_empty() {
                msg.push_str(" and printed nothing on stderr");
            } else {
                msg.push_str(&format!("; the end of its stderr:\n  {}", said.join("\n  ")));
            }
            Err(anyhow!(msg))
        }
    }
}

/// An error of one child.
struct Failed {
    index: usize,
    error: anyhow::Error,
}

/// The rest of [`run`] once the children are started: joined, start, results.
async fn drive(
    children: &mut [ChildProc],
    cfg: &TypingConfig,
    progress: &Progress,
) -> Result<(Tally, Option<ServerFigures>), Failed> {
    let bar = progress.phase("join", children.len() as u64);
    let joined_by = Instant::now() + SHARD_JOIN_TIMEOUT;
    try_join_all(children.iter_mut().enumerate().map(|(index, child)| {
        let bar = bar.clone();
        async move {
            let joined = timeout_at(joined_by, child.expect_joined()).await;
            let joined = joined.map_err(|_| anyhow!("not joined within {} s", SHARD_JOIN_TIMEOUT.as_secs()));
            joined.and_then(|r| r).map_err(|error| Failed { index, error })?;
            bar.inc(1);
            Ok(())
        }
    }))
    .await?;
    bar.finish();

    // Everyone is synced in every process: the timetable starts a little ahead, for all at once.
    let start = SystemTime::now() + START_DELAY;
    // A clock before 1970 sends 0, which every child refuses as too far away.
    let start_us = start.duration_since(UNIX_EPOCH).unwrap_or_default();
    let server = ServerWatch::start(cfg.server_pid);
    let line = format!("{}\n", start_us.as_micros());
    let procs = children.len();
    let typing_bar =
        progress.timed("typing", START_DELAY + cfg.duration, move || format!("{procs} processes"));
    let results_by = Instant::now() + START_DELAY + cfg.duration + cfg.drain + SHARD_RESULT_GRACE;
    let tallies = try_join_all(children.iter_mut().enumerate().map(|(index, child)| {
        let line = line.as_str();
        async move {
            let result = timeout_at(results_by, async {
                child.send_start(line).await?;
                child.expect_result().await
            })
            .await;
            let result = result.map_err(|_| anyhow!("no result within the run's time and a grace period"));
            result.and_then(|r| r).map_err(|error| Failed { index, error })
        }
    }))
    .await?;
    typing_bar.finish();
    let server = match server {
        Some(w) => w.finish().await,
        None => None,
    };
    let mut tally = Tally::default();
    for t in &tallies {
        tally.merge(t);
    }
    Ok((tally, server))
}

/// One child process and its pipes.
struct ChildProc {
    shard: Shard,
    process: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The last lines of its stderr (each is also printed as it comes).
    tail: Arc<Mutex<VecDeque<String>>>,
    stderr: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl ChildProc {
    fn spawn(exe: &Path, cfg: &TypingConfig, shard: Shard) -> anyhow::Result<ChildProc> {
        let mut command = Command::new(exe);
        command
            .args(child_args(cfg, shard))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in NOT_FOR_CHILDREN {
            command.env_remove(name);
        }
        // The key goes through the environment, not the command line every user of the machine can read.
        match &cfg.target.api_key {
            Some(key) => command.env("HANDOFF_LOAD_API_KEY", key),
            None => command.env_remove("HANDOFF_LOAD_API_KEY"),
        };
        let mut process =
            command.spawn().with_context(|| format!("starting {} as child {shard}", exe.display()))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (process.stdin.take(), process.stdout.take(), process.stderr.take())
        else {
            bail!("child {shard} has no pipes");
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr = tokio::spawn(forward_stderr(BufReader::new(stderr), shard, tail.clone()));
        Ok(ChildProc {
            shard,
            process,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            tail,
            stderr: Some(stderr),
            status: None,
        })
    }

    /// The next line the child prints; `Err` when it closed its output instead.
    async fn line(&mut self, waiting_for: &str) -> anyhow::Result<String> {
        match read_line(&mut self.stdout).await? {
            Some(line) => Ok(line),
            None => bail!("it closed its output before {waiting_for}"),
        }
    }

    async fn expect_joined(&mut self) -> anyhow::Result<()> {
        let line = self.line("joining").await?;
        ensure!(line == JOINED, "it printed {:?} instead of {JOINED:?}", clip(&line));
        Ok(())
    }

    async fn send_start(&mut self, line: &str) -> anyhow::Result<()> {
        let mut stdin = self.stdin.take().context("the start was already sent")?;
        stdin.write_all(line.as_bytes()).await.context("sending the start instant")?;
        stdin.flush().await.context("sending the start instant")?;
        // Dropping stdin closes it: nothing more is sent.
        Ok(())
    }

    /// Reads the child's result, then waits for it to exit, which it must do successfully.
    async fn expect_result(&mut self) -> anyhow::Result<Tally> {
        let line = self.line("printing its result").await?;
        let result: ShardResult = serde_json::from_str(&line)
            .with_context(|| format!("it printed garbage instead of its result: {:?}", clip(&line)))?;
        ensure!(result.shard == self.shard.to_string(), "it printed the result of shard {}", result.shard);
        let status = timeout(SHARD_EXIT_TIMEOUT, self.process.wait())
            .await
            .map_err(|_| anyhow!("it did not exit within {} s of its result", SHARD_EXIT_TIMEOUT.as_secs()))?
            .context("waiting for it to exit")?;
        self.status = Some(status);
        ensure!(status.success(), "it exited ({status}) after its result");
        Ok(result.tally)
    }

    /// Waits (bounded) until its stderr is read to the end.
    async fn stderr_done(&mut self) {
        if let Some(task) = self.stderr.take() {
            let _ = timeout(SHARD_EXIT_TIMEOUT, task).await;
        }
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default()
    }
}

/// Kills every child that is still running and reaps it (bounded), noting how each ended.
async fn kill_all(children: &mut [ChildProc]) {
    for child in children.iter_mut() {
        // Fails only when it already exited: then it is reaped below.
        let _ = child.process.start_kill();
    }
    for child in children.iter_mut() {
        if child.status.is_none() {
            child.status = timeout(SHARD_EXIT_TIMEOUT, child.process.wait()).await.ok().and_then(Result::ok);
        }
    }
}

/// Prints a child's stderr as it comes, each line marked with the shard, keeping the last few lines for
/// the error if the child fails.
async fn forward_stderr<R: AsyncBufRead + Unpin>(
    mut stderr: R,
    shard: Shard,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    // Read to the end whatever comes (a full pipe would block the child): long lines come in pieces,
    // bytes that are not UTF-8 are replaced.
    let limit = u64::try_from(MAX_SHARD_LINE).unwrap_or(u64::MAX);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut stderr).take(limit).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).trim_end_matches('\n').to_owned();
        eprintln!("[shard {shard}] {line}");
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == MAX_SHARD_STDERR_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
}

/// The command line of child `shard`: the run's flags, the shard, no progress bars. The API key goes
/// through the environment (see `ChildProc::spawn`).
pub fn child_args(cfg: &TypingConfig, shard: Shard) -> Vec<String> {
    let mut args: Vec<String> = if cfg.chunk > 1 {
        vec!["large-paste".into(), "--paste-bytes".into(), cfg.chunk.to_string()]
    } else {
        vec!["typing".into()]
    };
    args.extend(
        [
            ("--target", cfg.target.kind.name().to_owned()),
            ("--server", cfg.target.url.clone()),
            ("--rooms", cfg.rooms.to_string()),
            ("--clients-per-room", cfg.clients_per_room.to_string()),
            // Display of an f64 reads back as the same f64.
            ("--keys-per-sec", cfg.keys_per_sec.to_string()),
            ("--rhythm", cfg.rhythm.name().to_owned()),
            ("--duration-s", cfg.duration.as_secs().to_string()),
            ("--drain-s", cfg.drain.as_secs().to_string()),
            ("--keep-chars", cfg.keep_chars.to_string()),
            ("--shard", shard.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value]),
    );
    args.push("--quiet".into());
    args
}

/// The child's side of the protocol: runs `shard` of `cfg`, prints [`JOINED`] on `output` once its clients
/// are synced, takes the timetable's start from the line `input` then gives, and prints its
/// [`ShardResult`] as one line. The child's stdin as `input` should be read without a blocking thread
/// (see [`stdin`] and [`stdout`]), so that a child left waiting can still exit.
pub async fn serve_shard<R, W>(
    cfg: &TypingConfig,
    shard: Shard,
    mut input: R,
    mut output: W,
) -> anyhow::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let progress = Progress::new(true);
    let (inp, out) = (&mut input, &mut output);
    let tally = typing::run_shard(cfg, shard, &progress, move || async move {
        out.write_all(format!("{JOINED}\n").as_bytes()).await.context("printing `joined`")?;
        out.flush().await.context("printing `joined`")?;
        let line = timeout(SHARD_JOIN_TIMEOUT, read_line(inp))
            .await
            .map_err(|_| anyhow!("no start instant within {} s", SHARD_JOIN_TIMEOUT.as_secs()))?
            .context("reading the start instant")?
            .context("the parent closed stdin before sending the start instant")?;
        let start_us: u64 =
            line.trim().parse().with_context(|| format!("a bad start instant: {:?}", clip(&line)))?;
        local_instant(
            UNIX_EPOCH + Duration::from_micros(start_us),
            SystemTime::now(),
            std::time::Instant::now(),
        )
    })
    .await?;
    let result = ShardResult { shard: shard.to_string(), tally };
    let mut line = serde_json::to_string(&result).context("encoding the result")?;
    line.push('\n');
    output.write_all(line.as_bytes()).await.context("printing the result")?;
    output.flush().await.context("printing the result")?;
    Ok(())
}

/// This process's stdin for [`serve_shard`]: read through the runtime's event loop, not a blocking thread
/// (a blocking read cannot be cancelled and would hold up the exit of a child whose parent never sent
/// the start). Requires stdin to be a pipe, as the parent makes it.
pub fn stdin() -> anyhow::Result<BufReader<pipe::Receiver>> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned().context("duplicating stdin")?;
    let pipe = pipe::Receiver::from_owned_fd(fd).context("stdin of a --shard child must be a pipe")?;
    Ok(BufReader::new(pipe))
}

/// This process's stdout for [`serve_shard`], likewise; nothing else may print on it.
pub fn stdout() -> anyhow::Result<pipe::Sender> {
    let fd = std::io::stdout().as_fd().try_clone_to_owned().context("duplicating stdout")?;
    pipe::Sender::from_owned_fd(fd).context("stdout of a --shard child must be a pipe")
}

/// The instant of this process's clock at the wall-clock time `start`, given a reading of both clocks
/// (`now_wall`, `now`). A start more than [`SHARD_MAX_START_AHEAD`] away is refused as garbage.
pub fn local_instant(
    start: SystemTime,
    now_wall: SystemTime,
    now: std::time::Instant,
) -> anyhow::Result<std::time::Instant> {
    let far = |d: Duration| d > SHARD_MAX_START_AHEAD;
    match start.duration_since(now_wall) {
        Ok(ahead) if !far(ahead) => Ok(now + ahead),
        Err(e) if !far(e.duration()) => Ok(now.checked_sub(e.duration()).unwrap_or(now)),
        _ => bail!("the start instant is more than {} s away from now", SHARD_MAX_START_AHEAD.as_secs()),
    }
}

/// One line of `r` without its newline; `None` at the end. Lines longer than [`MAX_SHARD_LINE`], cut off
/// by the end of the stream, or not UTF-8 are errors.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> anyhow::Result<Option<String>> {
    let mut buf = Vec::new();
    let limit = u64::try_from(MAX_SHARD_LINE).unwrap_or(u64::MAX);
    let n = (&mut *r).take(limit).read_until(b'\n', &mut buf).await.context("reading a line")?;
    if n == 0 {
        return Ok(None);
    }
    if buf.pop() != Some(b'\n') {
        if buf.len() + 1 >= MAX_SHARD_LINE {
            bail!("a line longer than {MAX_SHARD_LINE} bytes");
        }
        bail!("a line cut off by the end of the output");
    }
    Ok(Some(String::from_utf8(buf).context("a line that is not UTF-8")?))
}

/// The start of `s`, for error messages.
fn clip(s: &str) -> String {
    const SHOWN: usize = 200;
    match s.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Kind, Target};

    fn cfg() -> TypingConfig {
        TypingConfig {
            target: Target { kind: Kind::YWebsocket, url: "ws://127.0.0.1:1".into(), api_key: None },
            rooms: 10,
            clients_per_room: 3,
            keys_per_sec: 7.5,
            rhythm: crate::metronome::Rhythm::Words,
            chunk: 1,
            keep_chars: 0,
            duration: Duration::from_secs(20),
            drain: Duration::from_secs(5),
            late: Duration::from_millis(crate::limits::DEFAULT_LATE_MS),
            server_pid: Some(1),
            quiet: false,
        }
    }

    #[test]
    fn children_get_the_run_flags_and_their_shard() {
        let args = child_args(&cfg(), Shard { index: 1, count: 4 }).join(" ");
        assert_eq!(
            args,
            "typing --target y-websocket --server ws://127.0.0.1:1 --rooms 10 --clients-per-room 3 \
             --keys-per-sec 7.5 --rhythm words --duration-s 20 --drain-s 5 --keep-chars 0 --shard 1/4 --quiet"
        );
        let paste = child_args(&TypingConfig { chunk: 4096, ..cfg() }, Shard { index: 0, count: 2 });
        assert_eq!(paste[..3], ["large-paste", "--paste-bytes", "4096"]);
    }

    #[test]
    fn the_start_instant_lands_on_the_local_clock() {
        let (wall, now) = (SystemTime::now(), std::time::Instant::now());
        let ahead = Duration::from_millis(250);
        assert_eq!(local_instant(wall + ahead, wall, now).unwrap(), now + ahead);
        // A start already past stays in the past, so the timetable catches up instead of shifting.
        let behind = Duration::from_millis(30);
        assert_eq!(local_instant(wall - behind, wall, now + behind).unwrap(), now);
        assert!(local_instant(wall + SHARD_MAX_START_AHEAD * 2, wall, now).is_err());
        assert!(local_instant(UNIX_EPOCH, wall, now).is_err());
    }

    #[tokio::test]
    async fn lines_are_bounded_and_must_end() {
        let mut r = BufReader::new(&b"joined\n{\"a\":1}\nno end"[..]);
        assert_eq!(read_line(&mut r).await.unwrap().as_deref(), Some("joined"));
        assert_eq!(read_line(&mut r).await.unwrap().as_deref(), Some("{\"a\":1}"));
        assert!(read_line(&mut r).await.is_err(), "cut off");
        assert_eq!(read_line(&mut BufReader::new(&b""[..])).await.unwrap(), None);
        let long = vec![b'x'; MAX_SHARD_LINE + 10];
        assert!(read_line(&mut BufReader::new(&long[..])).await.is_err());
        assert!(read_line(&mut BufReader::new(&b"\xff\n"[..])).await.is_err());
    }

    #[test]
    fn clipped_messages_stay_short() {
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"é".repeat(500)).chars().count(), 201);
    }
}
