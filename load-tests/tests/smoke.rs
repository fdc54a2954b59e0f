//! The typing scenario end to end against the real server started in-process on 127.0.0.1:0: nothing
//! lost, nothing diverged. No assertion on latency: speed belongs in the benchmark, not in tests.

use std::time::Duration;

use handoff_load::TypingConfig;
use handoff_load::mint::INITIAL_CONTENT;
use handoff_load::target::{Kind, Target};
use handoff_server::app;
use handoff_server::config::Config;

const API_KEY: &str = "load-test-api-key-0123";
const ROOMS: usize = 3;
const CLIENTS_PER_ROOM: usize = 3;
const KEYS_PER_SEC: f64 = 5.0;
const DURATION: Duration = Duration::from_secs(3);
const DRAIN: Duration = Duration::from_secs(10);

fn handoff(url: &str) -> Target {
    Target { kind: Kind::Handoff, url: url.to_owned(), api_key: Some(API_KEY.into()) }
}

/// A server on 127.0.0.1:0 with its embedded database in a fresh directory (kept until the test ends).
async fn started() -> (tempfile::TempDir, app::Running) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().to_path_buf());
    config.api_key = Some(API_KEY.into());
    let running = app::start(config).await.expect("server starts");
    (dir, running)
}

/// The smoke run against the server at `url`: appending only, no server figures.
fn typing(url: &str) -> TypingConfig {
    TypingConfig {
        target: handoff(url),
        rooms: ROOMS,
        clients_per_room: CLIENTS_PER_ROOM,
        keys_per_sec: KEYS_PER_SEC,
        rhythm: handoff_load::metronome::Rhythm::Words,
        chunk: 1,
        keep_chars: 0,
        duration: DURATION,
        drain: DRAIN,
        late: Duration::from_millis(handoff_load::limits::DEFAULT_LATE_MS),
        server_pid: None,
        quiet: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_loses_nothing_and_rooms_agree() {
    let (_dir, running) = started().await;

    // The server runs in this process: its CPU and memory are ours.
    let cfg = TypingConfig { server_pid: Some(std::process::id()), ..typing(&running.public_url) };
    let report = handoff_load::typing::run(&cfg).await.expect("the run happens");
    running.shutdown();
    running.stopped().await.expect("clean stop");

    println!("{}", report.table());
    let keys = (DURATION.as_secs_f64() * KEYS_PER_SEC) as u64 * ROOMS as u64;
    assert_eq!(report.keys_scheduled, keys);
    assert_eq!(report.keys_sent, keys);
    assert_eq!(report.watchers, (ROOMS * (CLIENTS_PER_ROOM - 1)) as u64);
    assert_eq!(report.deliveries_expected, keys * (CLIENTS_PER_ROOM - 1) as u64);
    assert_eq!(report.deliveries_received, report.deliveries_expected, "{report:?}");
    assert_eq!(report.lost, 0);
    assert_eq!(report.rooms_diverged, 0);
    assert_eq!(report.client_errors, 0, "{:?}", report.errors);
    assert_eq!(report.fanout.count, report.deliveries_expected);
    assert_eq!(report.fanout_from_send.count, report.deliveries_expected);
    assert_eq!(report.join.count, (ROOMS * CLIENTS_PER_ROOM) as u64);
    assert!(report.awareness_received > 0, "cursor updates reach the watchers");
    let figures = report.server_figures.as_ref().expect("server figures were read");
    assert_eq!(figures.delivered_updates, report.deliveries_received);
    assert!(figures.cpu_s > 0.0, "the server burned some CPU: {figures:?}");
    assert!((figures.user_s + figures.system_s - figures.cpu_s).abs() < 1e-9, "{figures:?}");
    assert!(report.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typist_that_deletes_as_it_types_loses_nothing_and_rooms_agree() {
    let (_dir, running) = started().await;
    // Shorter than the preloaded file, so every key deletes as well as types.
    let keep = INITIAL_CONTENT.chars().count() / 2;
    let cfg = TypingConfig { keep_chars: keep, ..typing(&running.public_url) };
    let report = handoff_load::typing::run(&cfg).await.expect("the run happens");
    running.shutdown();
    running.stopped().await.expect("clean stop");

    println!("{}", report.table());
    assert_eq!(report.typed_chars_max, keep, "the typed file was trimmed as it grew");
    assert_eq!(report.deliveries_received, report.deliveries_expected, "{report:?}");
    assert_eq!(report.rooms_diverged, 0, "every client saw the same deletions");
    assert!(report.ok(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_joins_every_client_and_reads_server_memory() {
    let (_dir, running) = started().await;
    let cfg = handoff_load::idle::IdleConfig {
        server: running.public_url.clone(),
        api_key: API_KEY.into(),
        rooms: ROOMS,
        clients_per_room: CLIENTS_PER_ROOM,
        submission: None,
        // The server runs in this process.
        server_pid: std::process::id(),
        settle: Duration::from_millis(10),
    };
    let report = handoff_load::idle::run(&cfg).await.expect("the run happens");
    running.shutdown();
    running.stopped().await.expect("clean stop");
    assert_eq!(report.connections, ROOMS * CLIENTS_PER_ROOM, "every client joined");
    assert!(report.rss_kib_before > 0 && report.rss_kib_all_connected > 0, "memory was read: {report:?}");
}
