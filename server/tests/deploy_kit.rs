//! The deploy kit's files (`deploy/`) checked against the server they deploy: the systemd unit passes
//! `systemd-analyze verify` with no warning and is sized to the documented descriptor budget; every
//! metric the alert rules and the Grafana dashboard use is one a running server exports; every
//! `HANDOFF_*` variable the kit names is one `handoff serve --help` knows.
//! Fails, never skips, when `systemd-analyze` is missing (`.ci/run` installs systemd).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;
use handoff_protocol::limits::{MAX_HTTP_CONNECTIONS, MAX_HTTP_CONNECTIONS_PER_ADDR};

const SYSTEMD_ANALYZE: &str = "systemd-analyze";

fn kit(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(kit(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

/// The values of `key=` in a unit file, in order (a key may repeat).
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).map(str::trim).collect()
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify_without_a_warning() {
    let unit = read("systemd/handoff.service");
    let from = "ExecStart=/usr/local/bin/handoff serve";
    assert!(unit.contains(from), "deploy/systemd/handoff.service no longer holds {from:?}");
    // verify checks that ExecStart's binary exists: point it at the one cargo built for this test.
    let unit = unit.replace(from, &format!("ExecStart={} serve", env!("CARGO_BIN_EXE_handoff")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new(SYSTEMD_ANALYZE)
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "info")
        .output()
        .expect("this test needs systemd-analyze (apt-get install systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{stderr}");
    // An unknown key or an unparsable value is only a warning (exit 0): refuse those too.
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("handoff.service")).collect();
    assert!(warnings.is_empty(), "systemd-analyze verify warned:\n{}", warnings.join("\n"));
}

#[test]
fn the_systemd_unit_is_hardened_and_sized_to_the_descriptor_budget() {
    let unit = read("systemd/handoff.service");
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "handoff"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("EnvironmentFile", "/etc/handoff/handoff.env"),
    ] {
        assert!(unit_values(&unit, key).contains(&value), "{key}={value} missing from the unit");
    }
    // The data dir is the state directory, or the store would be written where ProtectSystem forbids.
    assert!(unit_values(&unit, "Environment").contains(&"HANDOFF_DATA_DIR=/var/lib/handoff"));
    // docs/security/connections.md: WebSocket clients + MAX_HTTP_CONNECTIONS + 256 reserve + ~15 for
    // SQLite; the unit must serve the documented 10,000 clients.
    let nofile: usize = unit_values(&unit, "LimitNOFILE")[0].parse().expect("LimitNOFILE is a number");
    assert!(nofile >= 10_000 + MAX_HTTP_CONNECTIONS + 256 + 15, "LimitNOFILE={nofile} is below the budget");
    // Behind a proxy every connection shares one address: the per-address cap is raised, not over the total.
    let per_addr = unit_values(&unit, "Environment")
        .iter()
        .find_map(|v| v.strip_prefix("HANDOFF_MAX_HTTP_CONNECTIONS_PER_ADDR="))
        .map(|v| v.parse::<usize>().unwrap());
    assert!(per_addr.is_some_and(|p| p > MAX_HTTP_CONNECTIONS_PER_ADDR && p <= MAX_HTTP_CONNECTIONS));
    let stop = unit_values(&unit, "TimeoutStopSec")[0];
    let stop: u64 = stop.trim_end_matches('s').parse().expect("TimeoutStopSec in seconds");
    assert!(stop > handoff_protocol::limits::HTTP_CONNECTION_GRACE_SECS, "TimeoutStopSec={stop}s");
}

/// Words of `text` that start with `prefix` and go on in `[A-Za-z0-9_]`.
fn words_with(text: &str, prefix: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(prefix) && w.len() > prefix.len())
        .map(str::to_owned)
        .collect()
}

/// Every file under `deploy/`, with its text.
fn kit_files() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&kit(""), &mut out);
    assert!(out.len() >= 6, "deploy/ holds {} files", out.len());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_alerts_and_the_dashboard_use_is_one_the_server_exports() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let scrape = server.http.get(format!("{}/metrics", server.base)).send().await.unwrap();
    assert!(scrape.status().is_success(), "/metrics answered {}", scrape.status());
    let scrape = scrape.text().await.unwrap();
    server.stop().await;
    // Families from `# TYPE name kind`; a histogram's series are its name with these suffixes.
    let mut exported = BTreeSet::new();
    for line in scrape.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split_whitespace();
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap_or(""));
        exported.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.insert(format!("{name}{suffix}"));
            }
        }
    }
    assert!(exported.contains("process_open_fds"), "the process collector is missing:\n{scrape}");
    // A labelled counter shows in a scrape only once a label was used: take those from the source.
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs"));
    let labelled = ["handoff_webhook_attempts_total", "handoff_recording_packets_dropped_total"];
    for name in labelled {
        assert!(source.as_ref().unwrap().contains(&format!("\"{name}\"")), "{name} is not in metrics.rs");
        exported.insert(name.to_owned());
    }

    let rules = read("prometheus/alerts.yml");
    let dashboard = read("grafana/handoff.json");
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_owned()))
        .collect();
    assert!(exprs.len() >= 10, "the dashboard has {} queries", exprs.len());
    let alerts = rules.lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    assert!(alerts >= 6, "alerts.yml has {alerts} alerts");
    for (file, text) in [("prometheus/alerts.yml", rules.clone()), ("grafana/handoff.json", exprs.join("\n"))]
    {
        let used: BTreeSet<String> =
            words_with(&text, "handoff_").into_iter().chain(words_with(&text, "process_")).collect();
        assert!(!used.is_empty(), "{file} uses no metric");
        let unknown: Vec<&String> = used.iter().filter(|m| !exported.contains(*m)).collect();
        assert!(unknown.is_empty(), "deploy/{file} uses metrics the server does not export: {unknown:?}");
    }
    for needed in [
        "handoff_store_commit_seconds_bucket",
        "handoff_slow_consumer_disconnects_total",
        "handoff_room_rebuild_failures_total",
        "handoff_webhook_attempts_total",
        "process_open_fds",
        "process_max_fds",
        "handoff_voice_participants",
    ] {
        assert!(rules.contains(needed), "alerts.yml has no rule on {needed}");
    }
}

#[test]
fn every_environment_variable_the_kit_sets_is_one_handoff_serve_knows() {
    let help = Command::new(env!("CARGO_BIN_EXE_handoff")).args(["serve", "--help"]).output().unwrap();
    assert!(help.status.success(), "handoff serve --help failed");
    let known = words_with(&String::from_utf8_lossy(&help.stdout), "HANDOFF_");
    assert!(known.contains("HANDOFF_LISTEN") && known.len() >= 20, "help names {known:?}");
    let mut named = 0;
    let files = kit_files();
    // The walk covers every part of the kit: a part moved elsewhere would escape the check.
    for part in ["systemd", "container", "compose", "kubernetes"] {
        let dir = kit(part);
        assert!(files.iter().any(|(path, _)| path.starts_with(&dir)), "no file under deploy/{part}/");
    }
    for (path, text) in files {
        for var in words_with(&text, "HANDOFF_") {
            named += 1;
            assert!(
                known.contains(&var),
                "{} names {var}, which `handoff serve --help` does not know",
                path.display()
            );
        }
    }
    assert!(named >= 5, "the kit names only {named} variables");
}
