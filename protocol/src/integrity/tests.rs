use super::*;
use serde_json::json;

fn ev(v: serde_json::Value) -> AsyncEvent {
    serde_json::from_value(v).unwrap()
}

#[test]
fn known_stream_gives_known_answers() {
    let events: Vec<AsyncEvent> = [
        json!({"at_ms": 0, "kind": "focus_gained"}),
        json!({"at_ms": 4000, "kind": "edit", "file": "a.py", "offset": 0, "delete": 0, "insert": "def f():"}),
        json!({"at_ms": 5000, "kind": "paste", "file": "a.py", "offset": 8, "length": 240}),
        json!({"at_ms": 6000, "kind": "paste", "file": "a.py", "text": "short"}),
        json!({"at_ms": 10000, "kind": "focus_lost"}),
        json!({"at_ms": 52000, "kind": "focus_gained"}),
        json!({"at_ms": 60000, "kind": "focus_lost"}),
        json!({"at_ms": 65000, "kind": "focus_gained"}),
        // 40 characters in 8 key events within 700 ms: a burst.
        json!({"at_ms": 70000, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        json!({"at_ms": 70100, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        json!({"at_ms": 70200, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        json!({"at_ms": 70300, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        json!({"at_ms": 70400, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        json!({"at_ms": 70500, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        json!({"at_ms": 70600, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        json!({"at_ms": 70700, "kind": "edit", "file": "a.py", "insert": "x".repeat(5)}),
        // Human pace afterwards: 5 characters a second.
        json!({"at_ms": 80000, "kind": "edit", "file": "a.py", "insert": "abcde"}),
        json!({"at_ms": 81000, "kind": "edit", "file": "a.py", "insert": "abcde"}),
    ]
    .into_iter()
    .map(ev)
    .collect();
    let s = summarize(&events);
    assert_eq!(s.first_keystroke_ms, Some(4000));
    assert_eq!(s.pastes, Pastes { count: 1, largest: 240, total_chars: 245 });
    assert_eq!(s.focus, Focus { losses: 2, away_ms: 47_000, longest_away_ms: 42_000 });
    assert_eq!(s.bursts, 1);
    let kinds: Vec<(FlagKind, u64)> = s.flags.iter().map(|f| (f.kind.clone(), f.at_ms)).collect();
    assert_eq!(
        kinds,
        vec![
            (FlagKind::Paste, 5000),
            (FlagKind::FocusLost, 10000),
            (FlagKind::FocusLost, 60000),
            (FlagKind::Burst, 70000)
        ]
    );
    assert_eq!(s.flags[0].detail, "pasted 240 characters into a.py");
    assert_eq!(s.flags[1].detail, "left the exercise for 42 s");
}

#[test]
fn pastes_are_traced_to_the_submitted_lines() {
    let pasted = "def evict(self):\n    self.items.popitem(last=False)\n";
    let events: Vec<AsyncEvent> = [
        json!({"at_ms": 10, "kind": "paste", "file": "a.py", "text": pasted.repeat(4)}),
        json!({"at_ms": 20, "kind": "paste", "file": "a.py", "text": "gone gone gone gone gone gone gone gone"}),
    ]
    .into_iter()
    .map(ev)
    .collect();
    let content = format!("import x\n\n{}# end\n", pasted.repeat(4));
    let files = vec![FileEntry { path: "a.py".into(), content }];
    let s = summarize_submission(&events, &files);
    assert_eq!(s.flags[0].lines, Some([3, 10]));
    assert!(s.flags[0].detail.ends_with("(still at lines 3–10)"));
    // 208 pasted characters still there, out of 224 submitted; the vanished paste counts for nothing.
    assert_eq!(s.pasted_share, Some(208.0 / 224.0));
}

#[test]
fn empty_stream_has_no_flags() {
    let s = summarize(&[]);
    assert!(s.flags.is_empty());
    assert_eq!(s.first_keystroke_ms, None);
}

fn stream(events: Vec<serde_json::Value>) -> Vec<AsyncEvent> {
    events.into_iter().map(ev).collect()
}

#[test]
fn one_large_insertion_is_inserted_at_once_not_a_burst() {
    let s = summarize(&stream(vec![
        json!({"at_ms": 3000, "kind": "edit", "file": "lru.py", "insert": "z".repeat(36)}),
    ]));
    assert_eq!(s.bursts, 0, "one event shows no typing speed");
    assert_eq!(s.insertions, 1);
    assert_eq!(s.flags.len(), 1);
    assert_eq!(s.flags[0].kind, FlagKind::Insertion);
    assert_eq!(s.flags[0].detail, "inserted 36 characters at once into lru.py");
}

#[test]
fn a_burst_needs_several_key_events() {
    // 40 characters in two events: fast, but two events are no keystroke timing.
    let two = summarize(&stream(vec![
        json!({"at_ms": 0, "kind": "edit", "file": "a.py", "insert": "x".repeat(20)}),
        json!({"at_ms": 500, "kind": "edit", "file": "a.py", "insert": "y".repeat(20)}),
    ]));
    assert_eq!(two.bursts, 0);
    assert!(two.flags.iter().all(|f| f.kind != FlagKind::Burst), "{:?}", two.flags);

    // The same pace over enough key events is a burst.
    let keys: Vec<serde_json::Value> = (0..BURST_MIN_KEY_EVENTS as u64)
        .map(|i| json!({"at_ms": 1000 + i * 50, "kind": "edit", "file": "a.py", "insert": "abcdefgh"}))
        .collect();
    let typed = summarize(&stream(keys));
    assert_eq!(typed.bursts, 1);
    let burst = typed.flags.iter().find(|f| f.kind == FlagKind::Burst).unwrap();
    assert_eq!(
        burst.detail,
        format!(
            "typed {} characters in {BURST_MIN_KEY_EVENTS} key events within {} ms",
            8 * BURST_MIN_KEY_EVENTS,
            50 * (BURST_MIN_KEY_EVENTS - 1)
        )
    );
}

#[test]
fn missing_data_reads_no_events_recorded() {
    let quiet = stats(&summarize(&[]));
    let get = |label: &str| quiet.iter().find(|(l, _)| *l == label).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("Focus"), "no events recorded");
    assert_eq!(get("First keystroke"), "no events recorded");
    assert_eq!(get("Typing bursts"), "no events recorded");

    // A quiet stream that was recorded is said as observed.
    let seen = stats(&summarize(&stream(vec![
        json!({"at_ms": 0, "kind": "focus_gained"}),
        json!({"at_ms": 65000, "kind": "edit", "file": "a.py", "insert": "x"}),
    ])));
    let get = |label: &str| seen.iter().find(|(l, _)| *l == label).map(|(_, v)| v.clone()).unwrap();
    assert_eq!(get("Focus"), "never left");
    assert_eq!(get("First keystroke"), "at 1:05");
    assert_eq!(get("Typing bursts"), "none");
}

#[test]
fn every_flag_carries_its_threshold() {
    let s = summarize(&stream(vec![
        json!({"at_ms": 100, "kind": "paste", "file": "a.py", "length": 240}),
        json!({"at_ms": 200, "kind": "edit", "file": "a.py", "insert": "q".repeat(40)}),
        json!({"at_ms": 300, "kind": "focus_lost"}),
        json!({"at_ms": 9300, "kind": "focus_gained"}),
    ]));
    let threshold = |kind: FlagKind| s.flags.iter().find(|f| f.kind == kind).unwrap().threshold.clone();
    assert!(threshold(FlagKind::Paste).contains(&LARGE_PASTE_CHARS.to_string()));
    assert!(threshold(FlagKind::Insertion).contains(&LARGE_INSERT_CHARS.to_string()));
    assert!(!threshold(FlagKind::FocusLost).is_empty());
    let burst = burst_threshold();
    for part in
        [BURST_CHARS_PER_WINDOW.to_string(), BURST_WINDOW_MS.to_string(), BURST_MIN_KEY_EVENTS.to_string()]
    {
        assert!(burst.contains(&part), "{burst}");
    }
}
