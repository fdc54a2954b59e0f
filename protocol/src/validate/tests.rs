use super::*;
use crate::api::{Candidate, Exercise, FileEntry, Interviewer};
use crate::interview::RoomOptions;

fn sub(files: Vec<(&str, &str)>) -> SubmissionRequest {
    SubmissionRequest {
        candidate: Candidate { name: "Ada".into(), email: None },
        exercise: Exercise { title: "LRU cache".into(), language: Some("python".into()), brief: None },
        files: files.into_iter().map(|(p, c)| FileEntry { path: p.into(), content: c.into() }).collect(),
        events: vec![],
        integrity: None,
        scorecard: None,
    }
}

#[test]
fn accepts_nested_relative_paths_and_empty_files() {
    assert_eq!(submission(&sub(vec![("src/main.py", "x = 1\n"), ("README.md", "")])), Ok(()));
}

#[test]
fn refuses_traversal_absolute_and_odd_paths() {
    for p in ["../etc/passwd", "a/../../b", "/etc/passwd", "C:/x", "a\\b", "a//b", "./a", "a/", "", "a\u{0}b"]
    {
        let err = submission(&sub(vec![(p, "x")])).unwrap_err();
        assert_eq!(err.code(), "invalid_path", "path {p:?} should be refused");
        assert!(matches!(err, Invalid::BadRequest { .. }));
    }
}

#[test]
fn refuses_duplicate_paths() {
    let err = submission(&sub(vec![("a.py", "1"), ("a.py", "2")])).unwrap_err();
    assert_eq!(err.code(), "duplicate_path");
}

#[test]
fn refuses_no_files_and_blank_names() {
    assert_eq!(submission(&sub(vec![])).unwrap_err().code(), "invalid_field");
    let mut s = sub(vec![("a", "")]);
    s.candidate.name = "  ".into();
    let err = submission(&s).unwrap_err();
    assert!(err.to_string().contains("candidate.name"));
}

#[test]
fn file_over_limit_is_too_large_and_names_the_file() {
    let big = "x".repeat(MAX_FILE_BYTES + 1);
    let err = submission(&sub(vec![("big.txt", &big)])).unwrap_err();
    assert!(matches!(err, Invalid::TooLarge { code: "file_too_large", .. }));
    assert!(err.to_string().contains("big.txt"));
    assert!(err.to_string().contains(&MAX_FILE_BYTES.to_string()));
}

#[test]
fn submission_over_total_limit_is_too_large() {
    let chunk = "y".repeat(MAX_FILE_BYTES);
    let n = MAX_SUBMISSION_BYTES / MAX_FILE_BYTES + 1;
    let names: Vec<String> = (0..n).map(|i| format!("f{i}.txt")).collect();
    let files = names.iter().map(|p| (p.as_str(), chunk.as_str())).collect();
    let err = submission(&sub(files)).unwrap_err();
    assert_eq!(err.code(), "submission_too_large");
}

#[test]
fn too_many_files_is_too_large() {
    let names: Vec<String> = (0..=MAX_FILES).map(|i| format!("f{i}")).collect();
    let err = submission(&sub(names.iter().map(|p| (p.as_str(), "")).collect())).unwrap_err();
    assert_eq!(err.code(), "too_many_files");
}

#[test]
fn promote_checks_name_and_ttl() {
    let ok = PromoteRequest {
        interviewer: Interviewer { name: "Ivy".into() },
        voice: false,
        record_voice: None,
        expires_in_s: Some(600),
        options: Default::default(),
        on_ended: Default::default(),
    };
    assert_eq!(promote(&ok), Ok(()));
    let zero = PromoteRequest { expires_in_s: Some(0), ..ok.clone() };
    assert!(promote(&zero).is_err());
    let long = PromoteRequest { expires_in_s: Some(MAX_ROOM_TOKEN_TTL_SECS + 1), ..ok.clone() };
    assert!(promote(&long).is_err());
    let blank = PromoteRequest { interviewer: Interviewer { name: String::new() }, ..ok };
    assert!(promote(&blank).is_err());
}

#[test]
fn events_must_cite_submitted_files_and_carry_their_fields() {
    let mut s = sub(vec![("a.py", "")]);
    s.events =
        serde_json::from_value(serde_json::json!([{"at_ms": 1, "kind": "focus_lost", "file": "ghost.py"}]))
            .unwrap();
    assert!(submission(&s).unwrap_err().to_string().contains("ghost.py"));
    s.events = serde_json::from_value(
        serde_json::json!([{"at_ms": 1, "kind": "edit", "file": "a.py", "offset": 0}]),
    )
    .unwrap();
    assert_eq!(submission(&s).unwrap_err().code(), "invalid_event");
    s.events = serde_json::from_value(serde_json::json!([{"at_ms": 1, "kind": "paste"}])).unwrap();
    assert_eq!(submission(&s).unwrap_err().code(), "invalid_event");
    s.events = serde_json::from_value(serde_json::json!([
        {"at_ms": 1, "kind": "edit", "file": "a.py", "offset": 0, "insert": "x"},
        {"at_ms": 2, "kind": "paste", "file": "a.py", "length": 3}
    ]))
    .unwrap();
    assert_eq!(submission(&s), Ok(()));
}

#[test]
fn events_must_be_in_time_order() {
    let mut s = sub(vec![("a.py", "")]);
    s.events = serde_json::from_value(serde_json::json!([
        {"at_ms": 10, "kind": "focus_lost"}, {"at_ms": 5, "kind": "focus_gained"}
    ]))
    .unwrap();
    let err = submission(&s).unwrap_err();
    assert_eq!(err.code(), "invalid_event");
    assert!(err.to_string().contains("events[1]"));
}

#[test]
fn promote_bounds_the_duration() {
    let ok = PromoteRequest {
        interviewer: Interviewer { name: "Ivy".into() },
        voice: false,
        record_voice: None,
        expires_in_s: None,
        options: RoomOptions { duration_min: Some(45), candidate_sees_integrity: true },
        on_ended: Default::default(),
    };
    assert_eq!(promote(&ok), Ok(()));
    for min in [0, MAX_DURATION_MIN + 1] {
        let bad = PromoteRequest {
            options: RoomOptions { duration_min: Some(min), ..ok.options.clone() },
            ..ok.clone()
        };
        assert_eq!(promote(&bad).map_err(|e| e.code()), Err("invalid_field"), "{min} minutes");
    }
}

#[test]
fn a_brief_questions_and_integrity_notes_are_bounded() {
    let mut s = sub(vec![("a.py", "")]);
    s.exercise.brief = Some("# Task\n".into());
    assert_eq!(submission(&s), Ok(()));
    s.exercise.brief = Some("x".repeat(MAX_BRIEF_BYTES + 1));
    assert_eq!(submission(&s).map_err(|e| e.code()), Err("brief_too_large"));

    assert_eq!(question(&QuestionBody { text: "Why a dict?".into() }), Ok(()));
    assert_eq!(question(&QuestionBody { text: "  ".into() }).map_err(|e| e.code()), Err("invalid_field"));
    let long = QuestionBody { text: "é".repeat(MAX_QUESTION_CHARS + 1) };
    assert_eq!(question(&long).map_err(|e| e.code()), Err("question_too_large"));

    let note = |note: String| IntegrityNoteBody { kind: "paste".into(), at_ms: 1, note };
    assert_eq!(integrity_note(&note("é".repeat(MAX_INTEGRITY_NOTE_CHARS))), Ok(()));
    let over = integrity_note(&note("é".repeat(MAX_INTEGRITY_NOTE_CHARS + 1)));
    assert_eq!(over.map_err(|e| e.code()), Err("integrity_note_too_large"));
}
