//! The interviewer's notes and live scores: empty until written, then the last write wins.

use handoff_protocol::api::{LiveScore, Moment};

use super::{each_backend, promoted};

#[tokio::test]
async fn notes_and_scores_read_back_as_written() {
    each_backend(async |store, name| {
        let s = &*store;
        promoted(s, "sub", "room", 10).await;
        assert_eq!(s.notes("room").await.unwrap(), "", "{name}: nothing written yet");
        assert!(s.scores("room").await.unwrap().is_empty(), "{name}: nothing scored yet");
        s.set_notes("room", "one".into(), 20).await.unwrap();
        s.set_notes("room", "two".into(), 21).await.unwrap();
        let cited = Moment {
            seq: Some(4),
            at_ms: None,
            async_at_ms: Some(9),
            file: Some("main.py".into()),
            lines: Some([3, 7]),
            note: "evicts the oldest".into(),
        };
        let first = vec![LiveScore { dimension: "design".into(), score: 2.0, max: 5.0, evidence: vec![] }];
        let last = vec![
            LiveScore { dimension: "design".into(), score: 3.5, max: 5.0, evidence: vec![cited] },
            LiveScore { dimension: "tests".into(), score: 1.0, max: 3.0, evidence: vec![] },
        ];
        s.set_scores("room", first, 22).await.unwrap();
        s.set_scores("room", last.clone(), 23).await.unwrap();
        assert_eq!(s.notes("room").await.unwrap(), "two", "{name}: the last write wins");
        assert_eq!(s.scores("room").await.unwrap(), last, "{name}: the last write wins, as written");
    })
    .await;
}
