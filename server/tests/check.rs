//! `handoff check` as an operator runs it before going live: one line per check (ok / warn / FAIL with
//! what to do) and a non-zero exit on any FAIL. A good configuration passes; a loose data dir, a taken
//! listen port or voice port, an unreachable store or Redis and a low open-file limit each fail, naming
//! the fix; a Redis without AOF is warned about. Needs `redis-server` on PATH (a missing one fails the
//! test).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const API_KEY: &str = "check-test-api-key-0123456789";
/// An open-file limit above the descriptor budget, set in the shell that runs the check.
const ENOUGH_FILES: &str = "65536";

/// `handoff check` with `args` under `ulimit -n files` (the hard limit, when `files` is above it), none
/// of the operator's `HANDOFF_*` settings leaking in.
fn check_with_files(data_dir: &Path, files: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -n "$1" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; shift; exec "$@""#)
        .arg("sh")
        .arg(files)
        .arg(env!("CARGO_BIN_EXE_handoff"))
        .args(["check", "--api-key", API_KEY, "--metrics-token", API_KEY])
        .args(["--public-url", "https://handoff.example.com", "--data-dir"])
        .arg(data_dir)
        .args(args);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HANDOFF_")) {
        cmd.env_remove(key);
    }
    // From the environment, so a test's `--listen` overrides it.
    cmd.env("HANDOFF_LISTEN", "127.0.0.1:0");
    cmd.output().expect("handoff check runs")
}

fn check(data_dir: &Path, args: &[&str]) -> Output {
    check_with_files(data_dir, ENOUGH_FILES, args)
}

fn report(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The report's line for the check named `what` (the name stands after the level).
fn line(out: &Output, what: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(what)))
        .unwrap_or_else(|| panic!("no {what:?} line in:\n{}", report(out)))
        .to_owned()
}

/// A data dir as `serve` leaves it: 0700, and its files 0600.
fn data_dir(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[test]
fn a_good_configuration_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = check(&data_dir(tmp.path()), &[]);
    assert!(out.status.success(), "{}", report(&out));
    for what in ["api key", "public url", "data dir", "listen", "voice ports", "store"] {
        assert!(line(&out, what).starts_with("ok"), "{}", report(&out));
    }
    // Above the budget; below the kit's 65536 where the hard limit is lower (a warning).
    assert!(!line(&out, "open files").starts_with("FAIL"), "{}", report(&out));
    assert!(!report(&out).lines().any(|l| l.starts_with("FAIL")), "{}", report(&out));
}

#[test]
fn a_data_dir_others_can_read_fails_naming_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir(tmp.path());
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = check(&dir, &[]);
    assert!(!out.status.success(), "{}", report(&out));
    let data = line(&out, "data dir");
    assert!(data.starts_with("FAIL") && data.contains("755") && data.contains("chmod 700"), "{data}");

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = dir.join("token-secret");
    std::fs::write(&secret, "s").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = check(&dir, &[]);
    let data = line(&out, "data dir");
    assert!(!out.status.success() && data.starts_with("FAIL"), "{}", report(&out));
    assert!(data.contains("token-secret") && data.contains("chmod"), "{data}");
}

#[test]
fn a_taken_listen_port_and_a_taken_voice_port_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = check(&data_dir(tmp.path()), &["--listen", &addr]);
    assert!(!out.status.success(), "{}", report(&out));
    let listen = line(&out, "listen");
    assert!(listen.starts_with("FAIL") && listen.contains(&addr) && listen.contains("--listen"), "{listen}");

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port().to_string();
    let range = format!("{port}-{port}");
    let out = check(&tmp.path().join("data"), &["--voice-bind-ip", "127.0.0.1", "--voice-udp-ports", &range]);
    let voice = line(&out, "voice ports");
    assert!(!out.status.success() && voice.starts_with("FAIL") && voice.contains(&port), "{}", report(&out));
}

#[test]
fn an_unreachable_store_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let out = check(&data_dir(tmp.path()), &["--store", "postgres://postgres@127.0.0.1:1/x"]);
    assert!(!out.status.success(), "{}", report(&out));
    let store = line(&out, "store");
    assert!(store.starts_with("FAIL") && store.contains("127.0.0.1:1"), "{store}");
}

#[test]
fn redis_is_checked_when_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir(tmp.path());
    let redis = common::redis::RedisServer::start();
    let out = check(&dir, &["--redis-url", &redis.url()]);
    assert!(line(&out, "redis").starts_with("ok"), "a Redis with AOF answers: {}", report(&out));
    // Serve refuses cluster mode on SQLite (every node needs the one shared store), so check fails it.
    let cluster = line(&out, "cluster");
    assert!(
        !out.status.success() && cluster.starts_with("FAIL") && cluster.contains("postgres://"),
        "{cluster}"
    );

    let out = check(&dir, &["--redis-url", "redis://127.0.0.1:1"]);
    assert!(!out.status.success(), "{}", report(&out));
    let redis = line(&out, "redis");
    assert!(redis.starts_with("FAIL") && redis.contains("--redis-url"), "{redis}");

    // A Redis that would lose its data on a restart is named.
    let forgetful = common::redis::RedisServer::start_without_persistence();
    let out = check(&dir, &["--redis-url", &forgetful.url()]);
    let redis = line(&out, "redis");
    assert!(redis.starts_with("warn") && redis.contains("appendonly is no"), "{redis}");
}

#[test]
fn an_open_file_limit_below_the_budget_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let out = check_with_files(&data_dir(tmp.path()), "1024", &[]);
    assert!(!out.status.success(), "{}", report(&out));
    let files = line(&out, "open files");
    assert!(files.starts_with("FAIL") && files.contains("LimitNOFILE"), "{files}");
}
