//! The result of a run: what was sent, what arrived, how fast, and whether the rooms agree. Printed as a
//! table and written as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::limits::MAX_REPORTED_ERRORS;
use crate::room::RoomOutcome;
use crate::server_watch::ServerFigures;
use crate::stats::{Latency, Percentiles};
use crate::typing::TypingConfig;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// The kind of server: handoff, relay, y-websocket, hocuspocus.
    pub target: &'static str,
    pub server: String,
    pub rooms: usize,
    pub clients_per_room: usize,
    pub keys_per_sec: f64,
    /// Characters per key (1 when typing, the paste size for large-paste).
    pub chunk: usize,
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
    /// Typist awareness (cursor) entries the watchers received; informational, not checked: a watcher
    /// stops listening as soon as every key arrived.
    pub awareness_received: u64,
    /// Rooms where some client's files differ from the typist's at the end.
    pub rooms_diverged: usize,
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

impl Report {
    pub fn build(
        cfg: &TypingConfig,
        rooms: &[RoomOutcome],
        join: &Latency,
        join_failures: &[String],
        server_figures: Option<ServerFigures>,
        wall: Duration,
    ) -> Report {
        let mut fanout = Latency::new();
        let mut from_send = Latency::new();
        let mut send_lag = Latency::new();
        let (mut keys_sent, mut watchers, mut received, mut awareness) = (0, 0, 0, 0);
        let (mut diverged, mut client_errors) = (0, 0);
        let mut errors: Vec<String> = join_failures.iter().take(MAX_REPORTED_ERRORS).cloned().collect();
        // Every configured watcher is expected to receive every scheduled key, whether or not its room
        // could join: a room left out loses all of them.
        let expected = cfg.keys_per_room() * (cfg.rooms * (cfg.clients_per_room - 1)) as u64;
        for room in rooms {
            keys_sent += room.typist.keys_sent;
            send_lag.merge(&room.typist.send_lag);
            watchers += room.watchers.len() as u64;
            diverged += usize::from(room.diverged());
            let errs = room.typist.error.iter().chain(room.watchers.iter().filter_map(|w| w.error.as_ref()));
            for e in errs {
                client_errors += 1;
                if errors.len() < MAX_REPORTED_ERRORS {
                    errors.push(e.clone());
                }
            }
            for w in &room.watchers {
                fanout.merge(&w.fanout);
                from_send.merge(&w.from_send);
                received += w.received;
                awareness += w.awareness;
            }
        }
        Report {
            scenario: if cfg.chunk > 1 { "large-paste" } else { "typing" },
            target: cfg.target.kind.name(),
            server: cfg.target.url.clone(),
            rooms: cfg.rooms,
            clients_per_room: cfg.clients_per_room,
            keys_per_sec: cfg.keys_per_sec,
            chunk: cfg.chunk,
            duration_s: cfg.duration.as_secs_f64(),
            drain_s: cfg.drain.as_secs_f64(),
            keys_scheduled: cfg.keys_per_room() * cfg.rooms as u64,
            keys_sent,
            watchers,
            deliveries_expected: expected,
            deliveries_received: received,
            lost: expected.saturating_sub(received),
            awareness_received: awareness,
            rooms_diverged: diverged,
            join_failures: join_failures.len(),
            client_errors,
            errors,
            fanout: fanout.summary(),
            fanout_from_send: from_send.summary(),
            join: join.summary(),
            send_lag: send_lag.summary(),
            server_figures: server_figures.map(|f| f.with_deliveries(received)),
            wall_s: wall.as_secs_f64(),
        }
    }

    /// This run's line in a comparison.
    fn compare_row(&self) -> crate::compare::Row {
        crate::compare::Row {
            target: self.target,
            ok: self.ok(),
            lost: self.lost,
            join_failures: self.join_failures,
            p50_us: self.fanout.p50_us,
            p99_us: self.fanout.p99_us,
            p999_us: self.fanout.p999_us,
            cpu_us_per_delivered_update: self.server_figures.as_ref().map(|f| f.cpu_us_per_delivered_update),
            rss_max_kib: self.server_figures.as_ref().and_then(|f| f.rss.as_ref()).map(|r| r.max_kib),
            error: None,
        }
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
            "handoff-load {}: {} rooms × {} clients, {} keys/s × {} chars for {} s (drain ≤ {} s) against {} at {}",
            self.scenario,
            self.rooms,
            self.clients_per_room,
            self.keys_per_sec,
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
        let _ = writeln!(s, "cursor updates     {} received by watchers", self.awareness_received);
        let _ = writeln!(s, "divergence         {} of {} rooms diverged", self.rooms_diverged, self.rooms);
        let _ = writeln!(s, "join failures      {}", self.join_failures);
        let _ = writeln!(s, "client errors      {}", self.client_errors);
        for e in &self.errors {
            let _ = writeln!(s, "  {e}");
        }
        let _ = writeln!(
            s,
            "{:<18} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (µs)", "count", "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        for (name, p) in [
            ("fan-out", &self.fanout),
            ("fan-out from send", &self.fanout_from_send),
            ("join", &self.join),
            ("send lag", &self.send_lag),
        ] {
            let _ = writeln!(
                s,
                "{name:<18} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                p.count, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us, p.mean_us
            );
        }
        if let Some(f) = &self.server_figures {
            let _ = writeln!(s, "{}", f.table());
        }
        let _ = writeln!(s, "wall time          {:.1} s", self.wall_s);
        let _ = write!(
            s,
            "result             {}",
            if self.ok() { "OK" } else { "FAILED (lost, diverged or errors)" }
        );
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
        }
    }

    fn room(watchers: Vec<WatcherOutcome>) -> RoomOutcome {
        let typist =
            TypistOutcome { keys_sent: 2, send_lag: Latency::new(), files: files("ab"), error: None };
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
            chunk: 1,
            duration: Duration::from_secs(2),
            drain: Duration::ZERO,
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
    fn a_room_that_could_not_join_loses_its_keys() {
        let rooms = [room(vec![watcher(2, "ab"), watcher(2, "ab")])];
        let failed = vec!["client 1 of r2 could not join: refused".to_owned()];
        let r = Report::build(&cfg(), &rooms, &Latency::new(), &failed, None, Duration::from_secs(1));
        assert_eq!((r.keys_scheduled, r.deliveries_expected, r.deliveries_received), (4, 8, 4));
        assert_eq!((r.lost, r.join_failures), (4, 1));
        assert_eq!(r.errors, failed);
        assert!(!r.ok());
    }
}
