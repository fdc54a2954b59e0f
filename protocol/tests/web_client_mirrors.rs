//! The web client repeats a few limits so it can refuse what the server would refuse before sending it.
//! Each such constant carries a comment "Mirrors `NAME` in …" on the line above it; this test finds every
//! one in `web-client/src` and checks its value against the Rust constant, so the two cannot drift.

use std::path::{Path, PathBuf};

use handoff_protocol::{integrity, limits, voice};

/// The Rust value of a mirrored constant; a mirror of an unknown name fails the test, so whoever adds
/// one adds it here too.
fn rust_value(name: &str) -> Option<u64> {
    Some(match name {
        "MAX_QUESTION_CHARS" => limits::MAX_QUESTION_CHARS as u64,
        "MAX_INTEGRITY_NOTE_CHARS" => limits::MAX_INTEGRITY_NOTE_CHARS as u64,
        "MAX_DURATION_MIN" => u64::from(limits::MAX_DURATION_MIN),
        "LARGE_PASTE_CHARS" => integrity::LARGE_PASTE_CHARS,
        "MAX_VOICE_SIGNAL_BYTES" => voice::MAX_VOICE_SIGNAL_BYTES as u64,
        _ => return None,
    })
}

fn ts_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            ts_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "ts") {
            out.push(path);
        }
    }
}

/// `export const NAME = 2_000` → 2000.
fn ts_value(line: &str, name: &str) -> Option<u64> {
    let rest =
        line.trim().strip_prefix("export const ")?.strip_prefix(name)?.trim_start().strip_prefix('=')?;
    rest.trim().trim_end_matches(';').replace('_', "").parse().ok()
}

#[test]
fn every_mirrored_limit_equals_the_rust_constant() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client/src");
    let mut files = Vec::new();
    ts_files(&src, &mut files);
    let mut checked = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(after) = line.split("Mirrors `").nth(1) else { continue };
            let name = after.split('`').next().unwrap();
            let want =
                rust_value(name).unwrap_or_else(|| panic!("{}: mirrors unknown {name}", file.display()));
            let next = lines.get(i + 1).copied().unwrap_or_default();
            let got = ts_value(next, name).unwrap_or_else(|| {
                panic!("{}:{}: expected `export const {name} = …`", file.display(), i + 2)
            });
            assert_eq!(got, want, "{}: {name}", file.display());
            checked.push(name.to_owned());
        }
    }
    assert!(checked.len() >= 4, "the scan found the mirrors: {checked:?}");
}

#[test]
fn the_reader_takes_what_the_client_writes() {
    assert_eq!(ts_value("export const MAX_X = 2_000", "MAX_X"), Some(2000));
    assert_eq!(ts_value("export const MAX_X = 500;", "MAX_X"), Some(500));
    assert_eq!(ts_value("export const MAX_XY = 5", "MAX_X"), None);
    assert_eq!(ts_value("const MAX_X = 5", "MAX_X"), None);
}
