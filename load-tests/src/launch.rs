//! Starting the servers a comparison runs against, one at a time on a free loopback port: handoff (a
//! fresh data dir each time), the relay, and the Node peers through `peers/start.sh`. Each is stopped
//! (killed: nothing of it is kept) before the next starts, so every server has the machine to itself.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::limits::{LAUNCH_TIMEOUT, READY_POLL};
use crate::target::{Kind, Target};

/// The integrator API key a launched handoff is given.
const LAUNCH_API_KEY: &str = "handoff-load-api-key";

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `handoff` binary (build it with `cargo build --release -p handoff-server`).
    pub handoff: PathBuf,
    /// The `handoff-relay` binary.
    pub relay: PathBuf,
    /// `load-tests/peers`, whose `start.sh` starts the Node peers.
    pub peers: PathBuf,
    /// Extra arguments for `handoff serve` (e.g. `--store memory://`).
    pub handoff_args: Vec<String>,
    /// Extra arguments for `handoff-relay` (e.g. `--writes tasks`).
    pub relay_args: Vec<String>,
}

/// A server started for a run. Killed when dropped.
pub struct Launched {
    pub target: Target,
    pub pid: u32,
    child: Child,
    data_dir: Option<PathBuf>,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Launched {
    /// Kills the server and waits for it to be gone.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// HTTP connections a launched handoff takes from one address (the load tool's own, on loopback): its
/// whole cap (`handoff_protocol::limits::MAX_HTTP_CONNECTIONS`), as for a server behind a proxy.
const LOOPBACK_HTTP_CONNECTIONS: usize = handoff_protocol::limits::MAX_HTTP_CONNECTIONS;

/// Starts a server of `kind` and waits until it answers.
pub async fn launch(kind: Kind, programs: &Programs) -> anyhow::Result<Launched> {
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut data_dir = None;
    let mut cmd = match kind {
        Kind::Handoff => {
            let dir = std::env::temp_dir().join(format!("handoff-load-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).context("data dir")?;
            let mut c = Command::new(&programs.handoff);
            c.args(["serve", "--listen", &addr, "--api-key", LAUNCH_API_KEY, "--log", "warn"])
                .arg("--data-dir")
                .arg(&dir)
                .args(&programs.handoff_args)
                .env("HANDOFF_PUBLIC_URL", format!("http://{addr}"))
                // Every load client comes from 127.0.0.1: a reconnect storm's hundreds of handshakes at
                // once would meet the per-address cap meant for one real client.
                .env("HANDOFF_MAX_HTTP_CONNECTIONS_PER_ADDR", LOOPBACK_HTTP_CONNECTIONS.to_string());
            data_dir = Some(dir);
            c
        }
        Kind::Relay => {
            let mut c = Command::new(&programs.relay);
            c.args(["--listen", &addr]).args(&programs.relay_args);
            c
        }
        Kind::YWebsocket | Kind::Hocuspocus => {
            let mut c = Command::new("bash");
            c.arg(programs.peers.join("start.sh")).arg(kind.name()).arg(port.to_string());
            c
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", kind.name()))?;
    let pid = child.id().context("server exited at once")?;
    let target = match kind {
        Kind::Handoff => {
            Target { kind, url: format!("http://{addr}"), api_key: Some(LAUNCH_API_KEY.to_owned()) }
        }
        _ => Target { kind, url: format!("ws://{addr}"), api_key: None },
    };
    let mut launched = Launched { target, pid, child, data_dir };
    wait_ready(&mut launched, &addr).await?;
    Ok(launched)
}

/// Waits until the server accepts connections (handoff: until `/readyz` says its store is up).
async fn wait_ready(l: &mut Launched, addr: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + LAUNCH_TIMEOUT;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    loop {
        if let Some(status) = l.child.try_wait()? {
            bail!("{} exited before it was ready ({status})", l.target.kind.name());
        }
        let ready = match l.target.kind {
            Kind::Handoff => {
                http.get(format!("http://{addr}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
            }
            _ => tokio::net::TcpStream::connect(addr).await.is_ok(),
        };
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} not ready on {addr} within {LAUNCH_TIMEOUT:?}", l.target.kind.name());
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
