//! The report's sections, each a piece of HTML with every value escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use handoff_protocol::attribution::{Authored, Source};
use handoff_protocol::export::{Export, ExportFile, FileChangeKind, PresenceEvent, PresenceKind};
use handoff_protocol::integrity::{self, IntegritySummary};
use handoff_protocol::interview::IntegrityNote;

use super::authors::Authors;
use super::html::{duration, esc, esc_code, offset, utc};
use super::moments::{describe, flag_label, flag_meaning, moment_at, run_sentence};

/// Candidate, exercise, interviewer, start, end and duration.
pub(super) fn header(out: &mut String, x: &Export) {
    let candidate = match &x.candidate.email {
        Some(email) => format!("{} &lt;{}&gt;", esc(&x.candidate.name), esc(email)),
        None => esc(&x.candidate.name),
    };
    let exercise = match &x.exercise.language {
        Some(lang) => format!("{} ({})", esc(&x.exercise.title), esc(lang)),
        None => esc(&x.exercise.title),
    };
    let (ended, length) = match (x.ended_at_ms, x.duration_ms) {
        (Some(end), Some(ms)) => (esc(&utc(end)), esc(&duration(ms))),
        _ => ("still live".to_owned(), "—".to_owned()),
    };
    let _ = write!(
        out,
        "<header><h1>Interview report: {name}</h1><dl class=\"facts\">\
         <dt>Candidate</dt><dd>{candidate}</dd><dt>Exercise</dt><dd>{exercise}</dd>\
         <dt>Interviewer</dt><dd>{interviewer}</dd><dt>Started</dt><dd>{start}</dd>\
         <dt>Ended</dt><dd>{ended}</dd><dt>Duration</dt><dd>{length}</dd>\
         <dt>Room</dt><dd><code>{room}</code></dd></dl></header>",
        name = esc(&x.candidate.name),
        interviewer = esc(&x.interviewer),
        start = esc(&utc(x.started_at_ms)),
        room = esc(&x.room.id),
    );
}

/// Who took part: each connection's join and leave, timed from the start.
pub(super) fn participants(out: &mut String, x: &Export) {
    out.push_str("<section><h2>Who took part</h2>");
    if x.presence.is_empty() {
        out.push_str("<p class=\"quiet\">Nobody connected to the room.</p></section>");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Name</th><th>Role</th><th>Joined</th><th>Left</th></tr></thead><tbody>",
    );
    let mut left: BTreeMap<u64, &PresenceEvent> = BTreeMap::new();
    for p in x.presence.iter().filter(|p| p.kind == PresenceKind::Leave) {
        left.entry(p.conn_id).or_insert(p);
    }
    for p in x.presence.iter().filter(|p| p.kind == PresenceKind::Join) {
        let gone = left.get(&p.conn_id).map_or("—".to_owned(), |l| at(x, l.at_ms));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            esc(role(p)),
            esc(&at(x, p.at_ms)),
            esc(&gone)
        );
    }
    out.push_str("</tbody></table></section>");
}

fn role(p: &PresenceEvent) -> &'static str {
    match p.role {
        handoff_protocol::Role::Interviewer => "interviewer",
        handoff_protocol::Role::Candidate => "candidate",
        handoff_protocol::Role::Observer => "observer",
    }
}

fn at(x: &Export, ms: u64) -> String {
    offset(ms.saturating_sub(x.started_at_ms))
}

/// Each changed file's diff against the submission, added lines coloured by who wrote them.
pub(super) fn files(out: &mut String, x: &Export, authors: &Authors) {
    out.push_str("<section><h2>Changes to the submission</h2>");
    out.push_str(&authors.legend());
    let changed: Vec<&ExportFile> =
        x.files.iter().filter(|f| f.change != FileChangeKind::Unchanged).collect();
    if changed.is_empty() {
        out.push_str("<p class=\"quiet\">No file changed during the interview.</p>");
    }
    for f in changed {
        let _ = write!(
            out,
            "<h3><code>{}</code> <span class=\"change\">{}</span></h3>",
            esc(&f.path),
            esc(f.change.as_str())
        );
        diff(out, f, authors);
    }
    out.push_str("</section>");
}

fn diff(out: &mut String, f: &ExportFile, authors: &Authors) {
    out.push_str("<table class=\"diff\"><tbody>");
    let mut new_line = 0u32;
    for line in f.diff.lines().filter(|l| !l.starts_with("--- ") && !l.starts_with("+++ ")) {
        if let Some(hunk) = line.strip_prefix("@@") {
            new_line = hunk_start(hunk).unwrap_or(new_line);
            let _ = write!(out, "<tr class=\"hunk\"><td></td><td colspan=\"2\">{}</td></tr>", esc(line));
        } else if let Some(code) = line.strip_prefix('+') {
            let by = author_of(&f.authorship, new_line);
            let (class, name) = by.map_or(("by-submission".to_owned(), ""), |a| {
                (authors.class_of(&a.author), a.author.as_str())
            });
            let _ = write!(
                out,
                "<tr class=\"add {class}\"><td class=\"n\">{new_line}</td><td class=\"code\">+{}</td><td class=\"who\">{}</td></tr>",
                esc(code),
                esc(name)
            );
            new_line += 1;
        } else if let Some(code) = line.strip_prefix('-') {
            let _ = write!(
                out,
                "<tr class=\"del\"><td class=\"n\"></td><td class=\"code\">-{}</td><td></td></tr>",
                esc(code)
            );
        } else {
            let code = line.strip_prefix(' ').unwrap_or(line);
            let _ = write!(
                out,
                "<tr><td class=\"n\">{new_line}</td><td class=\"code\"> {}</td><td></td></tr>",
                esc(code)
            );
            new_line += u32::from(!line.starts_with('\\'));
        }
    }
    out.push_str("</tbody></table>");
}

/// The new file's first line of a hunk header's ` -a,b +c,d @@`.
fn hunk_start(hunk: &str) -> Option<u32> {
    let plus = hunk.split_whitespace().find_map(|w| w.strip_prefix('+'))?;
    plus.split(',').next()?.parse().ok()
}

/// Who wrote a line of the final file: a participant's range touching it before the submission's.
fn author_of(ranges: &[Authored], line: u32) -> Option<&Authored> {
    let touching = || ranges.iter().filter(move |a| a.lines[0] <= line && line <= a.lines[1]);
    touching().find(|a| a.source != Source::Submission).or_else(|| touching().next())
}

/// The interviewer's notes, as written.
pub(super) fn notes(out: &mut String, x: &Export) {
    out.push_str("<section><h2>Notes</h2>");
    if x.notes.trim().is_empty() {
        out.push_str("<p class=\"quiet\">No notes.</p>");
    } else {
        let _ = write!(out, "<div class=\"notes\">{}</div>", esc(&x.notes));
    }
    out.push_str("</section>");
}

/// Live scores, each citation in words.
pub(super) fn scores(out: &mut String, x: &Export, summary: &IntegritySummary) {
    out.push_str("<section><h2>Live scores</h2>");
    if x.live_scores.is_empty() {
        out.push_str("<p class=\"quiet\">No live scores.</p></section>");
        return;
    }
    out.push_str("<table><thead><tr><th>Dimension</th><th>Score</th><th>Evidence</th></tr></thead><tbody>");
    for s in &x.live_scores {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"score\">{} / {}</td><td>",
            esc(&s.dimension),
            s.score,
            s.max
        );
        if s.evidence.is_empty() {
            out.push_str("<span class=\"quiet\">none cited</span>");
        } else {
            out.push_str("<ul>");
            for m in &s.evidence {
                let audio = moment_at(x, m).map(|at| super::voice::links_at(x, at)).unwrap_or_default();
                let _ = write!(out, "<li>{}{audio}</li>", esc_code(&describe(x, &summary.flags, m)));
            }
            out.push_str("</ul>");
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></section>");
}

/// The async session's integrity signals, each explained.
pub(super) fn async_context(out: &mut String, summary: &IntegritySummary, notes: &[IntegrityNote]) {
    out.push_str(
        "<section><h2>Async session</h2><p class=\"quiet\">Signals computed from the platform's event \
         stream. They are prompts for questions, not findings.</p><dl class=\"facts\">",
    );
    for (label, value) in integrity::stats(summary) {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(label), esc(&value));
    }
    out.push_str("</dl>");
    if summary.flags.is_empty() {
        out.push_str("<p class=\"quiet\">No signal was flagged.</p>");
    } else {
        out.push_str("<ul class=\"flags\">");
        for f in &summary.flags {
            let _ = write!(
                out,
                "<li><strong>{} {}</strong>: {}. {} <span class=\"threshold\">({})</span>",
                esc(&offset(f.at_ms)),
                esc(flag_label(&f.kind)),
                esc(&f.detail),
                esc(flag_meaning(&f.kind)),
                esc(&f.threshold)
            );
            // The candidate's own note on this signal, where promote let them see and answer it.
            let kind = serde_json::to_value(&f.kind).ok();
            let kind = kind.as_ref().and_then(|k| k.as_str());
            if let Some(n) = notes.iter().find(|n| Some(n.kind.as_str()) == kind && n.at_ms == f.at_ms) {
                let _ = write!(out, "<p class=\"candidate-note\">The candidate's note: {}</p>", esc(&n.note));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
}

/// The condensed timeline: joins, leaves and runs of edits, oldest first.
pub(super) fn timeline(out: &mut String, x: &Export) {
    out.push_str("<section><h2>Timeline</h2>");
    let mut rows: Vec<(u64, String)> = x
        .presence
        .iter()
        .map(|p| {
            let verb = if p.kind == PresenceKind::Join { "joined" } else { "left" };
            (p.at_ms, format!("{} — {} ({}) {verb}", at(x, p.at_ms), p.name, role(p)))
        })
        .collect();
    rows.extend(x.runs.iter().map(|r| (r.start_ms, run_sentence(x, r))));
    // Stable: at one moment, a join stays before the edits it made possible.
    rows.sort_by_key(|(t, _)| *t);
    if rows.is_empty() {
        out.push_str("<p class=\"quiet\">Nothing happened in the room.</p>");
    } else {
        out.push_str("<ol class=\"timeline\">");
        for (_, row) in rows {
            let _ = write!(out, "<li>{}</li>", esc_code(&row));
        }
        out.push_str("</ol>");
    }
    let _ = write!(
        out,
        "<p class=\"quiet\">{} in {}; the export holds every edit.</p></section>",
        count(x.timeline.len(), "edit"),
        count(x.runs.len(), "run")
    );
}

/// `1 edit`, `3 edits`.
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
