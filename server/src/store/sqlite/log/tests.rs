//! The log's two tables under the writer: reads across a fold, a seq written once (retries aside),
//! large rows, leftovers of a crash, when folds fall due.

use bytes::Bytes;

use super::*;
use crate::store::sqlite::schema::migrate;

fn db() -> (Connection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("handoff.db")).unwrap();
    migrate(&mut conn).unwrap();
    (conn, dir)
}

fn entry(room: &str, seq: u64) -> LogEntry {
    LogEntry {
        room_id: Arc::from(room),
        seq,
        at_ms: 100 + seq,
        author: Arc::from("Cam"),
        role: Some(Role::Candidate),
        conn_id: 7,
        update: Bytes::from(format!("{room} {seq}")),
    }
}

/// Another entry at `e`'s (room, seq): a clash, not a retry.
fn other(e: &LogEntry) -> LogEntry {
    LogEntry { update: Bytes::from_static(b"something else"), ..e.clone() }
}

fn count(c: &Connection, table: &str) -> i64 {
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// What a room load reads: (seq, update) after `after`.
fn tail(c: &Connection, room: &str, after: u64) -> Vec<(u64, String)> {
    let mut stmt = c.prepare(TAIL_SQL).unwrap();
    let rows = stmt.query_map(params![room, after as i64], |r| {
        Ok((r.get::<_, i64>(0)? as u64, String::from_utf8(r.get::<_, Vec<u8>>(1)?).unwrap()))
    });
    rows.unwrap().map(Result::unwrap).collect()
}

fn seqs(c: &Connection, room: &str) -> Vec<u64> {
    let mut stmt = c.prepare(LOG_SQL).unwrap();
    let rows = stmt.query_map([room], |r| r.get::<_, i64>(0).map(|s| s as u64));
    rows.unwrap().map(Result::unwrap).collect()
}

#[test]
fn reads_see_the_same_log_before_during_and_after_a_fold() {
    let (mut c, _dir) = db();
    let mut log = LogWriter::open(&mut c);
    // Two rooms interleaved, as a group commit holds them; one append out of order.
    log.append(&c, &[entry("a", 1), entry("b", 1), entry("a", 3), entry("a", 2)], None).unwrap();
    assert_eq!(count(&c, "room_log_recent"), 4);
    assert_eq!(count(&c, "room_log"), 0);
    let expected: Vec<(u64, String)> = (1..=3).map(|s| (s, format!("a {s}"))).collect();
    assert_eq!(tail(&c, "a", 0), expected);

    log.fold(&mut c, Instant::now());
    assert_eq!(count(&c, "room_log_recent"), 0, "the fold empties the recent rows");
    assert_eq!(count(&c, "room_log"), 4);
    assert_eq!(tail(&c, "a", 0), expected);
    assert_eq!(tail(&c, "a", 1), expected[1..], "a tail after a snapshot");

    // Half folded, half recent: one log in seq order.
    log.append(&c, &[entry("a", 4), entry("b", 2)], None).unwrap();
    assert_eq!(seqs(&c, "a"), [1, 2, 3, 4]);
    assert_eq!(seqs(&c, "b"), [1, 2]);
    let authors: Vec<(String, String)> = c
        .prepare(LOG_SQL)
        .unwrap()
        .query_map(["a"], |r| Ok((r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(authors.iter().all(|(who, role)| who == "Cam" && role == "candidate"), "{authors:?}");
}

#[test]
fn a_seq_is_written_once_whichever_table_holds_it() {
    let (mut c, _dir) = db();
    let mut log = LogWriter::open(&mut c);
    log.append(&c, &[entry("a", 1), entry("a", 2)], None).unwrap();
    log.fold(&mut c, Instant::now());
    let err = log.append(&c, &[other(&entry("a", 2))], None).unwrap_err();
    assert!(err.to_string().contains("UNIQUE constraint failed"), "{err}");
    log.append(&c, &[entry("a", 2)], None).unwrap();
    assert_eq!(seqs(&c, "a"), [1, 2], "a retry of a folded entry is written once");
    log.append(&c, &[entry("a", 3)], None).unwrap();
    assert!(log.append(&c, &[other(&entry("a", 3))], None).is_err(), "a recent row counts too");
    log.append(&c, &[entry("a", 3)], None).unwrap();
    log.append(&c, &[entry("a", 5), entry("a", 5)], None).unwrap();
    assert_eq!(seqs(&c, "a"), [1, 2, 3, 5], "retries and twins are written once");
    let twins = [entry("a", 6), other(&entry("a", 6))];
    assert!(log.append(&c, &twins, None).is_err(), "and a clash within the append fails");

    // A restarted writer knows nothing in memory: the tables still tell a clash from a retry.
    let mut restarted = LogWriter::open(&mut c);
    assert!(restarted.append(&c, &[other(&entry("a", 3))], None).is_err());
    restarted.append(&c, &[entry("a", 3)], None).unwrap();

    // A rolled-back append leaves the writer's newest seq too high; its retry must still go in.
    c.execute_batch("SAVEPOINT w").unwrap();
    restarted.append(&c, &[entry("a", 4), entry("a", 7)], None).unwrap();
    c.execute_batch("ROLLBACK TO w; RELEASE w").unwrap();
    restarted.append(&c, &[entry("a", 4)], None).unwrap();
    assert_eq!(seqs(&c, "a"), [1, 2, 3, 4, 5, 6], "6 went in before its twin failed (no savepoint here)");
}

#[test]
fn a_large_update_goes_straight_into_the_log_in_seq_order_with_the_rest() {
    let (mut c, _dir) = db();
    let mut log = LogWriter::open(&mut c);
    let mut preload = entry("a", 1);
    preload.update = Bytes::from(vec![b'x'; DIRECT_ROW_BYTES]);
    log.append(&c, &[preload, entry("a", 2)], None).unwrap();
    assert_eq!((count(&c, "room_log"), count(&c, "room_log_recent")), (1, 1));
    let mut paste = entry("a", 4);
    paste.update = Bytes::from(vec![b'y'; DIRECT_ROW_BYTES * 2]);
    log.append(&c, &[entry("a", 3), paste], None).unwrap();
    assert_eq!(seqs(&c, "a"), [1, 2, 3, 4], "one log, whichever table each row went to");
    assert!(log.append(&c, &[entry("a", 4)], None).is_err(), "written once still holds");
    assert_eq!(log.recent_rows, 2, "only the small rows wait for a fold");
    log.fold(&mut c, Instant::now());
    assert_eq!((count(&c, "room_log"), count(&c, "room_log_recent")), (4, 0));
    let sizes: Vec<usize> = c
        .prepare("SELECT length(update_v1) FROM room_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get::<_, i64>(0).map(|n| n as usize))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(sizes, [DIRECT_ROW_BYTES, 3, 3, DIRECT_ROW_BYTES * 2]);
}

#[test]
fn opening_folds_what_an_earlier_run_left() {
    let (c, dir) = db();
    c.execute(
        "INSERT INTO room_log_recent (room_id, seq, at_ms, author, role, conn_id, update_v1)
         VALUES ('a', 1, 1, 'handoff', 'system', 0, x'00')",
        [],
    )
    .unwrap();
    drop(c);
    let mut c = Connection::open(dir.path().join("handoff.db")).unwrap();
    let mut log = LogWriter::open(&mut c);
    assert_eq!((count(&c, "room_log_recent"), count(&c, "room_log")), (0, 1));
    assert!(log.complete);
    assert!(log.append(&c, &[entry("a", 1)], None).is_err());
}

#[test]
fn folds_fall_due_by_rows_or_time_and_a_failed_one_waits_its_retry() {
    let (mut c, _dir) = db();
    let mut log = LogWriter::open(&mut c);
    let now = Instant::now();
    assert!(!log.due(now), "nothing to fold");
    log.append(&c, &[entry("a", 1)], None).unwrap();
    assert!(!log.due(now));
    let interval = Duration::from_millis(LOG_FOLD_INTERVAL_MS);
    let appended = Instant::now();
    assert!(log.due(appended + interval), "the first row waits an interval at most");
    log.recent_rows = LOG_FOLD_ROWS;
    assert!(log.due(now), "or until the rows fill the bound");

    // A row that clashes inside room_log, put there behind the writer's back, fails the fold.
    c.execute(
        "INSERT INTO room_log (room_id, seq, at_ms, author, role, conn_id, update_v1)
         VALUES ('a', 1, 1, 'handoff', 'system', 0, x'00')",
        [],
    )
    .unwrap();
    log.fold_if_due(&mut c);
    assert_eq!(count(&c, "room_log_recent"), 1, "a failed fold keeps the rows");
    assert_eq!(seqs(&c, "a"), [1, 1], "and readers still see them");
    let failed_at = Instant::now();
    assert!(!log.due(failed_at), "not retried by the row count on the next commit");
    assert!(log.due(Instant::now() + interval), "but an interval later");
}
