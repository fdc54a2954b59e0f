//! The `handoff` binary as an operator starts it, under the usual umask 022: the files it creates are
//! its owner's alone, the banner shows the dashboard link only in development mode, `--metrics-token`
//! closes `/metrics`, and a short `--api-key` is refused (issue 18, findings 7 and 10).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{sample_files, submission};
use handoff_protocol::limits::MIN_API_KEY_CHARS;

const API_KEY: &str = "startup-test-api-key-0123456789";

/// `handoff serve` under `umask 022`, with `env` set; the umask is the shell's, so this test binary's
/// other tests are not affected.
fn handoff(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"umask 022; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("HANDOFF_API_KEY")
        .env_remove("HANDOFF_METRICS_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A started server: its process, base URL and the banner lines it printed.
struct Server {
    child: Child,
    base: String,
    banner: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = handoff(data_dir, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("handoff binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    // The banner ends with the WebSocket line; log lines (a warning, say) may come before it.
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stdout is readable");
        let last = line.trim_start().starts_with("WebSocket:");
        banner.push(line);
        if last {
            break;
        }
    }
    let first = banner.iter().find(|l| l.starts_with("handoff is listening on")).expect("a startup line");
    let base = first.rsplit(' ').next().expect("a URL").to_owned();
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base, banner }
}

/// A path's permission bits in octal, as `ls -l` users read them ("700").
fn mode(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", meta.permissions().mode() & 0o777)
}

/// Every file and directory under `dir` (inclusive) with its mode.
fn modes(dir: &Path) -> Vec<(String, String)> {
    let mut out = vec![(dir.display().to_string(), mode(dir))];
    for entry in std::fs::read_dir(dir).expect("data dir readable") {
        let path = entry.expect("entry").path();
        out.push((path.display().to_string(), mode(&path)));
    }
    out
}

/// Writes a submission, so the database, its WAL and its shared-memory file all exist.
async fn write_something(base: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/submissions"))
        .bearer_auth(API_KEY)
        .json(&submission(&sample_files()))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 201);
}

#[tokio::test]
async fn a_new_data_dir_and_its_database_are_private_under_umask_022() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested/data");
    let server = start(&data, &["--api-key", API_KEY], &[]);
    write_something(&server.base).await;

    let files = modes(&data);
    let names: Vec<&str> = files.iter().filter_map(|(p, _)| Path::new(p).file_name()?.to_str()).collect();
    for expected in ["handoff.db", "handoff.db-wal", "handoff.db-shm", "token-secret", ".gitignore"] {
        assert!(names.contains(&expected), "{expected} missing: {files:?}");
    }
    assert_eq!(mode(&data), "700", "the data dir: {files:?}");
    for (path, mode) in &files[1..] {
        let private = if Path::new(path).is_dir() { "700" } else { "600" };
        assert_eq!(mode, private, "{path} is readable by others: {files:?}");
    }
    let ignore = std::fs::read_to_string(data.join(".gitignore")).expect("the data dir has a .gitignore");
    assert!(ignore.lines().any(|l| l.trim() == "*"), "it ignores everything in the data dir: {ignore}");
}

#[tokio::test]
async fn a_taken_port_is_refused_naming_the_address_and_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", &addr, "--log", "warn", "--api-key", API_KEY, "--data-dir"])
        .arg(tmp.path().join("data"))
        .output()
        .expect("handoff runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second listener on {addr} started");
    assert!(
        stderr.contains(&addr) && stderr.contains("--listen"),
        "the refusal names {addr} and --listen: {stderr}"
    );
    drop(taken);
}

#[tokio::test]
async fn an_existing_data_dir_with_loose_modes_is_tightened() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::DirBuilder::new().mode(0o755).create(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A database an earlier version left world-readable (an empty file is an empty SQLite database).
    for name in ["handoff.db", "handoff.db-wal"] {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(data.join(name))
            .unwrap();
        std::fs::set_permissions(data.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = start(&data, &["--api-key", API_KEY], &[]);
    write_something(&server.base).await;

    let files = modes(&data);
    assert_eq!(mode(&data), "700", "{files:?}");
    for (path, mode) in &files[1..] {
        let private = if Path::new(path).is_dir() { "700" } else { "600" };
        assert_eq!(mode, private, "{path} is readable by others: {files:?}");
    }
}

#[tokio::test]
async fn the_dashboard_link_is_printed_only_in_development_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let operator = start(&tmp.path().join("operator"), &["--api-key", API_KEY], &[]);
    let text = operator.banner.join("\n");
    assert!(
        !text.contains("#dashboard="),
        "an operator's key is theirs to use; no token is printed:\n{text}"
    );
    drop(operator);

    let dev = start(&tmp.path().join("dev"), &[], &[]);
    let text = dev.banner.join("\n");
    let line = dev.banner.iter().find(|l| l.contains("#dashboard=")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("valid for 7 days"), "the banner says how long the link lasts:\n{text}");
}

#[tokio::test]
async fn an_api_key_shorter_than_the_minimum_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let short = "k".repeat(MIN_API_KEY_CHARS - 1);
    for args in [vec!["--api-key", short.as_str()], vec!["--api-key", "callgrind"]] {
        let mut child = handoff(&tmp.path().join("data"), &args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("handoff runs");
        // A refused start exits, closing stdout; a server that starts prints its banner instead.
        let started = BufReader::new(child.stdout.take().expect("piped stdout"))
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("handoff is listening on"));
        if started {
            let _ = child.kill();
        }
        let out = child.wait_with_output().expect("handoff exits");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!started && !out.status.success(), "{args:?} started a server");
        assert!(
            stderr.contains("--api-key") && stderr.contains(&MIN_API_KEY_CHARS.to_string()),
            "the refusal says why: {stderr}"
        );
    }
}

#[tokio::test]
async fn a_metrics_token_closes_metrics_to_everyone_else() {
    let tmp = tempfile::tempdir().unwrap();
    let token = "metrics-scraper-token-42";
    let server =
        start(&tmp.path().join("data"), &["--api-key", API_KEY], &[("HANDOFF_METRICS_TOKEN", token)]);
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.base);
    for presented in [None, Some("wrong-token"), Some(API_KEY)] {
        let mut req = http.get(&url);
        if let Some(t) = presented {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), 401, "{presented:?}");
        let body: serde_json::Value = resp.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "unauthorized", "{presented:?}");
    }
    let resp = http.get(&url).header("authorization", format!("bearer {token}")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("handoff_connections"));
    drop(server);

    // Unset, /metrics stays open, as a Prometheus scraper on a private network expects.
    let open = start(&tmp.path().join("open"), &["--api-key", API_KEY], &[]);
    let resp = http.get(format!("{}/metrics", open.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}
