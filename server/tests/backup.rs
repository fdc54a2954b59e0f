//! `handoff backup` and `handoff restore` as an operator runs them: a backup taken from the running
//! binary while clients type holds every edit committed before it began, and restores into a new data
//! dir whose server shows them in the room's document and export (and still accepts the room's
//! tokens: the secrets travel with it). A restore refuses a live data dir, a full store, a newer schema
//! and a file that is not a store; the backup file is 0600; a PostgreSQL store is sent to pg_dump.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::YClient;
use common::binary::{Server, handoff};
use handoff_protocol::api::PromoteResponse;
use serde_json::Value;

/// `handoff backup|restore ARGS --data-dir DIR`, run to its end.
fn command(what: &str, data_dir: &Path, args: &[&str]) -> Output {
    handoff(&[what, "--log", "warn"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("handoff runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ws(room: &PromoteResponse, token: &str) -> String {
    format!("{}/{}?token={token}", room.ws_url, room.room.id)
}

/// Types `name1 name2 …` at the end of `path` until `stop`, reading what the others send meanwhile.
async fn typist(url: String, path: &'static str, name: &'static str, stop: Arc<AtomicBool>) -> u32 {
    let mut client = YClient::synced(&url).await;
    let mut typed = 0;
    while !stop.load(Ordering::Relaxed) {
        typed += 1;
        client.insert(path, None, &format!("{name}{typed} ")).await;
        while client.step(Duration::from_millis(2)).await {}
    }
    typed
}

fn files(export: &Value) -> Vec<(String, String)> {
    let list = export["files"].as_array().expect("files");
    list.iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["content"].as_str().unwrap().to_owned()))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_backup_taken_while_clients_type_restores_every_edit_committed_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let room = server.room(&["a.py", "b.py"]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let typists = [
        tokio::spawn(typist(ws(&room, &room.tokens.interviewer), "a.py", "ivy", stop.clone())),
        tokio::spawn(typist(ws(&room, &room.tokens.candidate), "b.py", "cam", stop.clone())),
    ];
    // Let edits accumulate, and some commits land, before the export.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let committed = server.export(&room.room.id).await;
    let backup = tmp.path().join("handoff.backup");
    let (data_dir, to) = (data.clone(), backup.clone());
    let out =
        tokio::task::spawn_blocking(move || command("backup", &data_dir, &["--to", to.to_str().unwrap()]))
            .await
            .unwrap();
    assert!(out.status.success(), "backup failed: {}", stderr(&out));
    // The typing went on during the backup; it stops now.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for typist in typists {
        assert!(typist.await.unwrap() > 0, "each typist typed");
    }
    assert_eq!(mode(&backup), 0o600, "the backup holds candidates' data and the secrets");
    let typed_before: Vec<(String, String)> = files(&committed);
    assert!(typed_before.iter().all(|(_, text)| !text.is_empty()), "edits were committed: {typed_before:?}");

    let restored = tmp.path().join("restored");
    let out = command("restore", &restored, &["--from", backup.to_str().unwrap()]);
    assert!(out.status.success(), "restore failed: {}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(restored.join("token-secret")).unwrap(),
        std::fs::read_to_string(data.join("token-secret")).unwrap(),
        "the secret that signed the room's tokens travels with the backup"
    );
    assert_eq!(mode(&restored.join("token-secret")), 0o600);
    assert_eq!(mode(&restored.join("handoff.db")), 0o600);
    drop(server);

    let server = Server::start(&restored);
    let export = server.export(&room.room.id).await;
    for (path, before) in &typed_before {
        let (_, after) = files(&export).into_iter().find(|(p, _)| p == path).expect("the file is restored");
        assert!(after.starts_with(before.as_str()), "{path}: committed {before:?}, restored {after:?}");
    }
    let before = committed["timeline"].as_array().expect("timeline");
    let after = export["timeline"].as_array().expect("timeline");
    assert!(after.len() >= before.len() && after[..before.len()] == before[..], "the log holds every edit");
    // The room's old token still opens it: the candidate's link survives the restore.
    let url = format!(
        "{}/ws/{}?token={}",
        server.base.replace("http://", "ws://"),
        room.room.id,
        room.tokens.candidate
    );
    let mut candidate = YClient::synced(&url).await;
    candidate
        .wait_for("the restored document", |c| {
            c.text("a.py").is_some_and(|t| t.starts_with(&typed_before[0].1))
        })
        .await;
}

#[tokio::test]
async fn restore_refuses_a_live_data_dir_a_full_store_a_newer_schema_and_a_stranger() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    server.room(&["a.py"]).await;
    let backup = tmp.path().join("handoff.backup");
    let to = backup.to_str().unwrap();
    assert!(command("backup", &data, &["--to", to]).status.success());
    let again = command("backup", &data, &["--to", to]);
    assert!(!again.status.success() && stderr(&again).contains("--force"), "{}", stderr(&again));
    assert!(command("backup", &data, &["--to", to, "--force"]).status.success());
    assert_eq!(mode(&backup), 0o600);

    let live = command("restore", &data, &["--from", to]);
    assert!(!live.status.success(), "a restore under a running server");
    assert!(
        stderr(&live).contains("server is running") && stderr(&live).contains("stop it"),
        "{}",
        stderr(&live)
    );
    drop(server);
    let full = command("restore", &data, &["--from", to]);
    assert!(!full.status.success() && stderr(&full).contains("--force"), "{}", stderr(&full));
    let forced = command("restore", &data, &["--from", to, "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));

    let newer = tmp.path().join("newer.backup");
    std::fs::copy(&backup, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute("UPDATE schema_version SET version = version + 1", [])
        .unwrap();
    let refused = command("restore", &tmp.path().join("fresh"), &["--from", newer.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("newer than this build knows"), "{}", stderr(&refused));

    let stranger = tmp.path().join("notes.txt");
    std::fs::write(&stranger, "not a store, nor even SQLite, just text").unwrap();
    let refused = command("restore", &tmp.path().join("fresh"), &["--from", stranger.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("not a handoff store"), "{}", stderr(&refused));
}

#[test]
fn a_postgres_store_is_backed_up_with_pg_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let out = command(
        "backup",
        tmp.path(),
        &["--to", "x.backup", "--store", "postgres://postgres:s3cret@127.0.0.1:5432/handoff"],
    );
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(text.contains("pg_dump") && text.contains("pg_restore"), "{text}");
    assert!(!text.contains("s3cret"), "the password is never shown: {text}");
}
