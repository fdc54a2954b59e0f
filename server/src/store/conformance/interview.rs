//! Questions pushed to a room and the candidate's integrity notes: numbered in order, one note per
//! signal, kept per room.

use handoff_protocol::interview::{IntegrityNote, RoomOptions};

use super::{each_backend, promoted};
use crate::store::{Missing, StoreError};

fn note(kind: &str, at_ms: u64, text: &str, written: u64) -> IntegrityNote {
    IntegrityNote { kind: kind.into(), at_ms, note: text.into(), written_at_ms: written }
}

#[tokio::test]
async fn questions_are_numbered_in_the_order_they_are_pushed() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        promoted(s, "other", "elsewhere", 10).await;
        assert!(s.questions("room").await.unwrap().is_empty(), "{name}: none pushed yet");
        let first = s.add_question("room", "Why a dict?".into(), 20).await.unwrap();
        let second = s.add_question("room", "What is put() in O()?".into(), 21).await.unwrap();
        let elsewhere = s.add_question("elsewhere", "Another room".into(), 22).await.unwrap();
        assert_eq!((first.n, second.n, elsewhere.n), (1, 2, 1), "{name}: numbered per room");
        assert_eq!(s.questions("room").await.unwrap(), vec![first, second], "{name}");
        let unknown = s.add_question("nope", "?".into(), 23).await.unwrap_err();
        assert!(
            matches!(unknown, StoreError::NotFound { missing: Missing::Room, .. }),
            "{name}: {unknown:?}"
        );
        s.purge_submission("sub").await.unwrap();
        assert!(s.questions("room").await.unwrap().is_empty(), "{name}: a purge removes them");
    })
    .await;
}

#[tokio::test]
async fn one_integrity_note_per_signal_the_last_write_wins() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        s.set_integrity_note("room", note("paste", 900, "from my own file", 20)).await.unwrap();
        s.set_integrity_note("room", note("focus_lost", 100, "doorbell", 21)).await.unwrap();
        s.set_integrity_note("room", note("paste", 900, "from my own earlier file", 22)).await.unwrap();
        let want =
            vec![note("focus_lost", 100, "doorbell", 21), note("paste", 900, "from my own earlier file", 22)];
        assert_eq!(s.integrity_notes("room").await.unwrap(), want, "{name}: ordered by the signal's moment");
        s.set_integrity_note("room", note("focus_lost", 100, "", 23)).await.unwrap();
        assert_eq!(s.integrity_notes("room").await.unwrap(), want[1..], "{name}: an empty note removes it");
        let unknown = s.set_integrity_note("nope", note("paste", 1, "x", 24)).await.unwrap_err();
        assert!(
            matches!(unknown, StoreError::NotFound { missing: Missing::Room, .. }),
            "{name}: {unknown:?}"
        );
        s.purge_submission("sub").await.unwrap();
        assert!(s.integrity_notes("room").await.unwrap().is_empty(), "{name}: a purge removes them");
    })
    .await;
}

#[tokio::test]
async fn a_room_keeps_its_options_and_the_latest_room_is_the_live_one_or_the_newest() {
    each_backend(async |store, name| {
        let s = &*store;
        s.insert_submission(super::submission("sub", 1)).await.unwrap();
        assert!(s.latest_room_for_submission("sub").await.unwrap().is_none(), "{name}: not promoted");
        let mut first = super::room("first", "sub", 10);
        first.options = RoomOptions { duration_min: Some(45), candidate_sees_integrity: true };
        s.create_room(first.clone(), super::entry("first", 1, 10)).await.unwrap();
        assert_eq!(s.get_room("first").await.unwrap(), Some(first.clone()), "{name}: options read back");
        s.end_room("first", 20).await.unwrap();
        let latest = s.latest_room_for_submission("sub").await.unwrap().unwrap();
        assert_eq!((latest.id.as_str(), latest.ended_at_ms), ("first", Some(20)), "{name}: the ended room");
        s.create_room(super::room("second", "sub", 30), super::entry("second", 1, 30)).await.unwrap();
        let latest = s.latest_room_for_submission("sub").await.unwrap().unwrap();
        assert_eq!(
            (latest.id.as_str(), latest.options.clone()),
            ("second", RoomOptions::default()),
            "{name}"
        );
    })
    .await;
}
