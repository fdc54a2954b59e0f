//! `typing --nodes` end to end against one real server given twice, as a cluster of two "nodes" would be
//! driven: nothing lost, every (sender node → receiver node) pair measured, each node's `/metrics` read.
//! No assertion on latency.

use std::time::Duration;

use handoff_load::TypingConfig;
use handoff_load::nodes::{self, NodesConfig};
use handoff_load::placement::Layout;
use handoff_load::target::{Kind, Target};
use handoff_server::app;
use handoff_server::config::Config;

const API_KEY: &str = "load-test-api-key-0123";
const ROOMS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_two_nodes_reports_every_pair() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().to_path_buf());
    config.api_key = Some(API_KEY.into());
    let running = app::start(config).await.expect("server starts");
    let url = running.public_url.clone();

    let typing = TypingConfig {
        target: Target { kind: Kind::Handoff, url: url.clone(), api_key: Some(API_KEY.into()) },
        rooms: ROOMS,
        clients_per_room: 3,
        keys_per_sec: 5.0,
        rhythm: handoff_load::metronome::Rhythm::Steady,
        chunk: 1,
        keep_chars: 0,
        duration: Duration::from_secs(2),
        drain: Duration::from_secs(10),
        late: Duration::from_millis(handoff_load::limits::DEFAULT_LATE_MS),
        server_pid: None,
        quiet: true,
    };
    // The server runs in this process: its CPU time is ours.
    let pid = std::process::id();
    let cfg = NodesConfig {
        typing,
        nodes: vec![url.clone(), url],
        redis_url: None,
        node_pids: vec![pid, pid],
        kill: None,
        layout: Layout::Spread,
    };
    let report = nodes::run(&cfg).await.expect("the run happens");
    running.shutdown();
    running.stopped().await.expect("clean stop");
    println!("{}", report.table());

    assert!(report.ok(), "nothing lost, diverged or failed");
    let keys = report.typing.keys_scheduled / ROOMS as u64;
    // Rooms 0 and 2 type on node 0, 1 and 3 on node 1; each room's watchers sit on the other node and
    // on its own.
    let pairs: Vec<(usize, usize, u64)> =
        report.pairs.iter().map(|p| (p.from, p.to, p.fanout.count)).collect();
    let per_pair = 2 * keys;
    assert_eq!(pairs, vec![(0, 0, per_pair), (0, 1, per_pair), (1, 0, per_pair), (1, 1, per_pair)]);
    assert_eq!(report.cross_node.count, 2 * per_pair);
    assert_eq!(report.same_node.count, 2 * per_pair);
    assert!(report.redis.is_none());
    for f in &report.node_figures {
        let f = f.as_ref().expect("each node's /metrics was read");
        assert_eq!(f.delivered_updates, 2 * per_pair, "each node's watchers got their keys");
        assert!(f.server_fanout_writes >= report.typing.deliveries_received, "{f:?}");
        assert_eq!(f.cpu_from, "proc");
    }
}
