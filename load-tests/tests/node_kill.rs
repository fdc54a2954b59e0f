//! `typing --nodes … --kill-node-after` against a real cluster: three nodes on a test-owned Redis (AOF on)
//! and a fresh PostgreSQL database, the third a process of its own, which the run kills with SIGKILL
//! partway through typing. Its clients rejoin the other nodes with the documents they hold; nothing
//! typed is lost, every room converges to one text, and the report says how long that took. No
//! assertion on time. Needs `redis-server` on PATH and PostgreSQL (as the server's cluster tests do);
//! each is a failure when missing, never a skip.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use handoff_load::TypingConfig;
use handoff_load::nodes::{self, NodesConfig};
use handoff_load::placement::Layout;
use handoff_load::target::{Kind, Target};
use handoff_server::app;
use handoff_server::config::Config;

const API_KEY: &str = "load-test-api-key-0123";
const TOKEN_SECRET: &str = "load-test-token-secret-0123456789";
const ROOMS: usize = 6;
const NODES: usize = 3;
/// The environment variable that makes [`node_process`] a node: `STORE REDIS DATA_DIR`.
const NODE_VAR: &str = "HANDOFF_LOAD_TEST_NODE";
/// What a node process prints once it listens, before its base URL.
const LISTENING: &str = "test node listening on";
/// The server the test databases are created on (as the server's tests read it).
const ADMIN_URL_VAR: &str = "HANDOFF_TEST_POSTGRES_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Longest Redis may take to open its port.
const REDIS_START: Duration = Duration::from_secs(30);

fn node_config(data_dir: &std::path::Path, store: &str, redis: &str) -> Config {
    let mut config = Config::with_data_dir(data_dir.to_path_buf());
    config.api_key = Some(API_KEY.into());
    config.token_secret = Some(TOKEN_SECRET.into());
    config.store = Some(store.into());
    config.redis_url = Some(redis.into());
    config.voice = false;
    config
}

/// A node of [`a_killed_node_s_clients_rejoin_and_every_room_converges`], run by it as a process of this
/// test binary, so that it can be killed with SIGKILL. Does nothing when started any other way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a node process of the kill test, which starts it itself"]
async fn node_process() {
    let Ok(spec) = std::env::var(NODE_VAR) else { return };
    let parts: Vec<&str> = spec.split(' ').collect();
    let [store, redis, dir] = parts[..] else { panic!("{NODE_VAR} is `STORE REDIS DATA_DIR`") };
    let running =
        app::start(node_config(std::path::Path::new(dir), store, redis)).await.expect("node starts");
    println!("{LISTENING} {}", running.public_url);
    std::future::pending::<()>().await;
}

/// A node process, killed when dropped (if the run has not killed it already).
struct NodeProcess(Child);

impl NodeProcess {
    fn start(store: &str, redis: &str, dir: &std::path::Path) -> (NodeProcess, String) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "node_process", "--ignored", "--nocapture", "--test-threads=1"])
            .env(NODE_VAR, format!("{store} {redis} {}", dir.display()))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the node process starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            // The test harness writes `test node_process ... ` on the same line first.
            .find_map(|l| l.split_once(LISTENING).map(|(_, u)| u.trim().to_owned()))
            .expect("the node process says where it listens");
        std::thread::spawn(move || for _ in lines {});
        (NodeProcess(child), url)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` of this test on a free loopback port, AOF on, killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--appendonly", "yes", "--save", ""])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test needs redis-server on PATH (.ci/redis.sh installs it): {e}")
            });
        let deadline = std::time::Instant::now() + REDIS_START;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "redis-server did not open port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port, _dir: dir }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database; [`Database::drop_now`] drops it.
struct Database {
    admin: tokio_postgres::Client,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Database {
        let admin_url = std::env::var(ADMIN_URL_VAR).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let (admin, conn) =
            tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
                panic!(
                    "this test needs PostgreSQL at {admin_url} (set {ADMIN_URL_VAR}; .ci/run starts it): {e}"
                )
            });
        tokio::spawn(conn);
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("handoff_load_kill_{}_{stamp}", std::process::id());
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(b, _)| b);
        Database { url: format!("{base}/{name}"), admin, name }
    }

    async fn drop_now(self) {
        let _ =
            self.admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_clients_rejoin_and_every_room_converges() {
    let redis = Redis::start();
    let db = Database::create().await;
    let dirs: Vec<tempfile::TempDir> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    // Nodes 0 and 1 run in this process; node 2 is a process of its own, to be killed.
    let mut running = Vec::new();
    for dir in &dirs[..2] {
        running.push(app::start(node_config(dir.path(), &db.url, &redis.url())).await.expect("node starts"));
    }
    let (doomed, doomed_url) = NodeProcess::start(&db.url, &redis.url(), dirs[2].path());
    let mut urls: Vec<String> = running.iter().map(|r| r.public_url.clone()).collect();
    urls.push(doomed_url);
    let me = std::process::id();

    let typing = TypingConfig {
        target: Target { kind: Kind::Handoff, url: urls[0].clone(), api_key: Some(API_KEY.into()) },
        rooms: ROOMS,
        clients_per_room: 3,
        keys_per_sec: 5.0,
        rhythm: handoff_load::metronome::Rhythm::Steady,
        chunk: 1,
        keep_chars: 0,
        duration: Duration::from_secs(4),
        drain: Duration::from_secs(30),
        late: Duration::from_millis(handoff_load::limits::DEFAULT_LATE_MS),
        server_pid: None,
        quiet: true,
    };
    let cfg = NodesConfig {
        typing,
        nodes: urls,
        redis_url: Some(redis.url()),
        node_pids: vec![me, me, doomed.0.id()],
        kill: Some((2, Duration::from_secs(2))),
        layout: Layout::Spread,
    };
    let report = nodes::run(&cfg).await.expect("the run happens");
    println!("{}", report.table());
    for r in running {
        r.shutdown();
        r.stopped().await.expect("clean stop");
    }
    drop(doomed);
    db.drop_now().await;

    let t = &report.typing;
    assert_eq!((t.lost, t.rooms_diverged, t.client_errors, t.join_failures), (0, 0, 0, 0), "{t:?}");
    let kill = report.kill.as_ref().expect("the kill is reported");
    // Three clients per room over three nodes: every room had one client on the killed node, and each
    // of those came back through another node once.
    assert_eq!(kill.node, 2);
    assert_eq!(kill.affected_rooms, ROOMS as u64);
    assert_eq!(kill.rejoins, ROOMS as u64);
    assert_eq!(kill.rooms_not_converged, 0);
    assert_eq!(kill.convergence.count, ROOMS as u64, "every affected room's convergence is timed");
    assert!(kill.keys_before_kill > 0, "keys were typed before the kill: {kill:?}");
    assert_eq!(kill.lost_before_kill, 0);
    assert!(report.ok());
    assert!(report.node_figures[2].is_none(), "the killed node's /metrics cannot be read after the run");
}
