//! The session record: replaying a room's log to see who changed what, when. The log holds every
//! accepted Yjs update with its author; replaying it in order through a document and watching the text
//! deltas yields the attributed timeline, the files at any moment, and the authorship of every character
//! of the final files. Positions are UTF-16 code units, as in Yjs and every JavaScript editor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use yrs::types::{Delta, EntryChange, Event, PathSegment};
use yrs::{DeepObservable, Doc, GetString, OffsetKind, Options, Out, Transact};

use crate::Role;
use crate::attribution::{Authored, Edit, Source};
use crate::frame::{FrameError, decode_update};
use crate::schema;

/// One logged update, as the store returns it.
#[derive(Debug, Clone)]
pub struct Logged<'a> {
    pub seq: u64,
    pub at_ms: u64,
    pub author: &'a str,
    /// `None` for the server's preload of the submission.
    pub role: Option<Role>,
    pub update: &'a [u8],
}

/// Everything one pass over the log produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub files: BTreeMap<String, String>,
    pub edits: Vec<Edit>,
    pub authorship: BTreeMap<String, Vec<Authored>>,
}

/// A run of text written by one author.
#[derive(Debug, Clone)]
struct Run {
    author: Arc<str>,
    source: Source,
    text: String,
}

use crate::utf16::{byte_at, len as utf16_len};

/// A file as runs of authored text, edited by UTF-16 offsets.
#[derive(Debug, Clone, Default)]
struct Shadow {
    runs: Vec<Run>,
}

impl Shadow {
    /// Splits runs so a run boundary falls at `at`; returns the index of the run starting there.
    fn split(&mut self, at: u32) -> usize {
        let mut pos = 0u32;
        for i in 0..self.runs.len() {
            let len = utf16_len(&self.runs[i].text);
            if pos == at {
                return i;
            }
            if at < pos + len {
                let cut = byte_at(&self.runs[i].text, at - pos);
                let tail = self.runs[i].text.split_off(cut);
                let run =
                    Run { author: self.runs[i].author.clone(), source: self.runs[i].source, text: tail };
                self.runs.insert(i + 1, run);
                return i + 1;
            }
            pos += len;
        }
        self.runs.len()
    }

    fn insert(&mut self, at: u32, text: &str, author: &Arc<str>, source: Source) {
        let i = self.split(at);
        self.runs.insert(i, Run { author: author.clone(), source, text: text.to_owned() });
    }

    /// Removes `len` UTF-16 units at `at`; returns the removed text.
    fn delete(&mut self, at: u32, len: u32) -> String {
        let start = self.split(at);
        let end = self.split(at + len);
        self.runs.drain(start..end).map(|r| r.text).collect()
    }

    fn text(&self) -> String {
        self.runs.iter().map(|r| r.text.as_str()).collect()
    }

    fn authorship(&self) -> Vec<Authored> {
        let mut out: Vec<Authored> = Vec::new();
        let (mut pos, mut line) = (0u32, 1u32);
        for run in self.runs.iter().filter(|r| !r.text.is_empty()) {
            let len = utf16_len(&run.text);
            let newlines = run.text.matches('\n').count() as u32;
            // A run ending in a newline ends on the line the newline closes.
            let last_line = line + newlines - u32::from(run.text.ends_with('\n') && newlines > 0);
            match out.last_mut() {
                Some(prev) if prev.source == run.source && *prev.author == *run.author => {
                    prev.end += len;
                    prev.lines[1] = last_line;
                }
                _ => out.push(Authored {
                    start: pos,
                    end: pos + len,
                    lines: [line, last_line],
                    source: run.source,
                    author: run.author.to_string(),
                }),
            }
            pos += len;
            line += newlines;
        }
        out
    }
}

/// A change seen by the observer during one update, before attribution.
enum Change {
    Text { file: String, delta: Vec<Step> },
    Set { file: String, content: String },
    Removed { file: String },
}

enum Step {
    Retain(u32),
    Insert(String),
    Delete(u32),
}

fn file_of(path: &std::collections::VecDeque<PathSegment>) -> Option<String> {
    match path.front() {
        Some(PathSegment::Key(k)) => Some(k.to_string()),
        _ => None,
    }
}

/// Replays `log` (in seq order) up to and including `until_ms` (all of it when `None`).
pub fn replay(log: &[Logged<'_>], until_ms: Option<u64>) -> Result<Record, FrameError> {
    let doc = Doc::with_options(Options { offset_kind: OffsetKind::Utf16, ..Options::default() });
    let root = schema::files_root(&doc);
    let seen: Arc<Mutex<Vec<Change>>> = Arc::default();
    let sink = seen.clone();
    root.observe_deep("record", move |txn, events| {
        let mut out = sink.lock().unwrap_or_else(|e| e.into_inner());
        for event in events.iter() {
            match event {
                Event::Text(te) => {
                    let Some(file) = file_of(&te.path()) else { continue };
                    let delta = te
                        .delta(txn)
                        .iter()
                        .filter_map(|d| match d {
                            Delta::Retain(n, _) => Some(Step::Retain(*n)),
                            Delta::Deleted(n) => Some(Step::Delete(*n)),
                            Delta::Inserted(Out::Any(yrs::Any::String(s)), _) => {
                                Some(Step::Insert(s.to_string()))
                            }
                            Delta::Inserted(..) => None,
                        })
                        .collect();
                    out.push(Change::Text { file, delta });
                }
                Event::Map(me) if me.path().is_empty() => {
                    for (key, change) in me.keys(txn) {
                        let file = key.to_string();
                        match change {
                            EntryChange::Inserted(v) | EntryChange::Updated(_, v) => {
                                let content = match v {
                                    Out::YText(t) => t.get_string(txn),
                                    _ => String::new(),
                                };
                                out.push(Change::Set { file, content });
                            }
                            EntryChange::Removed(_) => out.push(Change::Removed { file }),
                        }
                    }
                }
                _ => {}
            }
        }
    });

    let mut shadows: BTreeMap<String, Shadow> = BTreeMap::new();
    let mut edits = Vec::new();
    for entry in log.iter().filter(|e| until_ms.is_none_or(|t| e.at_ms <= t)) {
        let update = decode_update(entry.update)?;
        doc.transact_mut()
            .apply_update(update)
            .map_err(|e| FrameError::InvalidPayload(format!("log entry {}: {e}", entry.seq)))?;
        let changes = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
        let author: Arc<str> = Arc::from(entry.author);
        let source = Source::of(entry.role);
        for change in changes {
            let edit = |file: &str, position: u32, inserted: String, deleted: String| Edit {
                seq: entry.seq,
                at_ms: entry.at_ms,
                author: entry.author.to_owned(),
                source,
                file: file.to_owned(),
                position,
                inserted,
                deleted,
            };
            match change {
                Change::Set { file, content } => {
                    let mut shadow = Shadow::default();
                    shadow.insert(0, &content, &author, source);
                    let old = shadows.insert(file.clone(), shadow).map(|s| s.text()).unwrap_or_default();
                    if entry.role.is_some() {
                        edits.push(edit(&file, 0, content, old));
                    }
                }
                Change::Removed { file } => {
                    if let Some(old) = shadows.remove(&file) {
                        edits.push(edit(&file, 0, String::new(), old.text()));
                    }
                }
                Change::Text { file, delta } => {
                    let shadow = shadows.entry(file.clone()).or_default();
                    let mut pos = 0u32;
                    for step in delta {
                        match step {
                            Step::Retain(n) => pos += n,
                            Step::Insert(s) => {
                                shadow.insert(pos, &s, &author, source);
                                let len = utf16_len(&s);
                                edits.push(edit(&file, pos, s, String::new()));
                                pos += len;
                            }
                            Step::Delete(n) => {
                                let gone = shadow.delete(pos, n);
                                edits.push(edit(&file, pos, String::new(), gone));
                            }
                        }
                    }
                }
            }
        }
    }
    let files = schema::read_files(&doc);
    let authorship = shadows.iter().map(|(f, s)| (f.clone(), s.authorship())).collect();
    Ok(Record { files, edits, authorship })
}

pub mod runs;

#[cfg(test)]
mod tests;
