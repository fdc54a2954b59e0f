//! The timeline condensed for people: consecutive edits by one author in one file become one run, with
//! the lines it touched and the function around them. Lines are found by applying the edits, in order,
//! to the submitted files, so each run's lines are those of the file as the run left it.

use std::collections::BTreeMap;

use crate::attribution::Edit;
use crate::export::EditRun;
use crate::utf16::{byte_at, len as utf16_len};

/// A pause longer than this between two edits of one author in one file ends their run: a minute of
/// silence is a new thought, not the same one.
pub const RUN_PAUSE_MS: u64 = 60_000;

/// Lines above a run scanned for the function or class around it.
const WITHIN_SCAN_LINES: usize = 200;

/// Groups `edits` (in log order) into runs; `base` is the files as the room opened (the submission).
pub fn group(edits: &[Edit], base: &BTreeMap<String, String>) -> Vec<EditRun> {
    let mut texts = base.clone();
    let mut runs: Vec<EditRun> = Vec::new();
    for edit in edits {
        let text = texts.entry(edit.file.clone()).or_default();
        let lines = apply(text, edit);
        let continues = runs.last().is_some_and(|r| {
            r.author == edit.author
                && r.source == edit.source
                && r.file == edit.file
                && edit.at_ms.saturating_sub(r.end_ms) <= RUN_PAUSE_MS
        });
        let (inserted, deleted) = (edit.inserted.chars().count() as u64, edit.deleted.chars().count() as u64);
        match runs.last_mut() {
            Some(run) if continues => {
                run.end_ms = edit.at_ms;
                run.last_seq = edit.seq;
                run.edits += 1;
                run.inserted_chars += inserted;
                run.deleted_chars += deleted;
                run.lines = [run.lines[0].min(lines[0]), run.lines[1].max(lines[1])];
            }
            _ => runs.push(EditRun {
                author: edit.author.clone(),
                source: edit.source,
                file: edit.file.clone(),
                start_ms: edit.at_ms,
                end_ms: edit.at_ms,
                first_seq: edit.seq,
                last_seq: edit.seq,
                edits: 1,
                inserted_chars: inserted,
                deleted_chars: deleted,
                lines,
                within: None,
            }),
        }
        if let Some(run) = runs.last_mut() {
            // Where the run sits now; a later run in this file does not move an earlier one's answer.
            run.within = within(text, run.lines[0]);
        }
    }
    runs
}

/// Applies one edit to `text`; returns the lines (1-based) it touched in the result.
fn apply(text: &mut String, edit: &Edit) -> [u32; 2] {
    let at = byte_at(text, edit.position);
    let end = byte_at(text, edit.position.saturating_add(utf16_len(&edit.deleted)));
    text.replace_range(at..end.max(at), &edit.inserted);
    let first = text[..at].matches('\n').count() as u32 + 1;
    let body = edit.inserted.strip_suffix('\n').unwrap_or(&edit.inserted);
    [first, first + body.matches('\n').count() as u32]
}

/// The name of the function or class whose header is the nearest at or above `line` (1-based), for
/// Python, JavaScript/TypeScript, Rust, Go, Java-like and C-like code: a simple scan, not a parser, so
/// it answers only for headers it recognises.
pub fn within(text: &str, line: u32) -> Option<String> {
    let lines: Vec<&str> = text.lines().take(line as usize).collect();
    lines.iter().rev().take(WITHIN_SCAN_LINES).find_map(|l| header(l))
}

fn header(line: &str) -> Option<String> {
    let t = line.trim_start();
    const KEYWORDS: [&str; 7] = ["def ", "async def ", "fn ", "function ", "func ", "class ", "struct "];
    let t = t.strip_prefix("pub ").or_else(|| t.strip_prefix("export ")).unwrap_or(t);
    let t =
        t.strip_prefix("async ").filter(|r| r.starts_with("fn ") || r.starts_with("function ")).unwrap_or(t);
    let rest = KEYWORDS.iter().find_map(|k| t.strip_prefix(k))?;
    let name: String = rest.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if name.is_empty() {
        return None;
    }
    let is_type = t.starts_with("class ") || t.starts_with("struct ");
    Some(if is_type { name } else { format!("{name}()") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::Source;

    fn edit(seq: u64, at_ms: u64, author: &str, file: &str, position: u32, inserted: &str) -> Edit {
        let source = if author == "Ivy" { Source::Interviewer } else { Source::Candidate };
        Edit {
            seq,
            at_ms,
            author: author.into(),
            source,
            file: file.into(),
            position,
            inserted: inserted.into(),
            deleted: String::new(),
        }
    }

    fn base() -> BTreeMap<String, String> {
        let lru =
            "class LRU:\n    def get(self, k):\n        pass\n\n    def put(self, k, v):\n        pass\n";
        BTreeMap::from([("lru.py".to_owned(), lru.to_owned()), ("test.py".to_owned(), String::new())])
    }

    #[test]
    fn keystrokes_of_one_author_in_one_file_make_one_run() {
        // Typing "x = 1" at the end of put(), one key at a time.
        let end = utf16_len(&base()["lru.py"]);
        let edits: Vec<Edit> = "x = 1"
            .chars()
            .enumerate()
            .map(|(i, c)| {
                edit(i as u64 + 2, 1000 + i as u64 * 200, "Cam", "lru.py", end + i as u32, &c.to_string())
            })
            .collect();
        let runs = group(&edits, &base());
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!((run.edits, run.inserted_chars, run.deleted_chars), (5, 5, 0));
        assert_eq!((run.start_ms, run.end_ms, run.first_seq, run.last_seq), (1000, 1800, 2, 6));
        assert_eq!(run.lines, [7, 7]);
        assert_eq!(run.within.as_deref(), Some("put()"));
    }

    #[test]
    fn a_run_ends_when_the_author_the_file_or_the_pace_changes() {
        let edits = vec![
            edit(2, 0, "Cam", "lru.py", 0, "a"),
            edit(3, 100, "Cam", "lru.py", 1, "b"),
            // Another author.
            edit(4, 200, "Ivy", "lru.py", 0, "# note\n"),
            // Back to the candidate, in another file.
            edit(5, 300, "Cam", "test.py", 0, "t"),
            // The same file after a pause longer than a run's.
            edit(6, 300 + RUN_PAUSE_MS + 1, "Cam", "test.py", 1, "u"),
            // Within the pause: same run.
            edit(7, 400 + RUN_PAUSE_MS, "Cam", "test.py", 2, "v"),
        ];
        let runs = group(&edits, &base());
        let shape: Vec<(&str, &str, usize)> =
            runs.iter().map(|r| (r.author.as_str(), r.file.as_str(), r.edits)).collect();
        assert_eq!(
            shape,
            vec![("Cam", "lru.py", 2), ("Ivy", "lru.py", 1), ("Cam", "test.py", 1), ("Cam", "test.py", 2)]
        );
        assert_eq!(runs[1].source, Source::Interviewer);
        assert_eq!(runs[1].lines, [1, 1], "a line ending in a newline touches that line only");
    }

    #[test]
    fn deletions_and_replacements_track_lines() {
        let mut rewrite = edit(2, 0, "Cam", "lru.py", 0, "");
        // Delete "        pass" of put() (line 6) and write two lines there.
        let text = &base()["lru.py"];
        let at = text.rfind("        pass").unwrap();
        rewrite.position = utf16_len(&text[..at]);
        rewrite.deleted = "        pass".into();
        rewrite.inserted = "        self.d[k] = v\n        self.order.append(k)".into();
        let runs = group(&[rewrite], &base());
        assert_eq!(runs[0].lines, [6, 7]);
        assert_eq!((runs[0].inserted_chars, runs[0].deleted_chars), (50, 12));
        assert_eq!(runs[0].within.as_deref(), Some("put()"));
    }

    #[test]
    fn headers_are_found_for_common_languages() {
        assert_eq!(header("    def put(self, k, v):").as_deref(), Some("put()"));
        assert_eq!(header("pub async fn serve(addr: &str) {").as_deref(), Some("serve()"));
        assert_eq!(header("export function render(x) {").as_deref(), Some("render()"));
        assert_eq!(header("func main() {").as_deref(), Some("main()"));
        assert_eq!(header("class LRU:").as_deref(), Some("LRU"));
        assert_eq!(header("x = def_value"), None);
        assert_eq!(within("x = 1\ny = 2\n", 2), None);
    }
}
