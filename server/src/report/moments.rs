//! Runs and cited moments in words: "12:30 — the candidate rewrote `put()` in lru.py, lines 19–23".
//! A cited moment is described from the edits around it (the run holding the cited edit, or the run
//! at or just before the cited time), so a citation reads as what happened, not as a sequence number.

use handoff_protocol::api::Moment;
use handoff_protocol::attribution::Source;
use handoff_protocol::export::{EditRun, Export};
use handoff_protocol::integrity::{Flag, FlagKind};
use handoff_protocol::record::runs::within;

use super::html::{lines, offset};

/// Who wrote a run: the role, and the name when it is not the one the room was opened for.
pub(super) fn who(export: &Export, author: &str, source: Source) -> String {
    let (role, expected) = match source {
        Source::Candidate => ("the candidate", export.candidate.name.as_str()),
        Source::Interviewer => ("the interviewer", export.interviewer.as_str()),
        Source::Submission => ("the submission", author),
    };
    if author == expected { role.to_owned() } else { format!("{role} ({author})") }
}

/// What a run did, where: "rewrote `put()` in lru.py, lines 19–23".
pub(super) fn what(run: &EditRun) -> String {
    let verb = match (run.inserted_chars > 0, run.deleted_chars > 0) {
        (true, true) => "rewrote",
        (true, false) => "added to",
        _ => "deleted from",
    };
    let place = match &run.within {
        Some(name) => format!("`{name}` in {}", run.file),
        None => run.file.clone(),
    };
    format!("{verb} {place}, {}", lines(run.lines))
}

/// One run as a sentence, timed from the room's start.
pub(super) fn run_sentence(export: &Export, run: &EditRun) -> String {
    let from = offset(run.start_ms.saturating_sub(export.started_at_ms));
    let to = offset(run.end_ms.saturating_sub(export.started_at_ms));
    let when = if from == to { from } else { format!("{from}–{to}") };
    let size = match run.edits {
        1 => "1 edit".to_owned(),
        n => format!("{n} edits"),
    };
    format!(
        "{when} — {} {} ({size}, +{} −{} characters)",
        who(export, &run.author, run.source),
        what(run),
        run.inserted_chars,
        run.deleted_chars
    )
}

/// A score's cited moment in words, with the interviewer's note after it.
pub(super) fn describe(export: &Export, flags: &[Flag], m: &Moment) -> String {
    let mut out =
        live(export, m).or_else(|| asynchronous(flags, m)).unwrap_or_else(|| match (&m.file, m.lines) {
            (Some(file), Some(span)) => format!("{file}, {}", lines(span)),
            (Some(file), None) => file.clone(),
            _ => "no moment cited".to_owned(),
        });
    if !m.note.is_empty() {
        out.push_str(&format!(": “{}”", m.note));
    }
    out
}

/// The room-clock moment a citation names: its time, or else its edit's.
pub(super) fn moment_at(export: &Export, m: &Moment) -> Option<u64> {
    m.at_ms.or_else(|| m.seq.and_then(|seq| export.timeline.iter().find(|e| e.seq == seq).map(|e| e.at_ms)))
}

/// A live moment: the run holding the cited edit, else the run at or just before the cited time.
fn live(export: &Export, m: &Moment) -> Option<String> {
    let at = moment_at(export, m)?;
    let run = m
        .seq
        .and_then(|seq| export.runs.iter().find(|r| r.first_seq <= seq && seq <= r.last_seq))
        .or_else(|| {
            // The cited file's latest run before the moment, else anyone's.
            let before = || export.runs.iter().rev().filter(|r| r.start_ms <= at);
            before().find(|r| m.file.as_ref().is_none_or(|f| *f == r.file)).or_else(|| before().next())
        });
    let when = offset(at.saturating_sub(export.started_at_ms));
    let Some(run) = run else {
        return Some(format!("{when} — no edits before this moment"));
    };
    // A citation naming its own lines is more precise than the run around it.
    let mut run = run.clone();
    if let (Some(file), Some(span)) = (&m.file, m.lines) {
        let content = export.files.iter().find(|f| &f.path == file).map(|f| f.content.as_str());
        run.within = content.and_then(|c| within(c, span[0]));
        run.file = file.clone();
        run.lines = span;
    }
    Some(format!("{when} — {} {}", who(export, &run.author, run.source), what(&run)))
}

/// An async moment: the time into the async session and the signal flagged there, if any.
fn asynchronous(flags: &[Flag], m: &Moment) -> Option<String> {
    let at = m.async_at_ms?;
    let mut out = format!("{} into the async session", offset(at));
    if let Some(flag) = flags.iter().find(|f| f.at_ms == at) {
        out.push_str(&format!(" — {}: {}", flag_label(&flag.kind), flag.detail));
    }
    Some(out)
}

/// A flag's kind as a heading.
pub(super) fn flag_label(kind: &FlagKind) -> &'static str {
    match kind {
        FlagKind::Paste => "Large paste",
        FlagKind::FocusLost => "Left the exercise",
        FlagKind::Burst => "Typing burst",
        FlagKind::Insertion => "Inserted at once",
    }
}

/// What a flag can and cannot mean, for a reader who was not in the room.
pub(super) fn flag_meaning(kind: &FlagKind) -> &'static str {
    match kind {
        FlagKind::Paste => {
            "A large block of text arrived in one paste. Worth asking where it came from: pasting one's \
             own earlier code, a test fixture or a snippet from the docs is common."
        }
        FlagKind::FocusLost => {
            "The exercise lost focus (another tab or window). The platform cannot see what happened \
             there: reading documentation is as likely as anything else."
        }
        FlagKind::Burst => {
            "Several key events arrived faster than people type. An editor's auto-completion or a tool \
             typing can cause it; ask how the code was written."
        }
        FlagKind::Insertion => {
            "One edit event inserted this much text at once: a completion, a drop, or a paste the \
             platform did not mark as one. It says nothing about typing speed."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const START: u64 = 1_000_000;

    /// An export of one candidate run in lru.py at 12:30, and one async paste flag.
    fn export() -> Export {
        serde_json::from_value(json!({
            "room": {"id": "r", "status": "ended"}, "submission_id": "s",
            "candidate": {"name": "Cam"}, "exercise": {"title": "LRU"}, "interviewer": "Ivy",
            "started_at_ms": START, "notes": "", "live_scores": [],
            "files": [{"path": "lru.py", "content": "class LRU:\n    def get(self):\n        pass\n",
                       "change": "modified", "diff": "", "authorship": []}],
            "timeline": [{"seq": 7, "at_ms": START + 750_000, "author": "Cam", "source": "candidate",
                          "file": "lru.py", "position": 0, "inserted": "x", "deleted": "y"}],
            "runs": [{"author": "Cam", "source": "candidate", "file": "lru.py", "start_ms": START + 750_000,
                      "end_ms": START + 760_000, "first_seq": 5, "last_seq": 9, "edits": 4,
                      "inserted_chars": 30, "deleted_chars": 12, "lines": [19, 23], "within": "put()"}]
        }))
        .unwrap()
    }

    fn moment(v: serde_json::Value) -> Moment {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_cited_edit_reads_as_the_run_around_it() {
        let m = moment(json!({"seq": 7, "note": "clean eviction"}));
        assert_eq!(
            describe(&export(), &[], &m),
            "12:30 — the candidate rewrote `put()` in lru.py, lines 19–23: “clean eviction”"
        );
    }

    #[test]
    fn a_cited_time_reads_as_the_run_at_or_before_it_with_its_own_lines() {
        let m = moment(json!({"at_ms": START + 800_000, "file": "lru.py", "lines": [3, 3]}));
        assert_eq!(describe(&export(), &[], &m), "13:20 — the candidate rewrote `get()` in lru.py, line 3");
        let early = moment(json!({"at_ms": START + 1000}));
        assert_eq!(describe(&export(), &[], &early), "0:01 — no edits before this moment");
    }

    #[test]
    fn an_async_moment_names_the_signal_flagged_there() {
        let flag = Flag {
            kind: FlagKind::Paste,
            at_ms: 5000,
            file: None,
            lines: None,
            detail: "pasted 240 characters".into(),
            threshold: String::new(),
        };
        let m = moment(json!({"async_at_ms": 5000}));
        assert_eq!(
            describe(&export(), &[flag], &m),
            "0:05 into the async session — Large paste: pasted 240 characters"
        );
    }

    #[test]
    fn another_author_than_the_rooms_is_named() {
        assert_eq!(who(&export(), "Cam", Source::Candidate), "the candidate");
        assert_eq!(who(&export(), "Quinn", Source::Interviewer), "the interviewer (Quinn)");
    }
}
