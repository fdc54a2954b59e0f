//! Voice in the browser, end to end (issue 21): headless Chromium with fake microphones (a distinct tone
//! per participant) against the real server and its SFU, all inside a network namespace this test
//! creates with only loopback up, so nothing can leave the machine and ICE has loopback alone
//! (`web-client/e2e/voice.mjs` drives the browsers).
//!
//! The test re-runs itself inside the namespace (`ip netns exec`): the outer run builds the web client,
//! creates and removes the namespace; the inner run (marked by `INSIDE_NETNS`) starts the server and the
//! browsers there. It fails, never skips, when Chromium, Node.js or `ip netns` is missing (we run as
//! root, which `ip netns add` needs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Set (to the namespace's name) in the inner run's environment.
const INSIDE_NETNS: &str = "HANDOFF_VOICE_TEST_NETNS";
/// This test's name, for the inner run's filter.
const TEST_NAME: &str = "browser_voice_end_to_end";
/// Where `ip` lives on Debian and elsewhere.
const IP_PATHS: [&str; 4] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];

fn web_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client")
}

fn npm(dir: &Path, args: &[&str]) {
    let status =
        Command::new("npm").args(args).current_dir(dir).status().expect("npm runs (install Node.js and npm)");
    assert!(status.success(), "npm {} failed in {}", args.join(" "), dir.display());
}

fn ip() -> &'static str {
    IP_PATHS
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("the voice test needs `ip` (apt-get install iproute2)")
}

fn run_ip(args: &[&str]) {
    let out = Command::new(ip()).args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A network namespace with only loopback up; removed on drop.
struct Netns(String);

impl Netns {
    fn create() -> Netns {
        let name = format!("handoff-voice-{}", std::process::id());
        // A namespace left by a crashed run of the same pid would make `add` fail.
        let _ = Command::new(ip()).args(["netns", "del", &name]).output();
        run_ip(&["netns", "add", &name]);
        let ns = Netns(name);
        run_ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(ip()).args(["netns", "del", &self.0]).output();
    }
}

#[test]
fn browser_voice_end_to_end() {
    if let Ok(ns) = std::env::var(INSIDE_NETNS) {
        inside(&ns);
        return;
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "the voice test needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    );
    let dir = web_client();
    if !dir.join("node_modules/.package-lock.json").exists() {
        npm(&dir, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    npm(&dir, &["run", "build", "--silent"]);

    let ns = Netns::create();
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(ip())
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE_NETNS, &ns.0)
        .output()
        .expect("ip netns exec runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the run inside namespace {} failed:\n{text}", ns.0);
    assert!(text.contains("1 passed"), "the inner run ran the test:\n{text}");
    // Seen with --nocapture: the checks and what the browsers heard.
    println!("{text}");
}

/// Interfaces in this process's network namespace.
fn interfaces() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net lists the interfaces")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn inside(ns: &str) {
    // `ip netns exec` mounts the namespace's own /sys: only loopback may be there.
    assert_eq!(interfaces(), ["lo"], "namespace {ns} has only loopback");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let checks = runtime.block_on(run_voice_e2e());
    for expected in [
        "banner_voice_optional_and_recorded",
        "nobody_in_voice_before_joining",
        "candidate_mic_check_meter_moves",
        "interviewer_mic_check_meter_moves",
        "both_joined_voice",
        "interviewer_receives_packets",
        "interviewer_hears_energy",
        "interviewer_hears_the_candidates_tone",
        "candidate_receives_packets",
        "candidate_hears_energy",
        "candidate_hears_the_interviewers_tone",
        "speaking_ring_from_levels",
        "muted_candidate_is_silent",
        "unmuted_candidate_heard_again",
        "interviewer_mutes_candidate",
        "interviewer_unmutes_candidate",
        "mic_denied_state",
        "listen_without_microphone",
        "udp_blocked_state",
        "voice_rejoins_after_reconnect",
        "edit_made_while_speaking",
        "leave_removes_participant",
        "export_lists_candidate_recording",
        "edit_inside_recording",
        "replay_seeks_recording_to_edit",
        "replay_plays_candidate_voice",
        "replay_audio_in_step_with_slider",
        "replay_pause_pauses_voice",
    ] {
        assert!(checks.iter().any(|c| c == expected), "voice check {expected} did not run: {checks:?}");
    }
}

async fn run_voice_e2e() -> Vec<String> {
    let dir = web_client();
    let data = tempfile::tempdir().unwrap();
    let mut config = common::config(data.path());
    config.web_dir = Some(dir.join("dist"));
    // Loopback is all this namespace has; the SFU leaves it out unless bound to it.
    config.voice_bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let server = TestServer::start_with(config).await;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let (base, key) = (server.base.clone(), server.api_key.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("e2e/voice.mjs")
            .arg(&base)
            .arg(&key)
            .arg(&shots)
            .arg("replay")
            .current_dir(&dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last)
        .unwrap_or_else(|_| panic!("voice.mjs printed no result line\nstdout: {stdout}\nstderr: {stderr}"));
    assert_eq!(result["ok"], true, "voice.mjs failed: {result}\nstderr: {stderr}");
    println!("{last}\n{stderr}");
    assert!(output.status.success());
    server.stop().await;
    result["checks"].as_array().unwrap().iter().filter_map(Value::as_str).map(str::to_owned).collect()
}
