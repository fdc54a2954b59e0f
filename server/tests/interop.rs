//! Interop with the real `y-websocket` npm client under Node: two stock `WebsocketProvider`s (plus an
//! observer and a late joiner) on a promoted room. The Node side is `interop/interop.mjs`; its npm
//! dependencies are pinned in `interop/package-lock.json` and installed here on first use.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TestServer, file};
use serde_json::{Value, json};

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_y_websocket_clients_collaborate() {
    let dir = interop_dir();
    tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || common::ensure_node_modules(&dir, "y-websocket/package.json", "the y-websocket interop test")
    })
    .await
    .unwrap();

    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let files = vec![
        file("main.py", "def add(a, b):\r\n    return a + b  # héllo 🙂\n"),
        file("src/util/strings.ts", "export const s = 'naïve ✓';\n"),
        file("empty.txt", ""),
        // Several times the size over which the server writes a message around tungstenite's buffer
        // (`ws::transport`): the first sync reaches the stock client as one large frame.
        file("data/big.py", &"x = 'ünïcödé ✓ across the lane\'s frame'\n".repeat(3000)),
    ];
    let room = server.room_with(&files).await;
    let config = json!({
        "ws_url": room.ws_url,
        "room": room.room.id,
        "tokens": room.tokens,
        "files": files.iter().map(|f| (f.path.clone(), Value::from(f.content.clone()))).collect::<serde_json::Map<_, _>>(),
    });
    let config_path = data.path().join("interop.json");
    std::fs::write(&config_path, config.to_string()).unwrap();

    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("interop.mjs")
            .arg(&config_path)
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
    let checks: Vec<&str> = result["checks"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let expected = [
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
    assert_eq!(checks, expected, "every interop check ran and passed");
    assert!(output.status.success());
    server.stop().await;
}
