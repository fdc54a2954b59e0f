//! Submissions and rooms: one live room per submission, racing promotes, listing, sweeps and purge.

use handoff_protocol::api::{LiveScore, RoomStatus};

use super::{each_backend, entry, joined, promoted, room, seqs, submission};
use crate::store::{Constraint, Missing, Snapshot, StoreError};

#[tokio::test]
async fn one_live_room_per_submission() {
    each_backend(async |store, name| {
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

        let refused = s.reopen_room("room-a").await;
        assert!(
            matches!(refused, Err(StoreError::Conflict { constraint: Constraint::OneLiveRoom, .. })),
            "{name}: no reopen while the submission has another live room: {refused:?}"
        );
        s.end_room("room-b", 50).await.unwrap();
        let back = s.reopen_room("room-a").await.unwrap().unwrap();
        assert_eq!((back.status, back.ended_at_ms), (RoomStatus::Live, None), "{name}");
        assert!(s.reopen_room("nowhere").await.unwrap().is_none(), "{name}");
        assert!(s.end_room("nowhere", 1).await.unwrap().is_none(), "{name}");

        let orphan = s.create_room(room("room-c", "unknown", 60), entry("room-c", 1, 60)).await;
        assert!(
            matches!(orphan, Err(StoreError::NotFound { missing: Missing::Submission, .. })),
            "{name}: a room needs its submission: {orphan:?}"
        );
        s.insert_submission(submission("other", 70)).await.unwrap();
        let taken = s.create_room(room("room-a", "other", 70), entry("room-a", 1, 70)).await;
        assert!(
            matches!(taken, Err(StoreError::Conflict { constraint: Constraint::RoomId, .. })),
            "{name}: room ids are unique: {taken:?}"
        );
        let twice = s.insert_submission(submission("other", 80)).await;
        assert!(
            matches!(twice, Err(StoreError::Conflict { constraint: Constraint::SubmissionId, .. })),
            "{name}: so are submission ids: {twice:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn racing_promotes_share_one_room() {
    each_backend(async |store, name| {
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
    })
    .await;
}

#[tokio::test]
async fn purge_removes_everything_of_one_submission_and_nothing_else() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "gone", "old", 10).await;
        s.end_room("old", 15).await.unwrap();
        s.create_room(room("new", "gone", 20), entry("new", 1, 20)).await.unwrap();
        promoted(s, "kept", "other", 30).await;
        let scores = vec![LiveScore { dimension: "design".into(), score: 1.0, max: 5.0, evidence: vec![] }];
        for id in ["old", "new", "other"] {
            let snap = Snapshot { room_id: id.into(), upto_seq: 1, at_ms: 40, state: vec![1] };
            s.append(vec![entry(id, 2, 40)], Some(snap)).await.unwrap();
            s.set_notes(id, format!("notes {id}"), 40).await.unwrap();
            s.set_scores(id, scores.clone(), 40).await.unwrap();
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
            assert!(s.scores(id).await.unwrap().is_empty(), "{name}: {id}");
            assert!(s.presence(id).await.unwrap().is_empty(), "{name}: {id}");
            assert!(s.webhook_status(id).await.unwrap().is_none(), "{name}: {id}");
        }
        let due: Vec<String> =
            s.due_webhooks(100, 10).await.unwrap().into_iter().map(|d| d.room_id).collect();
        assert_eq!(due, ["other"], "{name}");
        assert_eq!(s.notes("other").await.unwrap(), "notes other", "{name}: other submissions stay");
        assert_eq!(s.scores("other").await.unwrap(), scores, "{name}");
        assert_eq!(seqs(s, "other").await, [1, 2], "{name}");

        assert!(s.purge_submission("gone").await.unwrap().is_none(), "{name}: unknown once purged");
        let room_gone = |r| matches!(r, Err(StoreError::NotFound { missing: Missing::Room, .. }));
        assert!(room_gone(s.set_notes("old", "late".into(), 50).await), "{name}: notes need their room");
        assert!(room_gone(s.record_presence("old", joined(50, "Cam")).await), "{name}: so does presence");
        assert!(room_gone(s.set_scores("old", Vec::new(), 50).await), "{name}: and scores");
        assert!(room_gone(s.enqueue_webhook("old", "http://hook", "{}".into(), 50).await), "{name}");
    })
    .await;
}

#[tokio::test]
async fn retention_and_idle_queries_look_at_rooms_log_and_presence() {
    each_backend(async |store, name| {
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
        assert_eq!(s.count_live_rooms().await.unwrap(), 4, "{name}: r3 to r6");
    })
    .await;
}

#[tokio::test]
async fn submissions_list_newest_first_with_the_live_or_newest_room() {
    each_backend(async |store, name| {
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
    })
    .await;
}

#[tokio::test]
async fn a_purge_racing_writes_to_its_room_removes_everything() {
    each_backend(async |store, name| {
        promoted(&*store, "sub", "room", 10).await;
        // What a purge's closing clients and a busy interviewer write meanwhile.
        let writes: Vec<_> = (0..24)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    match i % 3 {
                        0 => store.record_presence("room", joined(20 + i, "Cam")).await,
                        1 => store.set_notes("room", format!("note {i}"), 20 + i).await,
                        _ => store.enqueue_webhook("room", "http://hook", "{}".into(), 20 + i).await,
                    }
                })
            })
            .collect();
        let purged = store.purge_submission("sub").await;
        assert_eq!(purged.unwrap(), Some(vec!["room".to_owned()]), "{name}: the purge succeeds");
        for write in writes {
            let landed = write.await.unwrap();
            let refused = matches!(landed, Err(StoreError::NotFound { missing: Missing::Room, .. }));
            assert!(landed.is_ok() || refused, "{name}: a write lands before the purge or finds no room");
        }
        let s = &*store;
        assert!(s.presence("room").await.unwrap().is_empty(), "{name}: nothing of the room is left");
        assert_eq!(s.notes("room").await.unwrap(), "", "{name}");
        assert!(s.webhook_status("room").await.unwrap().is_none(), "{name}");
    })
    .await;
}
