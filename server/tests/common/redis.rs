//! A test-owned `redis-server` on a free loopback port, with AOF on in a temporary directory (or, to
//! show what a Redis that loses its data does, without any persistence), killed when dropped. Without `redis-server` the test fails, never skips: `.ci/redis.sh` installs it.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    aof: bool,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(true)
    }

    /// Without AOF (and without snapshots): a restart comes back empty, as a misconfigured Redis does.
    pub fn start_without_persistence() -> RedisServer {
        Self::start_with(false)
    }

    fn start_with(aof: bool) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = RedisServer { child: None, port, dir, aof };
        server.spawn();
        server
    }

    /// The URL nodes take as `--redis-url`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                if self.aof { "yes" } else { "no" },
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test needs redis-server on PATH (.ci/redis.sh installs it): {e}")
            });
        self.child = Some(child);
        let deadline = std::time::Instant::now() + super::PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops Redis the way an operator's restart does (SHUTDOWN writes the AOF).
    pub fn stop(&mut self) {
        let status = Command::new("redis-cli").args(["-p", &self.port.to_string(), "shutdown"]).status();
        assert!(status.is_ok(), "redis-cli runs (.ci/redis.sh installs it)");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Kills it at once (SIGKILL): without AOF everything it held is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory (its AOF brings the data back).
    pub fn start_again(&mut self) {
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
