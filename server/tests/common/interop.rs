//! The stock y-websocket client under Node (`tests/interop/interop.mjs`) driven against a room: two
//! `WebsocketProvider`s, an observer and a late joiner. Shared by the interop test and the tests that
//! put something (a reverse proxy) between the clients and the server.

use std::path::{Path, PathBuf};
use std::process::Command;

use handoff_protocol::api::{FileEntry, PromoteResponse};
use serde_json::{Value, json};

/// Every check interop.mjs runs, in order.
pub const CHECKS: [&str; 9] = [
    "connect_and_sync",
    "initial_files",
    "concurrent_edits_converge",
    "awareness_visible",
    "awareness_removed_on_disconnect",
    "observer_sync",
    "observer_writes_dropped",
    "observer_told_read_only",
    "large_paste_late_joiner",
];

/// Files that exercise the encodings and the large-frame path.
pub fn files() -> Vec<FileEntry> {
    vec![
        super::file("main.py", "def add(a, b):\r\n    return a + b  # héllo 🙂\n"),
        super::file("src/util/strings.ts", "export const s = 'naïve ✓';\n"),
        super::file("empty.txt", ""),
        // Several times the size over which the server writes a message around tungstenite's buffer
        // (`ws::transport`): the first sync reaches the stock client as one large frame.
        super::file("data/big.py", &"x = 'ünïcödé ✓ across the lane\'s frame'\n".repeat(3000)),
    ]
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Runs interop.mjs against `room` at `ws_url` (the room's own, or a proxy's) with `env` added to
/// Node's environment; returns the checks that passed, after asserting the run succeeded.
pub async fn run(
    room: &PromoteResponse,
    files: &[FileEntry],
    ws_url: &str,
    env: &[(&str, &Path)],
) -> Vec<String> {
    let dir = interop_dir();
    tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || super::ensure_node_modules(&dir, "y-websocket/package.json", "the y-websocket interop test")
    })
    .await
    .unwrap();
    let config = json!({
        "ws_url": ws_url,
        "room": room.room.id,
        "tokens": room.tokens,
        "files": files.iter().map(|f| (f.path.clone(), Value::from(f.content.clone()))).collect::<serde_json::Map<_, _>>(),
    });
    let scratch = tempfile::tempdir().unwrap();
    let config_path = scratch.path().join("interop.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let env: Vec<(String, PathBuf)> = env.iter().map(|(k, v)| ((*k).to_owned(), v.to_path_buf())).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("interop.mjs")
            .arg(&config_path)
            .envs(env)
            .current_dir(&dir)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last)
        .unwrap_or_else(|_| panic!("interop printed no result line\nstdout: {stdout}\nstderr: {stderr}"));
    assert_eq!(result["ok"], true, "interop failed: {result}\nstderr: {stderr}");
    assert!(output.status.success(), "interop exited with {}", output.status);
    result["checks"].as_array().unwrap().iter().filter_map(Value::as_str).map(str::to_owned).collect()
}
