//! The deploy kit's files (`deploy/`) checked against the server they deploy: the systemd unit passes
//! `systemd-analyze verify` with no warning and is sized to the documented descriptor budget.
//! Fails, never skips, when `systemd-analyze` is missing (`.ci/run` installs systemd).

use std::path::{Path, PathBuf};
use std::process::Command;

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
