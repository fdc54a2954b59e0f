//! 200 join-and-leave cycles leave no connection, task, thread or UDP socket behind: the server's gauges
//! (the `Rtc`s open on the voice loops, members in voice, uplinks) return to where they were, and so do
//! the process's UDP sockets (the voice loops' own sockets exist from the first join on; nothing beyond
//! them may appear), threads (the voice loops start once) and tokio tasks (the clients live in this
//! process too, so theirs are counted as well).

mod common;

use std::collections::BTreeSet;

use common::PATIENCE;
use common::voice::{SERIAL, client, fixture, gauge, joined, room, start, wait_gauge};
use handoff_server::test_support::voice::Seen;

/// Join-and-leave cycles.
const CYCLES: usize = 200;

/// The inodes of the UDP sockets this process has open (`/proc/self/fd` against `/proc/net/udp*`).
fn udp_sockets() -> usize {
    let mut udp = BTreeSet::new();
    for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            if let Some(inode) = line.split_whitespace().nth(9) {
                udp.insert(inode.to_owned());
            }
        }
    }
    let fds = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd is readable");
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(target.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .filter(|inode| udp.contains(inode))
        .count()
}

/// The process's threads (`Threads:` in `/proc/self/status`).
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    let line = status.lines().find_map(|l| l.strip_prefix("Threads:")).expect("a Threads line");
    line.trim().parse().expect("a thread count")
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

/// Waits until `now()` falls to `baseline` or below; the count it stopped at.
async fn settles(baseline: usize, now: impl Fn() -> usize) -> usize {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let count = now();
        if count <= baseline || tokio::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_leave_cycles_leave_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let room = room(&server, true).await;
    // Ivy stays in voice and speaks throughout; Cam joins, hears her, and leaves, again and again.
    let (mut ivy, ivy_id) = client(&room, &room.tokens.interviewer, true).await;
    joined(&ivy, 1).await;
    ivy.start_sending(fixture());
    let (cam, _) = client(&room, &room.tokens.candidate, true).await;
    let (mut sockets, mut tasks, mut thread_count) = (0, 0, 0);
    for cycle in 0..CYCLES {
        let heard = cam.seen().packets_from(&ivy_id);
        joined(&cam, 2).await;
        let hears = |s: &Seen| s.packets_from(&ivy_id) > heard;
        assert!(cam.wait_for(PATIENCE, hears).await, "cycle {cycle}: {cam:?}");
        cam.leave().await;
        assert!(ivy.wait_for(PATIENCE, |s| s.participants.len() == 1).await, "cycle {cycle}: {ivy:?}");
        if cycle == 0 {
            // After one whole cycle, everything started once (pools, lazily spawned tasks) exists.
            wait_gauge(&server, "handoff_voice_peer_connections", 1.0).await;
            (sockets, tasks, thread_count) = (udp_sockets(), alive_tasks(), threads());
        }
    }
    wait_gauge(&server, "handoff_voice_peer_connections", 1.0).await;
    wait_gauge(&server, "handoff_voice_participants", 1.0).await;
    wait_gauge(&server, "handoff_voice_uplinks", 1.0).await;
    let sockets_after = settles(sockets, udp_sockets).await;
    assert!(
        sockets_after <= sockets,
        "UDP sockets: {sockets} after one cycle, {sockets_after} after {CYCLES}"
    );
    let tasks_after = settles(tasks, alive_tasks).await;
    assert!(tasks_after <= tasks, "tasks: {tasks} after one cycle, {tasks_after} after {CYCLES}");
    let threads_after = settles(thread_count, threads).await;
    assert!(
        threads_after <= thread_count,
        "threads: {thread_count} after one cycle, {threads_after} after {CYCLES}"
    );
    assert!(gauge(&server, "handoff_voice_rooms").await == 1.0);

    ivy.close().await;
    cam.close().await;
    wait_gauge(&server, "handoff_voice_peer_connections", 0.0).await;
    wait_gauge(&server, "handoff_voice_rooms", 0.0).await;
    server.stop().await;
}
