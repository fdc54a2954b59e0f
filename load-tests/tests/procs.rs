//! `--procs`: a typing run split over child processes of the real binary, against the real server started
//! in-process on 127.0.0.1:0. The merged report must count exactly what one process would; children that
//! fail must fail the run with a clear error, never hang it. No assertion on latency.

use std::path::Path;
use std::time::Duration;

use handoff_load::target::{Kind, Target};
use handoff_load::{TypingConfig, procs};
use handoff_server::app;
use handoff_server::config::Config;

const API_KEY: &str = "load-test-api-key-0123";
const PROCS: usize = 2;
const ROOMS: usize = 4;
const CLIENTS_PER_ROOM: usize = 3;
const KEYS_PER_SEC: f64 = 5.0;
const DURATION: Duration = Duration::from_secs(2);
const DRAIN: Duration = Duration::from_secs(10);

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_handoff-load"))
}

fn cfg(url: &str) -> TypingConfig {
    TypingConfig {
        target: Target { kind: Kind::Handoff, url: url.to_owned(), api_key: Some(API_KEY.into()) },
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
async fn a_run_split_over_two_processes_reports_like_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().to_path_buf());
    config.api_key = Some(API_KEY.into());
    let running = app::start(config).await.expect("server starts");

    // The server runs in this process, the clients in the children: the parent watches the server.
    let cfg = TypingConfig { server_pid: Some(std::process::id()), ..cfg(&running.public_url) };
    let report = procs::run(exe(), &cfg, PROCS).await.expect("the run happens");
    running.shutdown();
    running.stopped().await.expect("clean stop");

    println!("{}", report.table());
    let keys = (DURATION.as_secs_f64() * KEYS_PER_SEC) as u64 * ROOMS as u64;
    let watchers = (ROOMS * (CLIENTS_PER_ROOM - 1)) as u64;
    assert_eq!((report.rooms, report.clients_per_room), (ROOMS, CLIENTS_PER_ROOM));
    assert_eq!(report.keys_scheduled, keys);
    assert_eq!(report.keys_sent, keys);
    assert_eq!(report.watchers, watchers);
    assert_eq!(report.deliveries_expected, keys * (CLIENTS_PER_ROOM - 1) as u64);
    assert_eq!(report.deliveries_received, report.deliveries_expected, "{report:?}");
    assert_eq!(report.lost, 0);
    assert_eq!((report.rooms_diverged, report.join_failures), (0, 0));
    assert_eq!(report.client_errors, 0, "{:?}", report.errors);
    assert_eq!(report.fanout.count, report.deliveries_received);
    assert_eq!(report.fanout_from_send.count, report.deliveries_received);
    assert_eq!(report.join.count, (ROOMS * CLIENTS_PER_ROOM) as u64);
    assert_eq!(report.send_lag.count, keys);
    assert!(report.awareness_received > 0, "cursor updates reach the watchers");
    let figures = report.server_figures.as_ref().expect("the parent read the server's figures");
    assert_eq!(figures.delivered_updates, report.deliveries_received);
    assert!(report.ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_dies_fails_the_run_and_says_why() {
    // Nothing listens on port 1: each child fails to mint its rooms and exits before joining.
    let err = procs::run(exe(), &cfg("http://127.0.0.1:1"), PROCS).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("child process") && msg.contains("before joining"), "{msg}");
    assert!(msg.contains("end of its stderr"), "the child's own error is shown: {msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_that_prints_garbage_fails_the_run() {
    // echo prints its arguments (the child's command line) instead of `joined`.
    let err = procs::run(Path::new("echo"), &cfg("http://127.0.0.1:1"), PROCS).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("instead of \"joined\""), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_runs_are_validated_before_any_child_starts() {
    // Each refusal must come from validation, not from failing to start the (missing) program.
    for (cfg, procs, why) in [
        (cfg("http://127.0.0.1:1"), 0, "--procs must be 1..="),
        (cfg("http://127.0.0.1:1"), ROOMS + 1, "--rooms must be at least --procs"),
        (
            TypingConfig { duration: Duration::from_millis(1500), ..cfg("http://127.0.0.1:1") },
            PROCS,
            "whole seconds",
        ),
    ] {
        let msg = format!("{:#}", procs::run(Path::new("/nonexistent"), &cfg, procs).await.unwrap_err());
        assert!(msg.contains(why), "expected {why:?}, got {msg}");
        assert!(!msg.contains("/nonexistent"), "no child may start: {msg}");
    }
}
