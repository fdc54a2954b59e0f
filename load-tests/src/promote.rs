//! The promote scenario (handoff only): how fast the integrator API turns submissions into live rooms.
//! Each iteration submits a submission (200 KiB in 50 files by default), promotes it, and joins the
//! room as the candidate: "room ready" is the promote call plus that first sync, i.e. from the
//! interviewer's click to the candidate's editor holding the code. Iterations run `concurrency` at a time.

use std::collections::BTreeMap;

use anyhow::{Context, ensure};
use futures_util::{StreamExt, stream};
use serde::Serialize;
use tokio::time::Instant;

use crate::client::YClient;
use crate::compare::{Outcome, Row};
use crate::limits::{MAX_PROMOTE_CONCURRENCY, MAX_PROMOTES, MAX_REPORTED_ERRORS};
use crate::mint::{Api, Submission, ws_url};
use crate::server_watch::{ServerFigures, ServerWatch};
use crate::stats::{Latency, Percentiles};
use crate::target::{Dialect, Kind, Target};

#[derive(Debug, Clone)]
pub struct PromoteConfig {
    pub target: Target,
    /// Submissions to submit and promote.
    pub count: usize,
    pub concurrency: usize,
    pub bytes: usize,
    pub files: usize,
    pub server_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromoteReport {
    pub scenario: &'static str,
    pub target: &'static str,
    pub server: String,
    pub count: usize,
    pub concurrency: usize,
    pub submission_bytes: usize,
    pub submission_files: usize,
    /// POST /submissions.
    pub submit: Percentiles,
    /// POST /submissions/{id}/promote.
    pub promote: Percentiles,
    /// The candidate's first join: connect → synced with the files.
    pub first_join: Percentiles,
    /// promote + first join: the click to a ready room.
    pub promote_to_ready: Percentiles,
    /// Completed iterations per second over the whole run.
    pub per_second: f64,
    pub failures: usize,
    /// Rooms whose first client did not receive exactly the submitted files.
    pub incomplete: usize,
    pub errors: Vec<String>,
    pub server_figures: Option<ServerFigures>,
    pub wall_s: f64,
}

struct One {
    submit: std::time::Duration,
    promote: std::time::Duration,
    join: std::time::Duration,
    complete: bool,
}

pub async fn run(cfg: &PromoteConfig) -> anyhow::Result<PromoteReport> {
    ensure!(cfg.target.kind == Kind::Handoff, "promote drives handoff's integrator API only");
    ensure!((1..=MAX_PROMOTES).contains(&cfg.count), "--count must be 1..={MAX_PROMOTES}");
    ensure!(
        (1..=MAX_PROMOTE_CONCURRENCY).contains(&cfg.concurrency),
        "--concurrency must be 1..={MAX_PROMOTE_CONCURRENCY}"
    );
    let api = Api::new(&cfg.target.url, cfg.target.api_key.as_deref().context("--api-key is required")?)?;
    let sub = Submission::large(cfg.bytes, cfg.files);
    let expected: BTreeMap<String, String> =
        sub.files.iter().map(|f| (f.path.clone(), f.content.clone())).collect();
    let server = ServerWatch::start(cfg.server_pid);
    let wall = Instant::now();
    let results: Vec<anyhow::Result<One>> = stream::iter(0..cfg.count)
        .map(|n| {
            let (api, sub, expected) = (&api, &sub, &expected);
            async move {
                let (room, times) = api.mint_room_timed(n, sub).await?;
                let (client, join) =
                    YClient::join(&ws_url(&room, &room.tokens.candidate), &Dialect::YSync, None).await?;
                let complete = client.files() == *expected;
                client.close().await;
                Ok(One { submit: times.submit, promote: times.promote, join: join.total, complete })
            }
        })
        .buffer_unordered(cfg.concurrency)
        .collect()
        .await;
    let elapsed = wall.elapsed();
    let server = match server {
        Some(w) => w.finish().await,
        None => None,
    };
    let (mut submit, mut promote, mut join, mut ready) =
        (Latency::new(), Latency::new(), Latency::new(), Latency::new());
    let (mut failures, mut incomplete, mut errors) = (0, 0, Vec::new());
    for r in results {
        match r {
            Ok(o) => {
                submit.record(o.submit);
                promote.record(o.promote);
                join.record(o.join);
                ready.record(o.promote + o.join);
                incomplete += usize::from(!o.complete);
            }
            Err(e) => {
                failures += 1;
                if errors.len() < MAX_REPORTED_ERRORS {
                    errors.push(format!("{e:#}"));
                }
            }
        }
    }
    let done = ready.count();
    Ok(PromoteReport {
        scenario: "promote",
        target: cfg.target.kind.name(),
        server: cfg.target.url.clone(),
        count: cfg.count,
        concurrency: cfg.concurrency,
        submission_bytes: sub.bytes(),
        submission_files: sub.files.len(),
        submit: submit.summary(),
        promote: promote.summary(),
        first_join: join.summary(),
        promote_to_ready: ready.summary(),
        per_second: done as f64 / elapsed.as_secs_f64(),
        failures,
        incomplete,
        errors,
        server_figures: server.map(|f| f.with_deliveries(done)),
        wall_s: elapsed.as_secs_f64(),
    })
}

impl PromoteReport {
    pub fn ok(&self) -> bool {
        self.failures == 0 && self.incomplete == 0
    }

    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "handoff-load promote: {} submissions of {} KiB in {} files, {} at a time, against {}",
            self.count,
            self.submission_bytes / 1024,
            self.submission_files,
            self.concurrency,
            self.server
        );
        let _ = writeln!(s, "rate               {:.1} promoted and joined per second", self.per_second);
        let _ = writeln!(s, "failures           {}", self.failures);
        let _ =
            writeln!(s, "incomplete         {} rooms without exactly the submitted files", self.incomplete);
        for e in &self.errors {
            let _ = writeln!(s, "  {e}");
        }
        crate::stats::write_latency_table(
            &mut s,
            &[
                ("submit", &self.submit),
                ("promote", &self.promote),
                ("first join", &self.first_join),
                ("promote → ready", &self.promote_to_ready),
            ],
        );
        if let Some(f) = &self.server_figures {
            let _ = writeln!(s, "{}", f.table());
            // The CPU line's "delivered update" is, in this scenario, one room promoted and joined.
            let _ = writeln!(s, "                   (one delivered update = one room promoted and joined)");
        }
        crate::report::write_result(&mut s, self.ok(), "FAILED");
        s
    }
}

impl Outcome for PromoteReport {
    fn table(&self) -> String {
        PromoteReport::table(self)
    }
    fn ok(&self) -> bool {
        PromoteReport::ok(self)
    }
    fn row(&self) -> Row {
        Row::new(
            self.target,
            self.ok(),
            self.incomplete as u64,
            self.failures,
            &self.promote_to_ready,
            self.server_figures.as_ref(),
        )
    }
    fn headline(&self) -> &'static str {
        "promote → ready"
    }
}
