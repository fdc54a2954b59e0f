//! The tricky semantics of the `Store` trait, each checked against SQLite and memory alike: the memory
//! store is only right if it behaves as the SQLite one does.

use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::Role;
use handoff_protocol::api::{PresenceEvent, RoomStatus};
use serde_json::json;

use super::MemoryStore;
use crate::store::{
    LogEntry, RoomRecord, Snapshot, SqliteStore, Store, StoreError, SubmissionRecord, WebhookOutcome,
};

/// Both stores, named for assertion messages; the directory holds the SQLite file.
async fn stores() -> (Vec<(&'static str, Arc<dyn Store>)>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("handoff.db")).await.unwrap();
    (vec![("sqlite", Arc::new(sqlite)), ("memory", Arc::new(MemoryStore::new()))], dir)
}

fn submission(id: &str, at_ms: u64) -> SubmissionRecord {
    let body = json!({
        "candidate": {"name": "Cam"},
        "exercise": {"title": "LRU cache"},
        "files": [{"path": "main.py", "content": "x = 1\n"}],
    });
    SubmissionRecord { id: id.into(), created_at_ms: at_ms, body: serde_json::from_value(body).unwrap() }
}

fn room(id: &str, submission_id: &str, at_ms: u64) -> RoomRecord {
    RoomRecord {
        id: id.into(),
        submission_id: submission_id.into(),
        status: RoomStatus::Live,
        interviewer: "Ivy".into(),
        voice: false,
        created_at_ms: at_ms,
        ended_at_ms: None,
    }
}

/// A log entry; the store never decodes updates, so the bytes only need to be told apart.
fn entry(room_id: &str, seq: u64, at_ms: u64) -> LogEntry {
    LogEntry {
        room_id: Arc::from(room_id),
        seq,
        at_ms,
        author: Arc::from(if seq == 1 { "handoff" } else { "Cam" }),
        role: (seq > 1).then_some(Role::Candidate),
        conn_id: seq,
        update: Bytes::from(format!("update {seq}")),
    }
}

/// A submission with one live room whose log holds the preload (seq 1).
async fn promoted(store: &dyn Store, sub: &str, room_id: &str, at_ms: u64) -> RoomRecord {
    store.insert_submission(submission(sub, at_ms)).await.unwrap();
    store.create_room(room(room_id, sub, at_ms), entry(room_id, 1, at_ms)).await.unwrap()
}

fn joined(at_ms: u64, name: &str) -> PresenceEvent {
    PresenceEvent { at_ms, kind: "join".into(), name: name.into(), role: Role::Candidate, conn_id: 7 }
}

async fn seqs(store: &dyn Store, room_id: &str) -> Vec<u64> {
    store.room_log(room_id).await.unwrap().iter().map(|r| r.seq).collect()
}

#[tokio::test]
async fn one_live_room_per_submission() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        let first = promoted(s, "sub", "room-a", 10).await;
        let again = s.create_room(room("room-b", "sub", 20), entry("room-b", 1, 20)).await.unwrap();
        assert_eq!(again, first, "{name}: a second promote returns the live room");
        assert!(s.get_room("room-b").await.unwrap().is_none(), "{name}: and creates nothing");
        assert!(s.room_log("room-b").await.unwrap().is_empty(), "{name}: not even its preload");

        let ended = s.end_room("room-a", 30).await.unwrap().unwrap();
        assert_eq!((ended.status, ended.ended_at_ms), (RoomStatus::Ended, Some(30)), "{name}");
        let ended_again = s.end_room("room-a", 99).await.unwrap().unwrap();
        assert_eq!(ended_again.ended_at_ms, Some(30), "{name}: ending twice keeps the first end");
        let second = s.create_room(room("room-b", "sub", 40), entry("room-b", 1, 40)).await.unwrap();
        assert_eq!(second.id, "room-b", "{name}: once the room ended, promote opens a new one");
        assert_eq!(s.live_room_for_submission("sub").await.unwrap().unwrap().id, "room-b", "{name}");

        assert!(
            matches!(s.reopen_room("room-a").await, Err(StoreError::Database(_))),
            "{name}: no reopen while the submission has another live room"
        );
        s.end_room("room-b", 50).await.unwrap();
        let back = s.reopen_room("room-a").await.unwrap().unwrap();
        assert_eq!((back.status, back.ended_at_ms), (RoomStatus::Live, None), "{name}");
        assert!(s.reopen_room("nowhere").await.unwrap().is_none(), "{name}");
        assert!(s.end_room("nowhere", 1).await.unwrap().is_none(), "{name}");

        let orphan = s.create_room(room("room-c", "unknown", 60), entry("room-c", 1, 60)).await;
        assert!(orphan.is_err(), "{name}: a room needs its submission");
        s.insert_submission(submission("other", 70)).await.unwrap();
        let taken = s.create_room(room("room-a", "other", 70), entry("room-a", 1, 70)).await;
        assert!(taken.is_err(), "{name}: room ids are unique");
        assert!(s.insert_submission(submission("other", 80)).await.is_err(), "{name}: so are submission ids");
    }
}

#[tokio::test]
async fn racing_promotes_share_one_room() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        store.insert_submission(submission("sub", 1)).await.unwrap();
        let promotes: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                let id = format!("room-{i}");
                tokio::spawn(async move { store.create_room(room(&id, "sub", 2), entry(&id, 1, 2)).await })
            })
            .collect();
        let mut ids = Vec::new();
        for p in promotes {
            ids.push(p.await.unwrap().unwrap().id);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{name}: every promote got the same room: {ids:?}");
        let rooms = store.purge_submission("sub").await.unwrap().unwrap();
        assert_eq!(rooms, ids, "{name}: and only that room exists");
    }
}

#[tokio::test]
async fn the_log_is_read_in_seq_order_and_appends_are_all_or_nothing() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        s.append(vec![entry("room", 3, 13), entry("room", 2, 12)], None).await.unwrap();
        assert_eq!(seqs(s, "room").await, [1, 2, 3], "{name}");
        let row = &s.room_log("room").await.unwrap()[1];
        assert_eq!((row.author.as_str(), row.role, row.conn_id), ("Cam", Some(Role::Candidate), 2), "{name}");
        assert_eq!(s.room_log("room").await.unwrap()[0].role, None, "{name}: the preload has no role");

        let clash = s.append(vec![entry("room", 4, 14), entry("room", 2, 15)], None).await;
        assert!(clash.is_err(), "{name}: a seq is written once");
        let twice = s.append(vec![entry("room", 4, 14), entry("room", 4, 14)], None).await;
        assert!(twice.is_err(), "{name}: also within one append");
        assert_eq!(seqs(s, "room").await, [1, 2, 3], "{name}: a failed append writes nothing");
        assert_eq!(s.load_room("room").await.unwrap().next_seq(), 4, "{name}");
    }
}

#[tokio::test]
async fn loading_reads_the_newest_snapshot_and_the_log_after_it() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        let snapshot = |upto_seq| Snapshot {
            room_id: Arc::from("room"),
            upto_seq,
            at_ms: 20,
            state: format!("state {upto_seq}").into_bytes(),
        };
        let all = s.load_room("room").await.unwrap();
        assert!(all.snapshot.is_none(), "{name}");
        assert_eq!(all.tail, [(1, b"update 1".to_vec())], "{name}");

        let more = (2..=5).map(|seq| entry("room", seq, 10 + seq)).collect();
        s.append(more, Some(snapshot(3))).await.unwrap();
        // A late retry with an older snapshot must not win over the newer one.
        s.append(Vec::new(), Some(snapshot(2))).await.unwrap();
        let state = s.load_room("room").await.unwrap();
        let snap = state.snapshot.as_ref().unwrap();
        assert_eq!((snap.upto_seq, snap.state.as_slice()), (3, &b"state 3"[..]), "{name}");
        let tail: Vec<u64> = state.tail.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(tail, [4, 5], "{name}");
        assert_eq!(state.next_seq(), 6, "{name}");
        assert_eq!(seqs(s, "room").await, [1, 2, 3, 4, 5], "{name}: the log is kept as the session record");

        s.append(Vec::new(), Some(snapshot(5))).await.unwrap();
        let state = s.load_room("room").await.unwrap();
        assert!(state.tail.is_empty(), "{name}");
        assert_eq!(state.next_seq(), 6, "{name}: a snapshot alone still counts the log");
        assert_eq!(s.load_room("nowhere").await.unwrap().next_seq(), 1, "{name}");
    }
}

#[tokio::test]
async fn purge_removes_everything_of_one_submission_and_nothing_else() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        promoted(s, "gone", "old", 10).await;
        s.end_room("old", 15).await.unwrap();
        s.create_room(room("new", "gone", 20), entry("new", 1, 20)).await.unwrap();
        promoted(s, "kept", "other", 30).await;
        for id in ["old", "new", "other"] {
            let snap = Snapshot { room_id: Arc::from(id), upto_seq: 1, at_ms: 40, state: vec![1] };
            s.append(vec![entry(id, 2, 40)], Some(snap)).await.unwrap();
            s.set_notes(id, format!("notes {id}"), 40).await.unwrap();
            s.set_scores(id, "[1]".into(), 40).await.unwrap();
            s.record_presence(id, joined(40, "Cam")).await.unwrap();
            s.enqueue_webhook(id, "http://hook", "{}".into(), 40).await.unwrap();
        }

        let rooms = s.purge_submission("gone").await.unwrap();
        assert_eq!(rooms, Some(vec!["old".to_owned(), "new".to_owned()]), "{name}: in creation order");
        assert!(s.get_submission("gone").await.unwrap().is_none(), "{name}");
        assert!(s.live_room_for_submission("gone").await.unwrap().is_none(), "{name}");
        for id in ["old", "new"] {
            assert!(s.get_room(id).await.unwrap().is_none(), "{name}: {id}");
            assert!(s.room_log(id).await.unwrap().is_empty(), "{name}: {id}");
            let state = s.load_room(id).await.unwrap();
            assert!(state.snapshot.is_none() && state.tail.is_empty(), "{name}: {id}");
            assert_eq!(s.notes(id).await.unwrap(), "", "{name}: {id}");
            assert_eq!(s.scores(id).await.unwrap(), "[]", "{name}: {id}");
            assert!(s.presence(id).await.unwrap().is_empty(), "{name}: {id}");
            assert!(s.webhook_status(id).await.unwrap().is_none(), "{name}: {id}");
        }
        let due: Vec<String> =
            s.due_webhooks(100, 10).await.unwrap().into_iter().map(|d| d.room_id).collect();
        assert_eq!(due, ["other"], "{name}");
        assert_eq!(s.notes("other").await.unwrap(), "notes other", "{name}: other submissions stay");
        assert_eq!(seqs(s, "other").await, [1, 2], "{name}");

        assert!(s.purge_submission("gone").await.unwrap().is_none(), "{name}: unknown once purged");
        assert!(s.set_notes("old", "late".into(), 50).await.is_err(), "{name}: notes need their room");
        assert!(s.record_presence("old", joined(50, "Cam")).await.is_err(), "{name}: so does presence");
        assert!(s.set_scores("old", "[]".into(), 50).await.is_err(), "{name}: and scores");
        assert!(s.enqueue_webhook("old", "http://hook", "{}".into(), 50).await.is_err(), "{name}");
    }
}

#[tokio::test]
async fn retention_and_idle_queries_look_at_rooms_log_and_presence() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        s.insert_submission(submission("never-promoted", 10)).await.unwrap();
        promoted(s, "ended-early", "r1", 20).await;
        s.end_room("r1", 30).await.unwrap();
        promoted(s, "ended-late", "r2", 20).await;
        s.end_room("r2", 100).await.unwrap();
        promoted(s, "live", "r3", 20).await;
        s.insert_submission(submission("too-new", 100)).await.unwrap();

        let expired = s.expired_submissions(100, 10).await.unwrap();
        assert_eq!(expired, ["never-promoted", "ended-early"], "{name}: oldest first");
        assert_eq!(s.expired_submissions(100, 1).await.unwrap(), ["never-promoted"], "{name}: limited");

        promoted(s, "edited", "r4", 20).await;
        s.append(vec![entry("r4", 2, 100)], None).await.unwrap();
        promoted(s, "visited", "r5", 20).await;
        s.record_presence("r5", joined(100, "Cam")).await.unwrap();
        promoted(s, "young", "r6", 100).await;
        assert_eq!(s.idle_live_rooms(100).await.unwrap(), ["r3"], "{name}");
        let mut idle = s.idle_live_rooms(101).await.unwrap();
        idle.sort();
        assert_eq!(idle, ["r3", "r4", "r5", "r6"], "{name}: activity before the cutoff does not count");
    }
}

#[tokio::test]
async fn submissions_list_newest_first_with_the_live_or_newest_room() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        promoted(s, "a", "a1", 10).await;
        s.end_room("a1", 11).await.unwrap();
        s.create_room(room("a2", "a", 12), entry("a2", 1, 12)).await.unwrap();
        s.end_room("a2", 13).await.unwrap();
        s.reopen_room("a1").await.unwrap();
        promoted(s, "b", "b1", 20).await;
        s.end_room("b1", 21).await.unwrap();
        s.create_room(room("b2", "b", 22), entry("b2", 1, 22)).await.unwrap();
        s.end_room("b2", 23).await.unwrap();
        s.insert_submission(submission("c", 30)).await.unwrap();

        let list = s.list_submissions(10).await.unwrap();
        let shown: Vec<(&str, Option<&str>)> =
            list.iter().map(|(sub, room)| (sub.id.as_str(), room.as_ref().map(|r| r.id.as_str()))).collect();
        assert_eq!(shown, [("c", None), ("b", Some("b2")), ("a", Some("a1"))], "{name}");
        assert_eq!(s.list_submissions(1).await.unwrap().len(), 1, "{name}");
        let body = &s.get_submission("a").await.unwrap().unwrap().body;
        assert_eq!(body.files[0].content, "x = 1\n", "{name}");
    }
}

#[tokio::test]
async fn webhook_deliveries_go_pending_retry_then_delivered_or_failed() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        s.enqueue_webhook("room", "http://hook", "first".into(), 100).await.unwrap();
        let due = s.due_webhooks(100, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{name}");
        let first = due[0].id;
        assert_eq!((due[0].body.as_str(), due[0].attempts), ("first", 0), "{name}");
        assert!(s.due_webhooks(99, 10).await.unwrap().is_empty(), "{name}: not due before its time");

        let retry = WebhookOutcome::Retry { next_at_ms: 200, error: "503".into() };
        s.record_webhook_attempt(first, retry).await.unwrap();
        let status = s.webhook_status("room").await.unwrap().unwrap();
        assert_eq!((status.status.as_str(), status.attempts), ("pending", 1), "{name}");
        assert_eq!(status.last_error.as_deref(), Some("503"), "{name}");
        assert!(s.due_webhooks(150, 10).await.unwrap().is_empty(), "{name}: waits for the retry time");
        assert_eq!(s.due_webhooks(200, 10).await.unwrap()[0].attempts, 1, "{name}");

        s.record_webhook_attempt(first, WebhookOutcome::Delivered { at_ms: 210 }).await.unwrap();
        let status = s.webhook_status("room").await.unwrap().unwrap();
        assert_eq!((status.status.as_str(), status.attempts), ("delivered", 2), "{name}");
        assert_eq!((status.last_error, status.delivered_at_ms), (None, Some(210)), "{name}");
        assert!(s.due_webhooks(1000, 10).await.unwrap().is_empty(), "{name}");

        s.enqueue_webhook("room", "http://hook", "second".into(), 300).await.unwrap();
        let second = s.due_webhooks(300, 10).await.unwrap()[0].id;
        assert!(second > first, "{name}: ids grow");
        s.record_webhook_attempt(second, WebhookOutcome::Failed { error: "gone".into() }).await.unwrap();
        let status = s.webhook_status("room").await.unwrap().unwrap();
        assert_eq!((status.status.as_str(), status.attempts), ("failed", 1), "{name}: the newest shows");
        s.record_webhook_attempt(9999, WebhookOutcome::Failed { error: "x".into() }).await.unwrap();
    }
}

#[tokio::test]
async fn notes_scores_and_presence_read_back_as_written() {
    let (stores, _dir) = stores().await;
    for (name, store) in stores {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        assert_eq!(
            (s.notes("room").await.unwrap(), s.scores("room").await.unwrap()),
            ("".into(), "[]".into()),
            "{name}: nothing written yet"
        );
        s.set_notes("room", "one".into(), 20).await.unwrap();
        s.set_notes("room", "two".into(), 21).await.unwrap();
        s.set_scores("room", "[3]".into(), 22).await.unwrap();
        assert_eq!(
            (s.notes("room").await.unwrap(), s.scores("room").await.unwrap()),
            ("two".into(), "[3]".into()),
            "{name}: the last write wins"
        );

        for (at, who) in [(30, "late"), (20, "first"), (20, "second")] {
            s.record_presence("room", joined(at, who)).await.unwrap();
        }
        let names: Vec<String> = s.presence("room").await.unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["first", "second", "late"], "{name}: by time, then as recorded");
    }
}

#[tokio::test]
async fn open_selects_the_store_by_url() {
    let memory = crate::store::open("memory://").await.unwrap();
    memory.ping().await.unwrap();
    memory.insert_submission(submission("sub", 1)).await.unwrap();
    let fresh = crate::store::open("memory://").await.unwrap();
    assert!(fresh.get_submission("sub").await.unwrap().is_none(), "every memory store starts empty");
    let refused = crate::store::open("postgres://db").await.err().unwrap().to_string();
    assert!(refused.contains("sqlite://PATH") && refused.contains("memory://"), "{refused}");
}
