//! Replaying the async session from its event stream: `edit` events (`offset`, `delete`, `insert`, in
//! UTF-16 units) and `paste` events that carry their `text`, applied in order to files that start empty.
//! If the replay does not end at the submitted files, the submission is still accepted, with a
//! `replay_mismatch` warning naming the files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::submission::{AsyncEvent, FileEntry};
use crate::utf16;

/// A non-fatal finding about a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

fn num(e: &AsyncEvent, key: &str) -> u32 {
    e.data.get(key).and_then(serde_json::Value::as_u64).map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
}

fn text<'a>(e: &'a AsyncEvent, key: &str) -> &'a str {
    e.data.get(key).and_then(serde_json::Value::as_str).unwrap_or("")
}

/// Whether the stream can be replayed: it has edits, and every edit says where it happened (an edit
/// without an `offset` cannot be placed, so no replay is offered rather than a wrong one).
pub fn has_edits(events: &[AsyncEvent]) -> bool {
    let mut edits = events.iter().filter(|e| e.kind == "edit").peekable();
    edits.peek().is_some() && edits.all(|e| e.data.get("offset").is_some_and(serde_json::Value::is_u64))
}

/// The files after every event up to and including `until_ms` (all when `None`).
pub fn replay(events: &[AsyncEvent], until_ms: Option<u64>) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for e in events.iter().filter(|e| until_ms.is_none_or(|t| e.at_ms <= t)) {
        let Some(path) = &e.file else { continue };
        let (delete, insert) = match e.kind.as_str() {
            "edit" => (num(e, "delete"), text(e, "insert")),
            "paste" if e.data.contains_key("text") => (0, text(e, "text")),
            _ => continue,
        };
        let content = files.entry(path.clone()).or_default();
        let at = num(e, "offset");
        let start = utf16::byte_at(content, at);
        let end = utf16::byte_at(content, at.saturating_add(delete));
        content.replace_range(start..end, insert);
    }
    files
}

/// A `replay_mismatch` warning when the stream has edits and they do not reproduce `files`.
pub fn check(events: &[AsyncEvent], files: &[FileEntry]) -> Option<Warning> {
    if !has_edits(events) {
        return None;
    }
    let replayed = replay(events, None);
    let differing: Vec<String> = files
        .iter()
        .filter(|f| replayed.get(&f.path).map_or(!f.content.is_empty(), |r| *r != f.content))
        .map(|f| f.path.clone())
        .collect();
    (!differing.is_empty()).then(|| Warning {
        code: "replay_mismatch".into(),
        message: format!(
            "replaying the edit events does not reproduce {} of the submitted files; the submission is kept as sent",
            differing.len()
        ),
        files: differing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(v: serde_json::Value) -> Vec<AsyncEvent> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn edits_and_pastes_replay_to_the_submission() {
        let evs = events(json!([
            {"at_ms": 10, "kind": "edit", "file": "a.py", "offset": 0, "delete": 0, "insert": "def f():\n"},
            {"at_ms": 20, "kind": "paste", "file": "a.py", "offset": 9, "length": 13, "text": "    return 1\n"},
            {"at_ms": 30, "kind": "edit", "file": "a.py", "offset": 20, "delete": 1, "insert": "42"},
            {"at_ms": 40, "kind": "edit", "file": "b.md", "offset": 0, "delete": 0, "insert": "🙂 ok"},
            {"at_ms": 50, "kind": "edit", "file": "b.md", "offset": 2, "delete": 1, "insert": ""},
        ]));
        let files = replay(&evs, None);
        assert_eq!(files["a.py"], "def f():\n    return 42\n");
        assert_eq!(files["b.md"], "🙂ok", "offsets count UTF-16 units");
        assert_eq!(replay(&evs, Some(20))["a.py"], "def f():\n    return 1\n");
        let submitted = vec![
            FileEntry { path: "a.py".into(), content: "def f():\n    return 42\n".into() },
            FileEntry { path: "b.md".into(), content: "🙂ok".into() },
        ];
        assert_eq!(check(&evs, &submitted), None);
        let changed = vec![FileEntry { path: "a.py".into(), content: "something else".into() }];
        let w = check(&evs, &changed).unwrap();
        assert_eq!((w.code.as_str(), w.files.clone()), ("replay_mismatch", vec!["a.py".to_owned()]));
    }

    #[test]
    fn a_stream_without_edits_is_not_checked() {
        let evs =
            events(json!([{"at_ms": 1, "kind": "focus_lost"}, {"at_ms": 2, "kind": "paste", "length": 300}]));
        assert!(!has_edits(&evs));
        let unplaced = events(json!([{"at_ms": 1, "kind": "edit", "file": "a", "insert": "x"}]));
        assert!(!has_edits(&unplaced), "an edit without an offset cannot be replayed");
        assert_eq!(check(&evs, &[FileEntry { path: "a".into(), content: "x".into() }]), None);
    }
}
