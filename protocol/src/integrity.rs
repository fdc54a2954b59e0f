//! The integrity summary computed from a submission's async event stream: what an interviewer wants to
//! see before the live follow-up (large pastes, time away, time to first keystroke, inhumanly fast typing).
//! The platform's own integrity object is kept as sent; this is computed alongside it, never instead.

use serde::{Deserialize, Serialize};

use crate::submission::{AsyncEvent, FileEntry};

/// A paste at least this long (in characters) is flagged.
pub const LARGE_PASTE_CHARS: u64 = 200;
/// Sliding window for typing-burst detection.
pub const BURST_WINDOW_MS: u64 = 1000;
/// Characters typed (not pasted) within one window above which typing is faster than a human types
/// (fast typists sustain ~10–15 characters per second).
pub const BURST_CHARS_PER_WINDOW: u64 = 30;
/// Key events (edit events) a window needs before its speed counts as a burst: fewer events do not time
/// keystrokes, they only say that text arrived.
pub const BURST_MIN_KEY_EVENTS: usize = 5;
/// One edit event inserting at least this many characters is reported as inserted at once (an editor's
/// completion, a drop, a paste the platform did not mark), never as typing: one event has no speed.
pub const LARGE_INSERT_CHARS: u64 = 30;
/// What the summary says of a signal the stream holds no events for: silence is not an observation.
pub const NO_EVENTS: &str = "no events recorded";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    Paste,
    FocusLost,
    Burst,
    Insertion,
}

/// One thing worth a question in the live follow-up, citing when (and where) it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Flag {
    pub kind: FlagKind,
    pub at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// First and last line (1-based) in the submitted file, when the event says where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<[u32; 2]>,
    pub detail: String,
    /// The rule that raised the flag, in words (the UI shows it when asked).
    #[serde(default)]
    pub threshold: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pastes {
    /// Pastes of at least [`LARGE_PASTE_CHARS`].
    pub count: u64,
    pub largest: u64,
    pub total_chars: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Focus {
    pub losses: u64,
    pub away_ms: u64,
    pub longest_away_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegritySummary {
    pub flags: Vec<Flag>,
    pub pastes: Pastes,
    pub focus: Focus,
    /// When the candidate first typed or pasted, ms after the session started.
    pub first_keystroke_ms: Option<u64>,
    /// Stretches of typing faster than [`BURST_CHARS_PER_WINDOW`] per [`BURST_WINDOW_MS`] over at least
    /// [`BURST_MIN_KEY_EVENTS`] key events.
    pub bursts: u64,
    /// Edit events inserting at least [`LARGE_INSERT_CHARS`] at once.
    #[serde(default)]
    pub insertions: u64,
    /// Edit and paste events in the stream: none means typing was not recorded, not that it never happened.
    #[serde(default)]
    pub key_events: u64,
    /// Focus events in the stream: none means focus was not recorded.
    #[serde(default)]
    pub focus_events: u64,
    /// Share (0–1) of the submitted code that arrived by pasting, when pastes carry their text; `None`
    /// when the stream does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pasted_share: Option<f64>,
}

/// Pasted text shorter than this is not searched for in the final code (too likely to match by chance).
pub const TRACE_MIN_CHARS: usize = 16;

/// The summary of a submission: [`summarize`], plus where each large paste ended up in the submitted
/// files (its lines, when its text is still there verbatim or by its longest line) and the pasted share of
/// the submitted code.
pub fn summarize_submission(events: &[AsyncEvent], files: &[FileEntry]) -> IntegritySummary {
    let mut s = summarize(events);
    for flag in s.flags.iter_mut().filter(|f| f.kind == FlagKind::Paste && f.lines.is_none()) {
        let Some(text) = events
            .iter()
            .find(|e| e.kind == "paste" && e.at_ms == flag.at_ms && e.file == flag.file)
            .and_then(|e| e.data.get("text"))
            .and_then(serde_json::Value::as_str)
        else {
            continue;
        };
        let file = files.iter().find(|f| Some(&f.path) == flag.file.as_ref());
        if let Some(lines) = file.and_then(|f| trace(&f.content, text)) {
            flag.lines = Some(lines);
            flag.detail.push_str(&format!(" (still at lines {}–{})", lines[0], lines[1]));
        }
    }
    let total: usize = files.iter().map(|f| f.content.chars().count()).sum();
    let pasted: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "paste")
        .filter_map(|e| e.data.get("text").and_then(serde_json::Value::as_str))
        .collect();
    if total > 0 && !pasted.is_empty() {
        let kept: usize = pasted
            .iter()
            .filter(|t| files.iter().any(|f| f.content.contains(**t)))
            .map(|t| t.chars().count())
            .sum();
        s.pasted_share = Some((kept as f64 / total as f64).min(1.0));
    }
    s
}

/// Lines (1-based, inclusive) where `text` sits in `content`: the whole text if it is still there,
/// else its longest line.
fn trace(content: &str, text: &str) -> Option<[u32; 2]> {
    let line_of = |byte: usize| content[..byte].matches('\n').count() as u32 + 1;
    let span = |at: usize, len: usize| {
        let last = content[at..at + len].trim_end_matches('\n');
        [line_of(at), line_of(at + last.len())]
    };
    if text.chars().count() >= TRACE_MIN_CHARS
        && let Some(at) = content.find(text)
    {
        return Some(span(at, text.len()));
    }
    let longest = text.lines().map(str::trim).max_by_key(|l| l.len())?;
    if longest.chars().count() < TRACE_MIN_CHARS {
        return None;
    }
    content.find(longest).map(|at| span(at, longest.len()))
}

fn chars(value: Option<&serde_json::Value>) -> u64 {
    value.and_then(serde_json::Value::as_str).map_or(0, |s| s.chars().count() as u64)
}

fn paste_len(e: &AsyncEvent) -> u64 {
    e.data.get("length").and_then(serde_json::Value::as_u64).unwrap_or_else(|| chars(e.data.get("text")))
}

/// A flag on text one event put into a file, at the lines it holds.
fn text_flag(kind: FlagKind, e: &AsyncEvent, detail: String, threshold: String) -> Flag {
    Flag { kind, at_ms: e.at_ms, file: e.file.clone(), lines: lines(e), detail, threshold }
}

fn lines(e: &AsyncEvent) -> Option<[u32; 2]> {
    let arr = e.data.get("lines")?.as_array()?;
    let first = u32::try_from(arr.first()?.as_u64()?).ok()?;
    let last = u32::try_from(arr.get(1)?.as_u64()?).ok()?;
    Some([first, last])
}

/// Summarises an event stream (assumed in `at_ms` order, as validation enforces).
pub fn summarize(events: &[AsyncEvent]) -> IntegritySummary {
    let mut s = IntegritySummary::default();
    let mut lost_at: Option<(u64, Option<String>)> = None;
    // Typed characters per edit event, for the burst window.
    let mut typed: Vec<(u64, u64, Option<String>)> = Vec::new();
    for e in events {
        match e.kind.as_str() {
            "paste" => {
                s.key_events += 1;
                let len = paste_len(e);
                s.first_keystroke_ms.get_or_insert(e.at_ms);
                s.pastes.total_chars += len;
                if len >= LARGE_PASTE_CHARS {
                    s.pastes.count += 1;
                    s.pastes.largest = s.pastes.largest.max(len);
                    let into = e.file.as_deref().map(|f| format!(" into {f}")).unwrap_or_default();
                    s.flags.push(text_flag(
                        FlagKind::Paste,
                        e,
                        format!("pasted {len} characters{into}"),
                        format!("flagged for one paste of at least {LARGE_PASTE_CHARS} characters"),
                    ));
                }
            }
            "edit" => {
                s.key_events += 1;
                let n = chars(e.data.get("insert"));
                if n > 0 {
                    s.first_keystroke_ms.get_or_insert(e.at_ms);
                }
                if n >= LARGE_INSERT_CHARS {
                    s.insertions += 1;
                    let into = e.file.as_deref().map(|f| format!(" into {f}")).unwrap_or_default();
                    s.flags.push(text_flag(
                        FlagKind::Insertion,
                        e,
                        format!("inserted {n} characters at once{into}"),
                        format!(
                            "flagged for one edit event inserting at least {LARGE_INSERT_CHARS} characters"
                        ),
                    ));
                } else if n > 0 {
                    typed.push((e.at_ms, n, e.file.clone()));
                }
            }
            "focus_lost" => {
                s.focus_events += 1;
                if lost_at.is_none() {
                    lost_at = Some((e.at_ms, e.file.clone()));
                }
            }
            "focus_gained" => {
                s.focus_events += 1;
                if let Some((at, file)) = lost_at.take() {
                    let away = e.at_ms.saturating_sub(at);
                    s.focus.losses += 1;
                    s.focus.away_ms += away;
                    s.focus.longest_away_ms = s.focus.longest_away_ms.max(away);
                    s.flags.push(Flag {
                        kind: FlagKind::FocusLost,
                        at_ms: at,
                        file,
                        lines: None,
                        detail: format!("left the exercise for {}", human_ms(away)),
                        threshold: FOCUS_THRESHOLD.into(),
                    });
                }
            }
            _ => {}
        }
    }
    if let Some((at, file)) = lost_at {
        // Never came back before the stream ended.
        s.focus.losses += 1;
        s.flags.push(Flag {
            kind: FlagKind::FocusLost,
            at_ms: at,
            file,
            lines: None,
            detail: "left and did not return".into(),
            threshold: FOCUS_THRESHOLD.into(),
        });
    }
    bursts(&typed, &mut s);
    s.flags.sort_by_key(|f| f.at_ms);
    s
}

/// Every time away is flagged: how long it lasted is for the interviewer to weigh.
const FOCUS_THRESHOLD: &str = "flagged every time the exercise lost focus";

/// The burst rule in words.
pub fn burst_threshold() -> String {
    format!(
        "flagged when more than {BURST_CHARS_PER_WINDOW} characters are typed within {BURST_WINDOW_MS} ms \
         over at least {BURST_MIN_KEY_EVENTS} key events"
    )
}

/// Counts windows of typing faster than a human over enough key events to time it; after a burst, the
/// window restarts past it.
fn bursts(typed: &[(u64, u64, Option<String>)], s: &mut IntegritySummary) {
    let mut start = 0;
    let mut sum = 0;
    let mut end = 0;
    while end < typed.len() {
        sum += typed[end].1;
        while typed[end].0 - typed[start].0 >= BURST_WINDOW_MS {
            sum -= typed[start].1;
            start += 1;
        }
        if sum > BURST_CHARS_PER_WINDOW && end + 1 - start >= BURST_MIN_KEY_EVENTS {
            let (at, _, file) = &typed[start];
            s.bursts += 1;
            s.flags.push(Flag {
                kind: FlagKind::Burst,
                at_ms: *at,
                file: file.clone(),
                lines: None,
                detail: format!(
                    "typed {sum} characters in {} key events within {} ms",
                    end + 1 - start,
                    typed[end].0 - at
                ),
                threshold: burst_threshold(),
            });
            start = end + 1;
            sum = 0;
        }
        end += 1;
        if start > end {
            end = start;
        }
    }
}

/// The summary's headline numbers as label/value rows, in plain words; a signal the stream holds no
/// events for reads [`NO_EVENTS`].
pub fn stats(s: &IntegritySummary) -> Vec<(&'static str, String)> {
    let pastes = match s.pastes.count {
        _ if s.key_events == 0 => NO_EVENTS.to_owned(),
        0 => format!(
            "none of {LARGE_PASTE_CHARS}+ characters ({} characters pasted in all)",
            s.pastes.total_chars
        ),
        n => format!("{n} (largest {} characters, {} in all)", s.pastes.largest, s.pastes.total_chars),
    };
    let focus = match s.focus.losses {
        _ if s.focus_events == 0 => NO_EVENTS.to_owned(),
        0 => "never left".to_owned(),
        n => format!(
            "{n}× away, {} in all (longest {})",
            human_ms(s.focus.away_ms),
            human_ms(s.focus.longest_away_ms)
        ),
    };
    let first = match s.first_keystroke_ms {
        _ if s.key_events == 0 => NO_EVENTS.to_owned(),
        None => "typed nothing".to_owned(),
        Some(ms) => format!("at {}", clock(ms)),
    };
    let count = |n: u64| {
        if s.key_events == 0 {
            NO_EVENTS.to_owned()
        } else if n == 0 {
            "none".into()
        } else {
            n.to_string()
        }
    };
    vec![
        ("Large pastes", pastes),
        ("Focus", focus),
        ("First keystroke", first),
        ("Typing bursts", count(s.bursts)),
        ("Inserted at once", count(s.insertions)),
    ]
}

/// `m:ss` from the start of the session.
pub fn clock(ms: u64) -> String {
    format!("{}:{:02}", ms / 60_000, (ms % 60_000) / 1000)
}

fn human_ms(ms: u64) -> String {
    match ms {
        ms if ms < 60_000 => format!("{} s", ms / 1000),
        ms => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

#[cfg(test)]
mod tests;
