//! The room log: appends in seq order, all or nothing and idempotent, loads from the newest snapshot,
//! presence.

use std::sync::Arc;

use bytes::Bytes;
use handoff_protocol::Role;

use super::{each_backend, entry, joined, promoted, seqs};
use crate::store::{Constraint, LogEntry, Snapshot, StoreError};

#[tokio::test]
async fn the_log_is_read_in_seq_order_and_appends_are_all_or_nothing() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        s.append(vec![entry("room", 3, 13), entry("room", 2, 12)], None).await.unwrap();
        assert_eq!(seqs(s, "room").await, [1, 2, 3], "{name}");
        let row = &s.room_log("room").await.unwrap()[1];
        assert_eq!((row.author.as_str(), row.role, row.conn_id), ("Cam", Some(Role::Candidate), 2), "{name}");
        assert_eq!(s.room_log("room").await.unwrap()[0].role, None, "{name}: the preload has no role");

        let taken = |r| matches!(r, Err(StoreError::Conflict { constraint: Constraint::LogSeq, .. }));
        let clash = s.append(vec![entry("room", 4, 14), entry("room", 2, 15)], None).await;
        assert!(taken(clash), "{name}: a seq is written once");
        let twins = s.append(vec![entry("room", 4, 14), entry("room", 4, 15)], None).await;
        assert!(taken(twins), "{name}: also within one append");
        assert_eq!(seqs(s, "room").await, [1, 2, 3], "{name}: a failed append writes nothing");
        assert_eq!(s.load_room("room").await.unwrap().next_seq(), 4, "{name}");
    })
    .await;
}

#[tokio::test]
async fn a_retried_append_is_written_once_and_a_changed_one_is_refused() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        let snap = Snapshot { room_id: Arc::from("room"), upto_seq: 2, at_ms: 13, state: b"two".to_vec() };
        let append = || vec![entry("room", 2, 12), entry("room", 3, 13)];
        s.append(append(), Some(snap.clone())).await.unwrap();
        // The first append's answer was lost (a network store's connection dropped after its commit).
        s.append(append(), Some(snap)).await.unwrap();
        s.append(vec![entry("room", 1, 10)], None).await.unwrap();
        assert_eq!(seqs(s, "room").await, [1, 2, 3], "{name}: every entry once");
        s.append(vec![entry("room", 3, 13), entry("room", 4, 14), entry("room", 4, 14)], None).await.unwrap();
        assert_eq!(seqs(s, "room").await, [1, 2, 3, 4], "{name}: a retry overlapping new entries");

        let taken = |r| matches!(r, Err(StoreError::Conflict { constraint: Constraint::LogSeq, .. }));
        let changes: [fn(&mut LogEntry); 5] = [
            |e| e.at_ms += 1,
            |e| e.author = Arc::from("Ivy"),
            |e| e.role = Some(Role::Interviewer),
            |e| e.conn_id += 1,
            |e| e.update = Bytes::from_static(b"another update"),
        ];
        for (i, change) in changes.into_iter().enumerate() {
            let mut changed = entry("room", 4, 14);
            change(&mut changed);
            let refused = s.append(vec![entry("room", 5, 15), changed], None).await;
            assert!(taken(refused), "{name}: change {i} makes it another entry, not a retry");
        }
        assert_eq!(seqs(s, "room").await, [1, 2, 3, 4], "{name}: a refused append writes nothing");

        // Two appends of the same entries at once (a handover, say): both succeed, one copy is kept.
        let racing: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.append(vec![entry("room", 5, 15), entry("room", 6, 16)], None).await
                })
            })
            .collect();
        for append in racing {
            append.await.unwrap().unwrap();
        }
        assert_eq!(seqs(&*store, "room").await, [1, 2, 3, 4, 5, 6], "{name}");
        assert_eq!(store.load_room("room").await.unwrap().next_seq(), 7, "{name}");
    })
    .await;
}

#[tokio::test]
async fn loading_reads_the_newest_snapshot_and_the_log_after_it() {
    each_backend(async |store, name| {
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
    })
    .await;
}

#[tokio::test]
async fn presence_reads_back_by_time_then_as_recorded() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        for (at, who) in [(30, "late"), (20, "first"), (20, "second")] {
            s.record_presence("room", joined(at, who)).await.unwrap();
        }
        let names: Vec<String> = s.presence("room").await.unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["first", "second", "late"], "{name}: by time, then as recorded");
    })
    .await;
}
