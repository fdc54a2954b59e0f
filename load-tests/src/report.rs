//! The result of a run: what was sent, what arrived, how fast, and whether the rooms agree. Printed as a
//! table and written as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::MAX_REPORTED_ERRORS;
use crate::mint::TYPED_FILE;
use crate::room::RoomOutcome;
use crate::server_watch::ServerFigures;
use crate::stats::{Latency, Percentiles};
use crate::typing::TypingConfig;

/// Ends a report's table with its verdict line: `OK`, or `failed` (what a failure means for it).
pub fn write_result(s: &mut String, ok: bool, failed: &str) {
    let _ = write!(s, "result             {}", if ok { "OK" } else { failed });
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// The kind of server: handoff, relay, y-websocket, hocuspocus.
    pub target: &'static str,
    pub server: String,
    pub rooms: usize,
    pub clients_per_room: usize,
    pub keys_per_sec: f64,
    /// How typists spaced their keys (`words`, or `steady` as before this field existed).
    pub rhythm: crate::metronome::Rhythm,
    /// Characters per key (1 when typing, the paste size for large-paste).
    pub chunk: usize,
    /// The typed file's kept length (each key past it deletes as much as it types); 0 never deletes.
    pub keep_chars: usize,
    pub duration_s: f64,
    pub drain_s: f64,
    /// Keys on the typists' timetables (all rooms).
    pub keys_scheduled: u64,
    /// Keys the typists actually sent.
    pub keys_sent: u64,
    /// Watchers over all rooms.
    pub watchers: u64,
    /// Scheduled keys × watchers of their room: a key never sent counts as lost too.
    pub deliveries_expected: u64,
    pub deliveries_received: u64,
    pub lost: u64,
    /// The threshold of a late delivery, in milliseconds.
    pub late_ms: u64,
    /// Deliveries integrated more than `late_ms` after their key was due (counted as received too).
    pub late: u64,
    /// Typist awareness (cursor) entries the watchers received; informational, not checked: a watcher
    /// stops listening as soon as every key arrived.
    pub awareness_received: u64,
    /// Rooms where some client's files differ from the typist's at the end.
    pub rooms_diverged: usize,
    /// The longest typed file a typist ended with, in characters (at most `keep_chars` when that is set).
    pub typed_chars_max: usize,
    /// Clients that could not join (their room was left out; its keys count as lost).
    pub join_failures: usize,
    /// Clients that ended with an error (closed by the server, undecodable frame, …).
    pub client_errors: usize,
    /// The first few of those errors.
    pub errors: Vec<String>,
    /// Fan-out latency: watcher received the key − the key's scheduled send instant.
    pub fanout: Percentiles,
    /// Arrival − the instant the typist actually sent the key: the server and the network alone, without
    /// the generator's own lateness (tokio's timer has 1 ms resolution). Not CO-free; for diagnosis.
    pub fanout_from_send: Percentiles,
    /// Join time: WebSocket connect → sync step 2 received.
    pub join: Percentiles,
    /// Typist's actual send − scheduled instant: the generator's own lateness (already inside `fanout`).
    pub send_lag: Percentiles,
    /// The server process over the typing phase (CPU per delivered update, memory), when its pid was
    /// given.
    pub server_figures: Option<ServerFigures>,
    /// Wall time of the whole run (minting, joining, typing, drain).
    pub wall_s: f64,
}

/// Everything a report counts, before it is summed up: counts and whole histograms, so the tallies of
/// several processes, each running some of a run's rooms, merge into exactly the tally one process
/// would have made (see `procs.rs`). Its JSON is the wire form between those processes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tally {
    pub keys_sent: u64,
    /// Watchers of the rooms that ran.
    pub watchers: u64,
    pub received: u64,
    pub awareness: u64,
    pub rooms_diverged: usize,
    /// The longest typed file any typist ended with, in characters.
    pub typed_chars_max: usize,
    /// Clients that could not join.
    pub join_failures: usize,
    /// The first [`MAX_REPORTED_ERRORS`] of their errors.
    pub join_errors: Vec<String>,
    /// Clients that ended with an error.
    pub client_errors: usize,
    /// The first [`MAX_REPORTED_ERRORS`] of those errors.
    pub client_error_list: Vec<String>,
    pub fanout: Latency,
    pub from_send: Latency,
    pub join: Latency,
    pub send_lag: Latency,
}

impl Tally {
    /// The tally of these rooms, joined in `join` time, with these clients that could not join.
    pub fn from_outcomes<'a>(
        rooms: impl IntoIterator<Item = &'a RoomOutcome>,
        join: &Latency,
        join_failures: &[String],
    ) -> Tally {
        let mut t = Tally {
            join: join.clone(),
            join_failures: join_failures.len(),
            join_errors: join_failures.iter().take(MAX_REPORTED_ERRORS).cloned().collect(),
            ..Tally::default()
        };
        for room in rooms {
            t.keys_sent += room.typist.keys_sent;
            t.send_lag.merge(&room.typist.send_lag);
            t.watchers += room.watchers.len() as u64;
            t.rooms_diverged += usize::from(room.diverged());
            let typed = room.typist.files.get(TYPED_FILE).map_or(0, |f| f.chars().count());
            t.typed_chars_max = t.typed_chars_max.max(typed);
            let errs = room.typist.error.iter().chain(room.watchers.iter().filter_map(|w| w.error.as_ref()));
            for e in errs {
                t.client_errors += 1;
                if t.client_error_list.len() < MAX_REPORTED_ERRORS {
                    t.client_error_list.push(e.clone());
                }
            }
            for w in &room.watchers {
                t.fanout.merge(&w.fanout);
                t.from_send.merge(&w.from_send);
                t.received += w.received;
                t.awareness += w.awareness;
            }
        }
        t
    }

    /// Adds `other`'s counts and histograms to these; the error lists stay the first few.
    pub fn merge(&mut self, other: &Tally) {
        self.keys_sent += other.keys_sent;
        self.watchers += other.watchers;
        self.received += other.received;
        self.awareness += other.awareness;
        self.rooms_diverged += other.rooms_diverged;
        self.typed_chars_max = self.typed_chars_max.max(other.typed_chars_max);
        self.join_failures += other.join_failures;
        self.client_errors += other.client_errors;
        for (list, more) in [
            (&mut self.join_errors, &other.join_errors),
            (&mut self.client_error_list, &other.client_error_list),
        ] {
            let room = MAX_REPORTED_ERRORS.saturating_sub(list.len());
            list.extend(more.iter().take(room).cloned());
        }
        self.fanout.merge(&other.fanout);
        self.from_send.merge(&other.from_send);
        self.join.merge(&other.join);
        self.send_lag.merge(&other.send_lag);
    }
}

impl Report {
    pub fn build(
        cfg: &TypingConfig,
        rooms: &[RoomOutcome],
        join: &Latency,
        join_failures: &[String],
        server_figures: Option<ServerFigures>,
        wall: Duration,
    ) -> Report {
        Report::from_tally(cfg, Tally::from_outcomes(rooms, join, join_failures), server_figures, wall)
    }

    /// The report of a run configured as `cfg` that counted `tally`.
    pub fn from_tally(
        cfg: &TypingConfig,
        tally: Tally,
        server_figures: Option<ServerFigures>,
        wall: Duration,
    ) -> Report {
        // Every configured watcher is expected to receive every scheduled key, whether or not its room
        // could join: a room left out loses all of them.
        let expected = cfg.keys_per_room() * (cfg.rooms * (cfg.clients_per_room - 1)) as u64;
        // Join failures first, then the clients' errors, as many as fit.
        let errors = tally
            .join_errors
            .iter()
            .chain(&tally.client_error_list)
            .take(MAX_REPORTED_ERRORS)
            .cloned()
            .collect();
        Report {
            scenario: if cfg.chunk > 1 { "large-paste" } else { "typing" },
            target: cfg.target.kind.name(),
            server: cfg.target.url.clone(),
            rooms: cfg.rooms,
            clients_per_room: cfg.clients_per_room,
            keys_per_sec: cfg.keys_per_sec,
            rhythm: cfg.rhythm,
            chunk: cfg.chunk,
            keep_chars: cfg.keep_chars,
            duration_s: cfg.duration.as_secs_f64(),
            drain_s: cfg.drain.as_secs_f64(),
            keys_scheduled: cfg.keys_per_room() * cfg.rooms as u64,
            keys_sent: tally.keys_sent,
            watchers: tally.watchers,
            deliveries_expected: expected,
            deliveries_received: tally.received,
            lost: expected.saturating_sub(tally.received),
            late_ms: u64::try_from(cfg.late.as_millis()).unwrap_or(u64::MAX),
            late: tally.fanout.count_above(cfg.late),
            awareness_received: tally.awareness,
            rooms_diverged: tally.rooms_diverged,
            typed_chars_max: tally.typed_chars_max,
            join_failures: tally.join_failures,
            client_errors: tally.client_errors,
            errors,
            fanout: tally.fanout.summary(),
            fanout_from_send: tally.from_send.summary(),
            join: tally.join.summary(),
            send_lag: tally.send_lag.summary(),
            server_figures: server_figures.map(|f| f.with_deliveries(tally.received)),
            wall_s: wall.as_secs_f64(),
        }
    }

    /// This run's line in a comparison.
    fn compare_row(&self) -> crate::compare::Row {
        let figures = self.server_figures.as_ref();
        crate::compare::Row::new(self.target, self.ok(), self.lost, self.join_failures, &self.fanout, figures)
    }

    /// Nothing lost, nothing diverged, every client joined and none failed.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.rooms_diverged == 0 && self.client_errors == 0 && self.join_failures == 0
    }

    /// The human-readable summary.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "handoff-load {}: {} rooms × {} clients, {} keys/s ({}) × {} chars for {} s (drain ≤ {} s) against {} at {}",
            self.scenario,
            self.rooms,
            self.clients_per_room,
            self.keys_per_sec,
            self.rhythm.name(),
            self.chunk,
            self.duration_s,
            self.drain_s,
            self.target,
            self.server
        );
        let _ = writeln!(s, "keys sent          {} of {} scheduled", self.keys_sent, self.keys_scheduled);
        let _ = writeln!(
            s,
            "deliveries         {} expected ({} watchers), {} received, {} lost",
            self.deliveries_expected, self.watchers, self.deliveries_received, self.lost
        );
        let share = if self.deliveries_received == 0 {
            0.0
        } else {
            100.0 * self.late as f64 / self.deliveries_received as f64
        };
        let _ = writeln!(
            s,
            "late               {} received more than {} ms after they were due ({share:.2} %)",
            self.late, self.late_ms
        );
        let _ = writeln!(s, "cursor updates     {} received by watchers", self.awareness_received);
        let _ = writeln!(s, "divergence         {} of {} rooms diverged", self.rooms_diverged, self.rooms);
        let trimmed = if self.keep_chars > 0 {
            format!(" (keys trim it to {})", self.keep_chars)
        } else {
            String::new()
        };
        let _ =
            writeln!(s, "typed file         {} characters at most at the end{trimmed}", self.typed_chars_max);
        let _ = writeln!(s, "join failures      {}", self.join_failures);
        let _ = writeln!(s, "client errors      {}", self.client_errors);
        for e in &self.errors {
            let _ = writeln!(s, "  {e}");
        }
        crate::stats::write_latency_table(
            &mut s,
            &[
                ("fan-out", &self.fanout),
                ("fan-out from send", &self.fanout_from_send),
                ("join", &self.join),
                ("send lag", &self.send_lag),
            ],
        );
        if let Some(f) = &self.server_figures {
            let _ = writeln!(s, "{}", f.table());
        }
        let _ = writeln!(s, "wall time          {:.1} s", self.wall_s);
        write_result(&mut s, self.ok(), "FAILED (lost, diverged or errors)");
        s
    }
}

impl crate::compare::Outcome for Report {
    fn table(&self) -> String {
        Report::table(self)
    }
    fn ok(&self) -> bool {
        Report::ok(self)
    }
    fn row(&self) -> crate::compare::Row {
        self.compare_row()
    }
    fn headline(&self) -> &'static str {
        "fan-out latency"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::room::{TypistOutcome, WatcherOutcome};
    use crate::target::{Kind, Target};

    fn files(content: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("main.py".to_owned(), content.to_owned())])
    }

    fn watcher(received: u64, content: &str) -> WatcherOutcome {
        let mut fanout = Latency::new();
        for _ in 0..received {
            fanout.record(Duration::from_micros(500));
        }
        WatcherOutcome {
            received,
            fanout,
            from_send: Latency::new(),
            awareness: received,
            files: files(content),
            error: None,
            recovery: Default::default(),
        }
    }

    fn room(watchers: Vec<WatcherOutcome>) -> RoomOutcome {
        let typist = TypistOutcome {
            keys_sent: 2,
            keys_before_kill: 2,
            send_lag: Latency::new(),
            files: files("ab"),
            error: None,
            recovery: Default::default(),
        };
        RoomOutcome { typist, watchers }
    }

    fn cfg() -> TypingConfig {
        TypingConfig {
            target: Target {
                kind: Kind::Handoff,
                url: "http://127.0.0.1:1".into(),
                api_key: Some("k".into()),
            },
            rooms: 2,
            clients_per_room: 3,
            keys_per_sec: 1.0,
            rhythm: crate::metronome::Rhythm::Words,
            chunk: 1,
            keep_chars: 0,
            duration: Duration::from_secs(2),
            drain: Duration::ZERO,
            late: Duration::from_millis(100),
            server_pid: None,
            quiet: true,
        }
    }

    #[test]
    fn a_clean_run_is_ok() {
        let rooms =
            [room(vec![watcher(2, "ab"), watcher(2, "ab")]), room(vec![watcher(2, "ab"), watcher(2, "ab")])];
        let r = Report::build(&cfg(), &rooms, &Latency::new(), &[], None, Duration::from_secs(1));
        assert_eq!(
            (r.keys_scheduled, r.keys_sent, r.deliveries_expected, r.deliveries_received),
            (4, 4, 8, 8)
        );
        assert_eq!((r.lost, r.rooms_diverged, r.client_errors), (0, 0, 0));
        assert_eq!(r.fanout.count, 8);
        assert!(r.ok());
        assert!(r.table().ends_with("OK"));
    }

    #[test]
    fn losses_divergence_and_errors_fail_the_run() {
        let mut broken = watcher(1, "a");
        broken.error = Some("watcher 1: closed by server: 4001 slow".into());
        let rooms = [room(vec![watcher(2, "ab"), broken]), room(vec![watcher(2, "ab"), watcher(2, "ab")])];
        let r = Report::build(&cfg(), &rooms, &Latency::new(), &[], None, Duration::from_secs(1));
        assert_eq!((r.deliveries_expected, r.deliveries_received, r.lost), (8, 7, 1));
        assert_eq!((r.rooms_diverged, r.client_errors), (1, 1));
        assert_eq!(r.errors, vec!["watcher 1: closed by server: 4001 slow".to_owned()]);
        assert!(!r.ok());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["lost"], 1);
        assert_eq!(json["fanout"]["count"], 7);
    }

    #[test]
    fn deliveries_past_the_threshold_are_late_but_still_delivered() {
        let mut slow = watcher(2, "ab");
        slow.fanout = Latency::new();
        slow.fanout.record(Duration::from_millis(99));
        slow.fanout.record(Duration::from_millis(250));
        let rooms = [room(vec![watcher(2, "ab"), slow]), room(vec![watcher(2, "ab"), watcher(2, "ab")])];
        let r = Report::build(&cfg(), &rooms, &Latency::new(), &[], None, Duration::from_secs(1));
        assert_eq!((r.deliveries_received, r.lost, r.late, r.late_ms), (8, 0, 1, 100));
        assert!(r.ok(), "lateness is measured, not a failure");
        assert!(
            r.table()
                .contains("late               1 received more than 100 ms after they were due (12.50 %)")
        );
        assert_eq!(serde_json::to_value(&r).unwrap()["late"], 1);
    }

    #[test]
    fn a_room_that_could_not_join_loses_its_keys() {
        let rooms = [room(vec![watcher(2, "ab"), watcher(2, "ab")])];
        let failed = vec!["client 1 of r2 could not join: refused".to_owned()];
        let r = Report::build(&cfg(), &rooms, &Latency::new(), &failed, None, Duration::from_secs(1));
        assert_eq!((r.keys_scheduled, r.deliveries_expected, r.deliveries_received), (4, 8, 4));
        assert_eq!((r.lost, r.join_failures), (4, 1));
        assert_eq!(r.errors, failed);
        assert!(!r.ok());
    }

    fn joins(us: std::ops::Range<u64>) -> Latency {
        let mut join = Latency::new();
        for i in us {
            join.record(Duration::from_micros(2_000 + i));
        }
        join
    }

    /// Rooms split over two tallies (as over two processes), sent through JSON and merged, give the report
    /// one tally of all of them gives.
    #[test]
    fn merged_tallies_report_like_one() {
        let mut broken = watcher(1, "a");
        broken.error = Some("watcher 1: closed by server: 4001 slow".into());
        let first = [room(vec![watcher(2, "ab"), broken])];
        let second = [room(vec![watcher(2, "ab"), watcher(2, "ab")])];
        let failed = vec!["client 2 of r3 could not join: refused".to_owned()];
        let all: Vec<RoomOutcome> = first.into_iter().chain(second).collect();
        let cfg = TypingConfig { rooms: 3, ..cfg() };
        let wall = Duration::from_secs(1);
        let one = Report::from_tally(&cfg, Tally::from_outcomes(&all, &joins(0..6), &failed), None, wall);

        let (first, second) = all.split_at(1);
        let wire = |t: Tally| -> Tally { serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap() };
        let mut merged = wire(Tally::from_outcomes(first, &joins(0..3), &[]));
        merged.merge(&wire(Tally::from_outcomes(second, &joins(3..6), &failed)));
        let split = Report::from_tally(&cfg, merged, None, wall);

        assert_eq!(serde_json::to_value(&split).unwrap(), serde_json::to_value(&one).unwrap());
        assert_eq!((split.keys_sent, split.watchers, split.deliveries_received), (4, 4, 7));
        assert_eq!((split.deliveries_expected, split.lost), (12, 5));
        assert_eq!((split.rooms_diverged, split.client_errors, split.join_failures), (1, 1, 1));
        assert_eq!((split.fanout.count, split.join.count), (7, 6));
        assert_eq!(split.errors.len(), 2);
        assert_eq!(split.errors[0], failed[0], "join failures come first");
    }

    #[test]
    fn merged_error_lists_stay_short_and_counts_stay_exact() {
        let errors = |n: usize| Tally {
            client_errors: n,
            client_error_list: (0..n.min(MAX_REPORTED_ERRORS)).map(|i| format!("e{i}")).collect(),
            ..Tally::default()
        };
        let mut t = errors(MAX_REPORTED_ERRORS - 1);
        t.merge(&errors(3 * MAX_REPORTED_ERRORS));
        assert_eq!(t.client_errors, 4 * MAX_REPORTED_ERRORS - 1);
        assert_eq!(t.client_error_list.len(), MAX_REPORTED_ERRORS);
    }
}
