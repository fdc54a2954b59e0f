//! Differential test: whatever the server accepts, yjs (what every browser runs) must read as yrs does.
//! The corpus in `differential/corpus/` holds sessions of real updates written by yjs itself
//! (`differential/gen.mjs`; its README says how to grow it) and sessions ending in an update the server
//! must refuse. Each session, and seeded mutations of its updates (bit flips, varint blow-ups,
//! truncation, client id 2^53, content kinds 10–31 including yrs's move, 11), goes through the server's
//! own acceptance path (`room::apply_client_update`) into yrs; the updates it accepted go, in the same
//! order, to yjs under Node (`differential/apply.mjs`). Both documents must then hold the same roots and
//! the same files, byte for byte, and yjs must not throw.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use handoff_protocol::schema;
use handoff_server::test_support::room::{FilesGuard, apply_client_update};
use serde_json::{Value, json};
use yrs::{Doc, ReadTxn, Transact};

/// Mutations of each update of each real session.
const MUTATIONS_PER_UPDATE: usize = 24;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

/// A corpus file: 4-byte little-endian lengths, each followed by an update.
fn read_session(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push(bytes[at + 4..at + 4 + len].to_vec());
        at += 4 + len;
    }
    out
}

/// A seeded generator (a 64-bit LCG): the same mutations on every run.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize % bound.max(1)
    }
}

fn var(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a varuint at `*at`.
fn read_var(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Where the first client's id and first struct's info byte are: (client start, client end, info).
fn header(update: &[u8]) -> Option<(usize, usize, usize)> {
    let mut at = 0;
    let clients = read_var(update, &mut at)?;
    if clients == 0 {
        return None;
    }
    read_var(update, &mut at)?;
    let client_at = at;
    read_var(update, &mut at)?;
    let client_end = at;
    read_var(update, &mut at)?;
    (at < update.len()).then_some((client_at, client_end, at))
}

/// One seeded mutation of `update`.
fn mutate(update: &[u8], rng: &mut Seeded) -> Vec<u8> {
    let mut u = update.to_vec();
    match rng.below(7) {
        0 => {
            let at = rng.below(u.len());
            u[at] ^= 1 << rng.below(8);
        }
        1 => {
            // A varint blown up: continuation bytes inserted.
            let at = rng.below(u.len());
            for _ in 0..1 + rng.below(9) {
                u.insert(at, 0xff);
            }
        }
        2 => u.truncate(rng.below(u.len())),
        3 => {
            let at = rng.below(u.len());
            u.insert(at, rng.below(256) as u8);
        }
        4 | 5 => {
            if let Some((_, _, info)) = header(&u) {
                let kind = 10 + rng.below(22) as u8; // 10..=31: skip, move (11), unknown to yjs
                u[info] = (u[info] & 0xe0) | kind;
            }
        }
        _ => {
            if let Some((start, end, _)) = header(&u) {
                let mut id = Vec::new();
                var(&mut id, (1 << 53) + rng.below(1000) as u64);
                u.splice(start..end, id);
            }
        }
    }
    u
}

/// The yrs document as the test compares it: roots besides `files`, and every file.
fn yrs_view(doc: &Doc) -> (Vec<String>, BTreeMap<String, String>) {
    let mut roots: Vec<String> = {
        let txn = doc.transact();
        txn.root_refs().map(|(name, _)| name.to_owned()).filter(|n| n != schema::FILES_ROOT).collect()
    };
    roots.sort();
    (roots, schema::read_files(doc))
}

struct Case {
    name: String,
    /// The updates the server accepted, in order.
    accepted: Vec<Vec<u8>>,
    view: (Vec<String>, BTreeMap<String, String>),
}

/// Feeds `updates` through the server's acceptance path, stopping at the first refusal (in every
/// session here only the last update can be refused); returns what it accepted, and each outcome.
fn through_server(name: String, updates: &[Vec<u8>]) -> (Case, Vec<Result<(), String>>) {
    let mut doc = Doc::new();
    let guard = FilesGuard::watch(&doc);
    let mut accepted: Vec<Vec<u8>> = Vec::new();
    let mut outcomes = Vec::new();
    for u in updates {
        let outcome = apply_client_update(&doc, &guard, u);
        let refused = outcome.is_err();
        outcomes.push(outcome);
        if refused {
            // A refusal after the apply leaves the document changed: the room rebuilds it from what it
            // accepted before, and so does this test.
            doc = Doc::new();
            let guard = FilesGuard::watch(&doc);
            for a in &accepted {
                apply_client_update(&doc, &guard, a).expect("accepted before");
            }
            break;
        }
        accepted.push(u.to_vec());
    }
    assert_eq!(outcomes.len(), updates.len(), "{name}: refused before its last update");
    let view = yrs_view(&doc);
    (Case { name, accepted, view }, outcomes)
}

#[test]
fn whatever_the_server_accepts_yjs_reads_as_yrs_does() {
    let dir = dir();
    common::ensure_node_modules(&dir, "yjs/package.json", "the differential test");
    let mut sessions: Vec<(String, Vec<Vec<u8>>)> = std::fs::read_dir(dir.join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), read_session(&p)))
        .collect();
    sessions.sort();
    assert!(sessions.iter().filter(|(n, _)| n.starts_with("real-")).count() >= 7, "the corpus is there");
    for required in ["bad-client-id-2-pow-53", "bad-path-dotdot", "bad-file-number", "bad-file-map"] {
        assert!(sessions.iter().any(|(n, _)| n == required), "the corpus holds {required}");
    }

    let mut cases = Vec::new();
    let mut rng = Seeded(0x9e37_79b9_7f4a_7c15);
    let (mut mutated, mut mutated_accepted) = (0, 0);
    for (name, updates) in &sessions {
        let (case, outcomes) = through_server(name.clone(), updates);
        if name.starts_with("real-") {
            for (i, o) in outcomes.iter().enumerate() {
                assert!(o.is_ok(), "{name}: real update {i} refused: {o:?}");
            }
        } else {
            let (last, before) = outcomes.split_last().unwrap();
            assert!(before.iter().all(Result::is_ok), "{name}: {before:?}");
            assert!(last.is_err(), "{name}: the server accepted the bad update");
        }
        cases.push(case);
        if !name.starts_with("real-") {
            continue;
        }
        for i in 0..updates.len() {
            for m in 0..MUTATIONS_PER_UPDATE {
                let mut prefix = updates[..i].to_vec();
                prefix.push(mutate(&updates[i], &mut rng));
                let (case, outcomes) = through_server(format!("{name}/{i}/mutation-{m}"), &prefix);
                mutated += 1;
                if outcomes.last().is_some_and(Result::is_ok) {
                    mutated_accepted += 1;
                    cases.push(case);
                }
            }
        }
    }
    assert!(mutated > 1000, "{mutated} mutations");
    eprintln!("{mutated_accepted} of {mutated} mutations accepted");

    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            let updates: Vec<String> =
                c.accepted.iter().map(|u| base64::engine::general_purpose::STANDARD.encode(u)).collect();
            json!({ "name": c.name, "updates": updates })
        })
        .collect();
    let scratch = tempfile::tempdir().unwrap();
    let input_path = scratch.path().join("cases.json");
    std::fs::write(&input_path, serde_json::to_vec(&input).unwrap()).unwrap();
    let output = Command::new("node").arg("apply.mjs").arg(&input_path).current_dir(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "apply.mjs failed: {stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let results: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), cases.len(), "one result per case: {stderr}");

    let mut diverged = Vec::new();
    for (case, result) in cases.iter().zip(&results) {
        assert_eq!(result["name"], case.name);
        let roots: Vec<String> = serde_json::from_value(result["roots"].clone()).unwrap();
        let files: BTreeMap<String, String> = serde_json::from_value(result["files"].clone()).unwrap();
        if !result["error"].is_null() || roots != case.view.0 || files != case.view.1 {
            diverged.push(format!(
                "{}: yjs error {}, roots {roots:?} vs yrs {:?}, files {files:?} vs yrs {:?}; last update {}",
                case.name,
                result["error"],
                case.view.0,
                case.view.1,
                case.accepted
                    .last()
                    .map(|u| u.iter().map(|b| format!("{b:02x}")).collect::<String>())
                    .unwrap_or_default()
            ));
        }
    }
    assert!(
        diverged.is_empty(),
        "{} of {} cases read differently by yjs ({mutated_accepted} of {mutated} mutations accepted):\n{}",
        diverged.len(),
        cases.len(),
        diverged.join("\n")
    );
}
