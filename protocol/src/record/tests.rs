use super::*;
use crate::submission::FileEntry;
use yrs::{Map, ReadTxn, Text, TextPrelim, TransactionMut};

/// A client: a document that records each local change as an update.
struct Client {
    doc: Doc,
    root: yrs::MapRef,
}

impl Client {
    fn new(id: u64, preload: &[u8]) -> Client {
        let doc = Doc::with_options(Options {
            client_id: yrs::ClientID::new(id),
            offset_kind: OffsetKind::Utf16,
            ..Options::default()
        });
        let root = schema::files_root(&doc);
        doc.transact_mut().apply_update(decode_update(preload).unwrap()).unwrap();
        Client { doc, root }
    }

    fn change(&self, f: impl FnOnce(&mut TransactionMut, &yrs::MapRef)) -> Vec<u8> {
        let before = self.doc.transact().state_vector();
        {
            let mut txn = self.doc.transact_mut();
            f(&mut txn, &self.root);
        }
        self.doc.transact().encode_diff_v1(&before)
    }

    fn text(&self, file: &str) -> yrs::TextRef {
        let txn = self.doc.transact();
        match self.root.get(&txn, file) {
            Some(Out::YText(t)) => t,
            _ => panic!("no {file}"),
        }
    }

    fn apply(&self, update: &[u8]) {
        self.doc.transact_mut().apply_update(decode_update(update).unwrap()).unwrap();
    }
}

struct Entry {
    at_ms: u64,
    author: &'static str,
    role: Option<Role>,
    update: Vec<u8>,
}

fn logged(entries: &[Entry]) -> Vec<Logged<'_>> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| Logged {
            seq: i as u64 + 1,
            at_ms: e.at_ms,
            author: e.author,
            role: e.role,
            update: &e.update,
        })
        .collect()
}

#[test]
fn scripted_authorship_and_timeline() {
    let preload = schema::initial_update(&[FileEntry {
        path: "main.py".into(),
        content: "def f():\n    pass\n".into(),
    }]);
    let cand = Client::new(1, &preload);
    let ivy = Client::new(2, &preload);
    let t = cand.text("main.py");
    // Candidate replaces "pass" with "return 42" (delete 4 at 13, insert).
    let u1 = cand.change(|txn, _| {
        t.remove_range(txn, 13, 4);
        t.insert(txn, 13, "return 42");
    });
    ivy.apply(&u1);
    // Interviewer appends a comment line; then a new file.
    let ti = ivy.text("main.py");
    let u2 = ivy.change(|txn, _| {
        let end = ti.len(txn);
        ti.insert(txn, end, "# why 42?\n");
    });
    let u3 = ivy.change(|txn, root| {
        root.insert(txn, "notes.md", TextPrelim::new("edge cases\n"));
    });
    let entries = vec![
        Entry { at_ms: 1000, author: "submission", role: None, update: preload.clone() },
        Entry { at_ms: 2000, author: "Cam", role: Some(Role::Candidate), update: u1 },
        Entry { at_ms: 3000, author: "Ivy", role: Some(Role::Interviewer), update: u2 },
        Entry { at_ms: 4000, author: "Ivy", role: Some(Role::Interviewer), update: u3 },
    ];
    let log = logged(&entries);
    let rec = replay(&log, None).unwrap();
    assert_eq!(rec.files["main.py"], "def f():\n    return 42\n# why 42?\n");
    assert_eq!(rec.files["notes.md"], "edge cases\n");

    let a = &rec.authorship["main.py"];
    let summary: Vec<(u32, u32, Source, [u32; 2])> =
        a.iter().map(|r| (r.start, r.end, r.source, r.lines)).collect();
    assert_eq!(
        summary,
        vec![
            (0, 13, Source::Submission, [1, 2]),
            (13, 22, Source::Candidate, [2, 2]),
            (22, 23, Source::Submission, [2, 2]),
            (23, 33, Source::Interviewer, [3, 3]),
        ]
    );
    assert_eq!(rec.authorship["notes.md"][0].source, Source::Interviewer);

    let edits: Vec<(&str, u32, &str, &str, Source)> = rec
        .edits
        .iter()
        .map(|e| (e.file.as_str(), e.position, e.inserted.as_str(), e.deleted.as_str(), e.source))
        .collect();
    assert_eq!(
        edits,
        vec![
            ("main.py", 13, "", "pass", Source::Candidate),
            ("main.py", 13, "return 42", "", Source::Candidate),
            ("main.py", 23, "# why 42?\n", "", Source::Interviewer),
            ("notes.md", 0, "edge cases\n", "", Source::Interviewer),
        ]
    );
    assert!(rec.edits.iter().all(|e| e.author != "submission"), "the preload is not a live edit");

    // Files at a moment: before the interviewer's edits.
    let at = replay(&log, Some(2500)).unwrap();
    assert_eq!(at.files["main.py"], "def f():\n    return 42\n");
    assert!(!at.files.contains_key("notes.md"));
    let start = replay(&log, Some(1000)).unwrap();
    assert_eq!(start.files["main.py"], "def f():\n    pass\n");
}

#[test]
fn multibyte_text_uses_utf16_positions() {
    let preload = schema::initial_update(&[FileEntry { path: "a.txt".into(), content: "🙂é\n".into() }]);
    let c = Client::new(7, &preload);
    let t = c.text("a.txt");
    // After the emoji (2 UTF-16 units) and é (1): offset 3.
    let u = c.change(|txn, _| t.insert(txn, 3, "ü"));
    let entries = vec![
        Entry { at_ms: 0, author: "submission", role: None, update: preload.clone() },
        Entry { at_ms: 1, author: "Cam", role: Some(Role::Candidate), update: u },
    ];
    let rec = replay(&logged(&entries), None).unwrap();
    assert_eq!(rec.files["a.txt"], "🙂éü\n");
    assert_eq!(rec.edits[0].position, 3);
    let spans: Vec<(u32, u32, Source)> =
        rec.authorship["a.txt"].iter().map(|r| (r.start, r.end, r.source)).collect();
    assert_eq!(
        spans,
        vec![(0, 3, Source::Submission), (3, 4, Source::Candidate), (4, 5, Source::Submission)]
    );
}

/// A small deterministic PRNG (no dependency for a test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn replay_reproduces_thousands_of_random_concurrent_edits() {
    let files: Vec<FileEntry> = ["a.py", "b.rs", "c.md"]
        .iter()
        .map(|p| FileEntry { path: (*p).into(), content: format!("// {p}\nstart é🙂\n") })
        .collect();
    let preload = schema::initial_update(&files);
    let clients: Vec<Client> = (0..3).map(|i| Client::new(100 + i, &preload)).collect();
    let roles =
        [(Some(Role::Candidate), "Cam"), (Some(Role::Interviewer), "Ivy"), (Some(Role::Candidate), "Cam")];
    let mut rng = Lcg(42);
    let mut entries = vec![Entry { at_ms: 0, author: "submission", role: None, update: preload.clone() }];
    // Each client's unsent updates: they reach the server (the log) and the others in random batches,
    // so edits are concurrent.
    let mut outbox: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
    let alphabet: Vec<char> = "abcxyz \n{}é🙂".chars().collect();
    for step in 0..3000u64 {
        let who = rng.next(3) as usize;
        let file = files[rng.next(3) as usize].path.clone();
        let c = &clients[who];
        let t = c.text(&file);
        let len = t.len(&c.doc.transact());
        let delete = rng.next(4) == 0 && len > 2;
        let update = c.change(|txn, _| {
            // Positions must fall on character boundaries: pick one from the string.
            let s = t.get_string(txn);
            let bounds: Vec<u32> = std::iter::once(0)
                .chain(s.chars().scan(0u32, |acc, ch| {
                    *acc += ch.len_utf16() as u32;
                    Some(*acc)
                }))
                .collect();
            let at = bounds[rng.next(bounds.len() as u64) as usize];
            if delete && at < len {
                let next = bounds.iter().copied().find(|b| *b > at).unwrap_or(len);
                t.remove_range(txn, at, next - at);
            } else {
                let ch = alphabet[rng.next(alphabet.len() as u64) as usize];
                t.insert(txn, at, &ch.to_string());
            }
        });
        outbox[who].push(update);
        if rng.next(5) == 0 {
            // Flush one client's queue: the server logs it, the others receive it.
            let from = rng.next(3) as usize;
            for u in std::mem::take(&mut outbox[from]) {
                for (i, other) in clients.iter().enumerate() {
                    if i != from {
                        other.apply(&u);
                    }
                }
                let (role, author) = roles[from];
                entries.push(Entry { at_ms: step, author, role, update: u });
            }
        }
    }
    for from in 0..3 {
        for u in std::mem::take(&mut outbox[from]) {
            for (i, other) in clients.iter().enumerate() {
                if i != from {
                    other.apply(&u);
                }
            }
            let (role, author) = roles[from];
            entries.push(Entry { at_ms: 5000, author, role, update: u });
        }
    }
    let expected = schema::read_files(&clients[0].doc);
    for c in &clients[1..] {
        assert_eq!(schema::read_files(&c.doc), expected, "clients converged");
    }
    let log = logged(&entries);
    let rec = replay(&log, None).unwrap();
    assert_eq!(rec.files, expected, "replay reproduces the final files exactly");
    for (file, ranges) in &rec.authorship {
        let mut at = 0;
        for r in ranges {
            assert_eq!(r.start, at, "authorship of {file} is contiguous");
            at = r.end;
        }
        assert_eq!(at, utf16_len(&expected[file]), "authorship of {file} covers the whole file");
    }
    // Every moment replays to a state that a document applying the same prefix has.
    let cut = 1500;
    let partial = replay(&log, Some(cut)).unwrap();
    let doc = Doc::new();
    let _root = schema::files_root(&doc);
    for e in entries.iter().filter(|e| e.at_ms <= cut) {
        doc.transact_mut().apply_update(decode_update(&e.update).unwrap()).unwrap();
    }
    assert_eq!(partial.files, schema::read_files(&doc));
}
