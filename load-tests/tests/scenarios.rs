//! Every scenario end to end against real servers on loopback: handoff and the relay in-process, the
//! y-websocket and Hocuspocus peers launched through `peers/start.sh` (Node and npm are required: the
//! test fails without them, it does not skip). Small runs, no assertion on speed.

use std::path::PathBuf;
use std::time::Duration;

use handoff_load::join_storm::{self, JoinStormConfig};
use handoff_load::launch::{self, Programs};
use handoff_load::promote::{self, PromoteConfig};
use handoff_load::reconnect::{self, ReconnectConfig};
use handoff_load::relay::{Hop, Writes};
use handoff_load::target::{Kind, Target};
use handoff_load::{TypingConfig, typing};
use handoff_server::app::{self, Running};
use handoff_server::config::Config;

const API_KEY: &str = "load-test-api-key-0123";

async fn handoff() -> (Running, Target, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().to_path_buf());
    config.api_key = Some(API_KEY.into());
    let running = app::start(config).await.expect("server starts");
    let target =
        Target { kind: Kind::Handoff, url: running.public_url.clone(), api_key: Some(API_KEY.into()) };
    (running, target, dir)
}

async fn relay(writes: Writes, hop: Hop) -> Target {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(handoff_load::relay::serve(listener, writes, hop));
    Target { kind: Kind::Relay, url, api_key: None }
}

fn typing_cfg(target: Target) -> TypingConfig {
    TypingConfig {
        target,
        rooms: 3,
        clients_per_room: 3,
        keys_per_sec: 10.0,
        rhythm: handoff_load::metronome::Rhythm::Words,
        chunk: 1,
        keep_chars: 0,
        duration: Duration::from_secs(2),
        drain: Duration::from_secs(10),
        late: Duration::from_millis(handoff_load::limits::DEFAULT_LATE_MS),
        server_pid: None,
        quiet: true,
    }
}

fn storm_cfg(target: Target) -> JoinStormConfig {
    JoinStormConfig { target, rooms: 2, joiners: 5, bytes: 20 * 1024, files: 5, storms: 1, server_pid: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_delivers_every_key_and_cursor_whichever_way_it_writes_and_hops() {
    for (writes, hop) in
        [(Writes::Direct, Hop::None), (Writes::Tasks, Hop::None), (Writes::Direct, Hop::Room)]
    {
        let report = typing::run(&typing_cfg(relay(writes, hop).await)).await.expect("the run happens");
        println!("{writes:?} {hop:?}\n{}", report.table());
        assert_eq!(report.target, "relay");
        assert_eq!(report.deliveries_received, 3 * 20 * 2, "{writes:?} {hop:?}: {report:?}");
        assert!(report.awareness_received > 0, "{writes:?} {hop:?}");
        assert!(report.ok(), "{writes:?} {hop:?}: {:?}", report.errors);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pastes_arrive_whole_and_rooms_agree() {
    let (running, target, _dir) = handoff().await;
    let cfg = TypingConfig { chunk: 16 * 1024, keys_per_sec: 2.0, ..typing_cfg(target) };
    let report = typing::run(&cfg).await.expect("the run happens");
    running.shutdown();
    println!("{}", report.table());
    assert_eq!(report.scenario, "large-paste");
    assert_eq!(report.deliveries_received, 3 * 4 * 2);
    assert!(report.ok(), "{:?}", report.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_storm_gives_every_joiner_the_whole_submission() {
    let (running, target, _dir) = handoff().await;
    // Two storms into the same rooms: the second's joiners find them loaded, and all twenty are counted.
    let cfg = JoinStormConfig { storms: 2, ..storm_cfg(target) };
    let report = join_storm::run(&cfg).await.expect("the run happens");
    running.shutdown();
    println!("{}", report.table());
    assert_eq!(report.first_sync.count, 2 * 2 * 5);
    assert_eq!(report.room_open.count, 2);
    assert_eq!((report.join_failures, report.incomplete), (0, 0), "{:?}", report.errors);
    assert_eq!(report.submission_files, 5);
    // The generator's own CPU over the storm was read (here the server runs in the same process).
    assert!(report.generator_cpu_us_per_joiner > 0.0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_storm_refuses_the_relay_which_keeps_no_document() {
    let err = join_storm::run(&storm_cfg(relay(Writes::Direct, Hop::None).await)).await.unwrap_err();
    assert!(err.to_string().contains("keeps none"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reconnect_storm_offline_keys_reach_everyone() {
    let (running, target, _dir) = handoff().await;
    let cfg = ReconnectConfig {
        target,
        rooms: 3,
        clients_per_room: 3,
        keys_online: 5,
        keys_offline: 7,
        settle: Duration::from_secs(20),
        server_pid: None,
        quiet: true,
    };
    let report = reconnect::run(&cfg).await.expect("the run happens");
    running.shutdown();
    println!("{}", report.table());
    assert_eq!(report.reconnect.count, 9, "every client reconnected");
    assert_eq!(report.caught_up.count, 6, "every watcher got every key");
    assert_eq!((report.lost, report.rooms_diverged, report.join_failures), (0, 0, 0), "{:?}", report.errors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_turns_submissions_into_ready_rooms() {
    let (running, target, _dir) = handoff().await;
    let cfg =
        PromoteConfig { target, count: 6, concurrency: 2, bytes: 20 * 1024, files: 5, server_pid: None };
    let report = promote::run(&cfg).await.expect("the run happens");
    running.shutdown();
    println!("{}", report.table());
    assert_eq!(report.promote_to_ready.count, 6);
    assert_eq!((report.failures, report.incomplete), (0, 0), "{:?}", report.errors);
    assert!(report.per_second > 0.0);
}

/// The Node peers, launched the way `--compare` launches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_peers_take_typing_and_a_join_storm() {
    let peers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers");
    let programs = Programs {
        handoff: PathBuf::new(),
        relay: PathBuf::new(),
        peers,
        handoff_args: Vec::new(),
        relay_args: Vec::new(),
    };
    for kind in [Kind::YWebsocket, Kind::Hocuspocus] {
        let server = launch::launch(kind, &programs).await.expect("the peer starts (needs node and npm)");
        let cfg = TypingConfig { server_pid: Some(server.pid), ..typing_cfg(server.target.clone()) };
        let report = typing::run(&cfg).await.expect("typing runs");
        println!("{}", report.table());
        assert!(report.ok(), "{kind:?}: {:?}", report.errors);
        assert!(report.server_figures.is_some(), "the peer's CPU was read");
        let storm = join_storm::run(&storm_cfg(server.target.clone())).await.expect("join-storm runs");
        println!("{}", storm.table());
        assert_eq!(storm.first_sync.count, 10);
        assert!(storm.ok(), "{kind:?}: {:?}", storm.errors);
        server.stop().await;
    }
}
