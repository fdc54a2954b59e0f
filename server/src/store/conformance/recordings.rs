//! Voice recordings' rows: saved when a file opens, updated as it grows (never shrinking), listed oldest first,
//! refused for an unknown room, gone with their submission.

use handoff_protocol::Role;
use handoff_protocol::recording::Anchor;

use super::{each_backend, promoted};
use crate::store::{Missing, RecordingRecord, StoreError};

fn recording(id: &str, room: &str, started_at_ms: u64) -> RecordingRecord {
    RecordingRecord {
        id: id.into(),
        room_id: room.into(),
        member: 7,
        name: "Cam".into(),
        role: Role::Candidate,
        started_at_ms,
        duration_ms: 0,
        path: format!("{room}/{id}.ogg"),
        anchors: vec![Anchor { at_ms: started_at_ms, sample: 0 }],
    }
}

#[tokio::test]
async fn recordings_read_back_oldest_first_and_finishing_replaces_duration_and_anchors() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        assert!(s.recordings("room").await.unwrap().is_empty(), "{name}: none yet");
        let late = recording("rec-b", "room", 30);
        let early = recording("rec-a", "room", 20);
        s.save_recording(late.clone()).await.unwrap();
        s.save_recording(early.clone()).await.unwrap();
        assert_eq!(s.recordings("room").await.unwrap(), [early.clone(), late.clone()], "{name}");

        let finished = RecordingRecord {
            duration_ms: 3_000,
            anchors: vec![Anchor { at_ms: 20, sample: 0 }, Anchor { at_ms: 2_020, sample: 48_000 }],
            ..early.clone()
        };
        s.save_recording(finished.clone()).await.unwrap();
        assert_eq!(s.recording("room", "rec-a").await.unwrap(), Some(finished.clone()), "{name}");
        assert_eq!(
            s.recordings("room").await.unwrap(),
            [finished.clone(), late],
            "{name}: replaced, not added"
        );
        let stale = RecordingRecord { duration_ms: 1_000, ..finished.clone() };
        s.save_recording(stale).await.unwrap();
        assert_eq!(
            s.recording("room", "rec-a").await.unwrap(),
            Some(finished.clone()),
            "{name}: a shorter save landing late does not undo a longer one"
        );
        assert_eq!(s.recording("other-room", "rec-a").await.unwrap(), None, "{name}: per room");
        assert_eq!(s.recording("room", "nope").await.unwrap(), None, "{name}");

        let orphan = s.save_recording(recording("rec-c", "nowhere", 40)).await;
        assert!(
            matches!(orphan, Err(StoreError::NotFound { missing: Missing::Room, .. })),
            "{name}: a recording needs its room: {orphan:?}"
        );
        s.purge_submission("sub").await.unwrap();
        assert!(s.recordings("room").await.unwrap().is_empty(), "{name}: purged with the submission");
        let late = s.save_recording(recording("rec-d", "room", 50)).await;
        assert!(
            matches!(late, Err(StoreError::NotFound { missing: Missing::Room, .. })),
            "{name}: a recording finished after its room was purged keeps no row: {late:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn record_voice_reads_back_as_created() {
    each_backend(async |store, name| {
        let s = &*store;
        s.insert_submission(super::submission("sub", 1)).await.unwrap();
        let room = crate::store::RoomRecord { voice: true, record_voice: true, ..super::room("r", "sub", 2) };
        s.create_room(room.clone(), super::entry("r", 1, 2)).await.unwrap();
        assert_eq!(s.get_room("r").await.unwrap(), Some(room), "{name}");
    })
    .await;
}
