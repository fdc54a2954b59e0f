//! The web client: its unit tests (vitest), the browser end-to-end run (playwright-core driving Debian's
//! Chromium against the real server) and a Firefox smoke run (puppeteer-core driving Debian's
//! firefox-esr over WebDriver BiDi). All need Node.js; the browser runs need the browsers installed.
//! Missing tools fail these tests with a message saying what to install — they never skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use common::TestServer;
use serde_json::Value;

/// Serialises npm runs: both tests share one `node_modules` and one `dist`.
static NPM: Mutex<()> = Mutex::new(());

const CHROMIUM: &str = "/usr/bin/chromium";
const FIREFOX: &str = "/usr/bin/firefox-esr";

fn web_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client")
}

fn npm(dir: &Path, args: &[&str]) {
    let status =
        Command::new("npm").args(args).current_dir(dir).status().expect("npm runs (install Node.js and npm)");
    assert!(status.success(), "npm {} failed in {}", args.join(" "), dir.display());
}

/// Set once this test process has built `dist/` from the current sources.
static BUILT: AtomicBool = AtomicBool::new(false);

/// Installs the pinned packages if needed and builds `dist/` from the current sources (once per run).
fn build_web_client() -> PathBuf {
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    let dir = web_client();
    if BUILT.load(Ordering::Acquire) {
        return dir;
    }
    if !dir.join("node_modules/.package-lock.json").exists() {
        npm(&dir, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    npm(&dir, &["run", "build", "--silent"]);
    BUILT.store(true, Ordering::Release);
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

/// Runs one end-to-end script (`node <script> <base_url> <api_key> <screenshot_dir>`) against a real
/// server serving the freshly built client; returns the checks it reports. Fails on anything but ok.
async fn run_e2e(script: &'static str) -> Vec<String> {
    let dir = tokio::task::spawn_blocking(build_web_client).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = common::config(data.path());
    config.web_dir = Some(dir.join("dist"));
    let server = TestServer::start_with(config).await;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let (base, key) = (server.base.clone(), server.api_key.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).arg(&base).arg(&key).arg(&shots).current_dir(&dir).output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last)
        .unwrap_or_else(|_| panic!("{script} printed no result line\nstdout: {stdout}\nstderr: {stderr}"));
    assert_eq!(result["ok"], true, "{script} failed: {result}\nstderr: {stderr}");
    assert!(output.status.success());
    server.stop().await;
    result["checks"].as_array().unwrap().iter().filter_map(Value::as_str).map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_end_to_end() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    );
    let checks = run_e2e("e2e/e2e.mjs").await;
    for expected in [
        "dashboard_lists_submission",
        "import_submission_file",
        "evidence_jumps_to_lines",
        "promote_form_refuses_bad_length",
        "promote_shows_links",
        "promote_form_sets_length",
        "interviewer_sees_preloaded_code",
        "candidate_sees_preloaded_code",
        "candidate_banner",
        "candidate_has_no_private_panel",
        "candidate_edit_reaches_interviewer",
        "candidate_cursor_named",
        "observer_readonly_badge",
        "observer_cannot_edit",
        "candidate_api_bodies_read",
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
        "session_lists_candidate_edit",
        "session_lists_candidate_join",
        "replay_at_zero_shows_submission",
        "session_entry_moves_slider",
        "authorship_marks_candidate_text",
        "live_score_form_validates",
        "live_score_saved",
        "candidate_has_no_record_controls",
        "record_endpoints_refuse_candidate",
        "editor_exit_hint",
        "presence_announced",
        "rubric_rows_prefilled",
        "rubric_one_click_score_saved",
        "mark_moment_key_adds_note",
        "mark_moment_note_saved",
        "replay_speed_choice",
        "replay_plays",
        "replay_pauses",
        "replay_next_event",
        "prefs_remembered",
        "authorship_follows_live_edits",
        "cursor_label_while_typing",
        "csp_blocks_injected_background_image",
        "no_csp_violations",
    ] {
        assert!(checks.iter().any(|c| c == expected), "e2e check {expected} did not run: {checks:?}");
    }
}

/// The interview around the editor (issue 20): brief, clock, pushed questions, the candidate's
/// integrity notes, and the review after End (e2e/interview.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_interview_end_to_end() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    );
    let checks = run_e2e("e2e/interview.mjs").await;
    for expected in [
        "banner_true_to_the_room",
        "brief_rendered_safely",
        "clock_shows_elapsed_and_left",
        "pushed_question_reaches_candidate",
        "late_joiner_sees_questions",
        "candidate_note_reaches_interviewer",
        "room_links_openapi",
        "review_after_end",
        "review_offers_report_and_reopen",
        "review_downloads_report",
        "review_keeps_questions",
        "review_notes_survive_reload",
        "review_shows_diff",
        "candidate_link_still_ended",
        "dashboard_status_ended",
        "dashboard_offers_reopen_or_new",
        "dashboard_downloads_report",
        "dashboard_opens_review",
        "review_reopens_the_room",
        "candidate_link_works_after_reopen",
    ] {
        assert!(checks.iter().any(|c| c == expected), "interview check {expected} did not run: {checks:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_smoke() {
    assert!(
        Path::new(FIREFOX).exists(),
        "the Firefox test needs Debian's firefox-esr at {FIREFOX} (apt-get install firefox-esr)"
    );
    let checks = run_e2e("e2e/firefox.mjs").await;
    for expected in [
        "candidate_sees_preloaded_file",
        "candidate_has_no_private_panel",
        "interviewer_private_panel",
        "candidate_typing_lands_in_editor",
        "interviewer_sees_candidate_line_live",
        "export_has_typed_line",
        "dashboard_lists_submission",
        "no_page_errors",
        "no_csp_violations",
    ] {
        assert!(checks.iter().any(|c| c == expected), "firefox check {expected} did not run: {checks:?}");
    }
}
