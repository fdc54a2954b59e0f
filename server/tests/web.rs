//! The web client: its unit tests (vitest) and the browser end-to-end run (playwright-core driving
//! Debian's Chromium against the real server). Both need Node.js; the e2e also needs /usr/bin/chromium.
//! Missing tools fail these tests with a message saying what to install — they never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use common::TestServer;
use serde_json::Value;

/// Serialises npm runs: both tests share one `node_modules` and one `dist`.
static NPM: Mutex<()> = Mutex::new(());

const CHROMIUM: &str = "/usr/bin/chromium";

fn web_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client")
}

fn npm(dir: &Path, args: &[&str]) {
    let status =
        Command::new("npm").args(args).current_dir(dir).status().expect("npm runs (install Node.js and npm)");
    assert!(status.success(), "npm {} failed in {}", args.join(" "), dir.display());
}

/// Installs the pinned packages if needed and builds `dist/` from the current sources.
fn build_web_client() -> PathBuf {
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let dir = web_client();
    if !dir.join("node_modules/.package-lock.json").exists() {
        npm(&dir, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    npm(&dir, &["run", "build", "--silent"]);
    dir
}

#[test]
fn web_client_unit_tests_pass() {
    let dir = build_web_client();
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let out =
        Command::new("npm").args(["test", "--silent"]).current_dir(&dir).output().expect("npm test runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "vitest failed:\n{text}");
    assert!(text.contains("passed"), "vitest ran tests:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_end_to_end() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    );
    let dir = tokio::task::spawn_blocking(build_web_client).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = common::config(data.path());
    config.web_dir = Some(dir.join("dist"));
    let server = TestServer::start_with(config).await;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let (base, key) = (server.base.clone(), server.api_key.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg("e2e/e2e.mjs").arg(&base).arg(&key).arg(&shots).current_dir(&dir).output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last)
        .unwrap_or_else(|_| panic!("e2e printed no result line\nstdout: {stdout}\nstderr: {stderr}"));
    assert_eq!(result["ok"], true, "e2e failed: {result}\nstderr: {stderr}");
    let checks: Vec<&str> = result["checks"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for expected in [
        "dashboard_lists_submission",
        "import_submission_file",
        "evidence_jumps_to_lines",
        "promote_shows_links",
        "interviewer_sees_preloaded_code",
        "candidate_sees_preloaded_code",
        "candidate_banner",
        "candidate_has_no_private_panel",
        "candidate_edit_reaches_interviewer",
        "candidate_cursor_named",
        "observer_readonly_badge",
        "observer_cannot_edit",
        "notes_saved",
        "changed_file_marked",
        "diff_shows_candidate_change",
        "private_endpoint_refuses_candidate",
        "candidate_sees_no_private_data",
        "invalid_link_error_page",
        "candidate_sees_ended",
        "ended_after_reload",
        "reconnect_socket_dropped",
        "reconnect_edit_made_offline",
        "reconnect_keeps_offline_edits",
        "huge_file_length",
        "huge_file_opens",
        "huge_file_typing",
        "keyboard_reaches_tree_file",
        "keyboard_focus_indicator",
        "keyboard_navigation",
    ] {
        assert!(checks.contains(&expected), "e2e check {expected} did not run: {checks:?}");
    }
    assert!(output.status.success());
    server.stop().await;
}
