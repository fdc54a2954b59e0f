//! `/metrics`' fan-out histogram (`handoff_fanout_seconds`): every accepted update is observed once per
//! other member it is written to, and nothing else is. One test in its own binary: the metrics are the
//! process's, so no other test may move them meanwhile.

mod common;

use std::time::Duration;

use common::{PATIENCE, TestServer, YClient, file, metric};

const COUNT: &str = "handoff_fanout_seconds_count";

/// Waits until the histogram has counted `want` (bounded by [`PATIENCE`]): the room observes a write
/// just after making it, so a client may read the frame a moment before the count moves.
async fn count_reaches(server: &TestServer, want: f64) -> f64 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = metric(&server.metrics_page().await, COUNT);
        if now >= want || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn each_update_is_counted_once_per_member_it_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let room = server.room_with(&[file("main.py", "")]).await;
    let mut a = YClient::connect(&TestServer::ws(&room, &room.tokens.candidate)).await;
    let mut b = YClient::connect(&TestServer::ws(&room, &room.tokens.interviewer)).await;
    a.wait_synced().await;
    b.wait_synced().await;
    server.wait_connected(&room.room.id, 2).await;
    // Joining and syncing carry no client update: nothing is counted.
    let before = metric(&server.metrics_page().await, COUNT);
    assert_eq!(before, 0.0, "nothing fanned out yet");

    // Presence is relayed, but is not a document update.
    a.set_user("Ada").await;
    b.wait_for("b sees a's presence", |c| !c.others().is_empty()).await;

    let keys = "print(1)";
    for (i, key) in keys.chars().enumerate() {
        a.insert("main.py", Some(i as u32), &key.to_string()).await;
    }
    b.wait_for("b has every key", |c| c.text("main.py").as_deref() == Some(keys)).await;
    // One other member: one write per update.
    let want = keys.len() as f64;
    assert_eq!(count_reaches(&server, want).await, want);

    // A third member doubles the deliveries of each update.
    let mut c = YClient::connect(&TestServer::ws(&room, &room.tokens.observer)).await;
    c.wait_synced().await;
    server.wait_connected(&room.room.id, 3).await;
    b.insert("main.py", None, "\n").await;
    a.wait_for("a has b's key", |x| x.text("main.py").as_deref() == Some("print(1)\n")).await;
    c.wait_for("c has b's key", |x| x.text("main.py").as_deref() == Some("print(1)\n")).await;
    assert_eq!(count_reaches(&server, want + 2.0).await, want + 2.0);
    // No more than that: one more key reaches both others only after everything before it was written,
    // so the count then stands exactly two higher.
    b.insert("main.py", None, "#").await;
    a.wait_for("a has b's second key", |x| x.text("main.py").as_deref() == Some("print(1)\n#")).await;
    c.wait_for("c has b's second key", |x| x.text("main.py").as_deref() == Some("print(1)\n#")).await;
    assert_eq!(count_reaches(&server, want + 4.0).await, want + 4.0);
    server.stop().await;
}
