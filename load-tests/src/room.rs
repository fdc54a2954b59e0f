//! One room of the typing scenario: the typist types on its timetable while every watcher applies what
//! arrives and times each key it learns against the key's scheduled instant.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, bail};
use handoff_protocol::{frame, schema};
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use yrs::{ClientID, Map, Out, ReadTxn, Text, TextRef, Transact};

use crate::client::YClient;
use crate::failover::{Failover, Recovery};
use crate::ledger::{Ledger, Stamp};
use crate::limits::AWARENESS_RENEW;
use crate::metronome::Timetable;
use crate::mint::TYPED_FILE;
use crate::stats::Latency;

/// What the typist types, one ASCII character per key (one Yjs clock per character), cycled.
const KEY_TEXT: &[u8] = b"for i in range(10):\n    print(i * i)\n";

/// The `chunk` characters key `k` inserts: the next characters of [`KEY_TEXT`], cycled.
fn key_text(k: u64, chunk: usize) -> String {
    let start = (k as usize).wrapping_mul(chunk);
    (0..chunk).map(|i| KEY_TEXT[(start + i) % KEY_TEXT.len()] as char).collect()
}

/// How many characters a key deletes from the start of a file of `len` characters before it inserts
/// `chunk` more, so that the file stays at most `keep` long (0: never delete).
fn trim_before_key(len: u32, chunk: usize, keep: usize) -> u32 {
    if keep == 0 {
        return 0;
    }
    (u64::from(len) + chunk as u64).saturating_sub(keep as u64).min(u64::from(len)) as u32
}

/// What one room's typist does and when watchers give up.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// When each key is due (the metronome delivers the ticks; this turns a key number into its instant).
    pub table: Timetable,
    /// Characters each key inserts: 1 for typing, the paste size for the large-paste scenario.
    pub chunk: usize,
    /// The typed file's length past which each key deletes from its start (see
    /// [`crate::typing::TypingConfig::keep_chars`]); 0 never deletes.
    pub keep_chars: usize,
    /// When watchers stop listening (last key + drain), whether or not everything arrived.
    pub deadline: Instant,
}

impl Plan {
    /// When key `k` is due.
    pub fn due(&self, k: u64) -> Instant {
        Instant::from_std(self.table.due(k))
    }

    pub fn keys(&self) -> u64 {
        self.table.keys
    }
}

/// Counters of the whole run as it goes, for the progress display.
#[derive(Debug, Default)]
pub struct Live {
    pub keys_sent: AtomicU64,
    pub received: AtomicU64,
}

pub struct TypistOutcome {
    pub keys_sent: u64,
    /// Keys whose update went out before a node was killed (all of them in a run without a kill).
    pub keys_before_kill: u64,
    pub recovery: Recovery,
    /// Actual send time − scheduled time per key: how far the generator itself fell behind.
    pub send_lag: Latency,
    pub files: BTreeMap<String, String>,
    pub error: Option<String>,
}

pub struct WatcherOutcome {
    /// Distinct keys of the typist this watcher learned.
    pub received: u64,
    /// Arrival − scheduled instant per key.
    pub fanout: Latency,
    /// Arrival − actual send instant per key (server and network only).
    pub from_send: Latency,
    /// Awareness entries of the typist received (informational: a watcher stops once every key arrived).
    pub awareness: u64,
    pub files: BTreeMap<String, String>,
    pub error: Option<String>,
    pub recovery: Recovery,
}

pub struct RoomOutcome {
    pub typist: TypistOutcome,
    pub watchers: Vec<WatcherOutcome>,
}

impl RoomOutcome {
    /// Whether any client ended with files different from the typist's.
    pub fn diverged(&self) -> bool {
        self.watchers.iter().any(|w| w.files != self.typist.files)
    }
}

/// Runs one room: `clients[0]` types when `ticks` says, the rest watch. A client whose connection drops
/// rejoins as `failover` says, or fails without one. Every client is closed when this returns.
pub async fn run(
    mut clients: Vec<YClient>,
    plan: Plan,
    ticks: UnboundedReceiver<u64>,
    live: Arc<Live>,
    failover: Option<Arc<Failover>>,
) -> RoomOutcome {
    let ledger = Ledger::default();
    let typist = clients.remove(0);
    let typist_id = typist.client_id();
    let (stop_tx, stop_rx) = watch::channel(false);
    let typist_task =
        tokio::spawn(type_keys(typist, ledger.clone(), plan, ticks, stop_rx, live.clone(), failover.clone()));
    let watcher_tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let name = format!("watcher {i}");
            let me = Watcher { typist: typist_id, index: i + 1, name, failover: failover.clone() };
            tokio::spawn(watch_keys(c, me, ledger.clone(), plan, live.clone()))
        })
        .collect();
    let mut watchers = Vec::with_capacity(watcher_tasks.len());
    for task in watcher_tasks {
        watchers.push(task.await.unwrap_or_else(|e| WatcherOutcome {
            received: 0,
            fanout: Latency::new(),
            from_send: Latency::new(),
            awareness: 0,
            files: BTreeMap::new(),
            error: Some(format!("watcher task failed: {e}")),
            recovery: Recovery::default(),
        }));
    }
    let _ = stop_tx.send(true);
    let mut typist = typist_task.await.unwrap_or_else(|e| TypistOutcome {
        keys_sent: 0,
        keys_before_kill: 0,
        send_lag: Latency::new(),
        files: BTreeMap::new(),
        error: Some(format!("typist task failed: {e}")),
        recovery: Recovery::default(),
    });
    typist.keys_before_kill = match &failover {
        Some(f) => ledger.count(|s| f.clock.before_kill(s.sent)),
        None => ledger.len() as u64,
    };
    RoomOutcome { typist, watchers }
}

/// The typed file's text. `files_root` takes a transaction of its own, so it comes first.
fn typed_text(c: &YClient) -> anyhow::Result<TextRef> {
    let root = schema::files_root(c.doc());
    let txn = c.doc().transact();
    match root.get(&txn, TYPED_FILE) {
        Some(Out::YText(t)) => Ok(t),
        _ => bail!("{TYPED_FILE} is missing from the synced document"),
    }
}

/// Types one key at the end of the file (deleting from its start first once it is `keep_chars` long, in
/// the same transaction): records its item id in the ledger, then sends the update and a cursor
/// (awareness) update, one frame each like a y-websocket provider.
async fn type_one(
    c: &mut YClient,
    text: &TextRef,
    ledger: &Ledger,
    k: u64,
    plan: &Plan,
) -> anyhow::Result<()> {
    let due = plan.due(k);
    let chunk = key_text(k, plan.chunk);
    let id = c.client_id();
    let (update, cursor) = {
        let mut txn = c.doc().transact_mut();
        let clock = txn.state_vector().get(&id);
        let trim = trim_before_key(text.len(&txn), plan.chunk, plan.keep_chars);
        if trim > 0 {
            text.remove_range(&mut txn, 0, trim);
        }
        let end = text.len(&txn);
        text.insert(&mut txn, end, &chunk);
        let update = txn.encode_update_v1();
        drop(txn);
        ledger.record(id, clock, Stamp { scheduled: due, sent: Instant::now() });
        (update, end + plan.chunk as u32)
    };
    c.send(frame::encode_update(&update)).await?;
    c.send_awareness(json!({"user": c.user, "cursor": {"path": TYPED_FILE, "index": cursor}})).await
}

/// A connection that broke under a client: with a failover the client rejoins another node and goes on;
/// without one (or past its rejoins) the error stands. `typist` is the client whose clocks the rejoin
/// reports.
async fn reconnect(
    c: &mut Option<YClient>,
    broken: anyhow::Error,
    failover: Option<&Failover>,
    index: usize,
    typist: ClientID,
    recovery: &mut Recovery,
) -> anyhow::Result<std::ops::Range<u32>> {
    let Some(f) = failover else { return Err(broken) };
    let old = c.take().ok_or_else(|| anyhow!("no client to rejoin with"))?;
    let (new, learned) =
        f.rejoin(old, index, typist, recovery).await.map_err(|e| e.context(format!("{broken:#}")))?;
    *c = Some(new);
    Ok(learned)
}

async fn type_keys(
    c: YClient,
    ledger: Ledger,
    plan: Plan,
    mut ticks: UnboundedReceiver<u64>,
    mut stop: watch::Receiver<bool>,
    live: Arc<Live>,
    failover: Option<Arc<Failover>>,
) -> TypistOutcome {
    let mut out = TypistOutcome {
        keys_sent: 0,
        keys_before_kill: 0,
        send_lag: Latency::new(),
        files: BTreeMap::new(),
        error: None,
        recovery: Recovery::default(),
    };
    let id = c.client_id();
    // An Option so that a rejoin can take the client and put its successor back.
    let mut slot = Some(c);
    let result = async {
        let text = typed_text(slot.as_ref().expect("a client"))?;
        let mut renew = Instant::now() + AWARENESS_RENEW;
        loop {
            let c = slot.as_mut().ok_or_else(|| anyhow!("typist: no client"))?;
            // A broken connection, for `reconnect` after the select: the key already typed into the
            // document goes out with the rejoin's sync.
            let broken = tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                Some(k) = ticks.recv() => {
                    out.send_lag.record(Instant::now().saturating_duration_since(plan.due(k)));
                    let sent = type_one(c, &text, &ledger, k, &plan).await;
                    out.keys_sent += 1;
                    live.keys_sent.fetch_add(1, Ordering::Relaxed);
                    renew = Instant::now() + AWARENESS_RENEW;
                    sent.err()
                }
                _ = sleep_until(renew) => {
                    renew += AWARENESS_RENEW;
                    c.send_awareness(json!({"user": c.user})).await.err()
                }
                frame = c.next_frame() => match frame {
                    Ok(Some(bytes)) => {
                        c.handle(&bytes, None).await?;
                        None
                    }
                    Ok(None) => Some(anyhow!("connection closed")),
                    Err(e) => Some(e),
                }
            };
            if let Some(e) = broken {
                let e = e.context("typist");
                reconnect(&mut slot, e, failover.as_deref(), 0, id, &mut out.recovery).await?;
            }
        }
    }
    .await;
    let Some(c) = slot else {
        out.error = Some(format!("typist: {:#}", result.err().unwrap_or_else(|| anyhow!("lost its client"))));
        return out;
    };
    out.error = result.err().map(|e: anyhow::Error| format!("typist: {e:#}"));
    out.files = c.files();
    c.close().await;
    out
}

/// Who a watcher is: the typist it times, its index among the room's clients, its name, where it goes
/// when its connection drops.
struct Watcher {
    typist: ClientID,
    index: usize,
    name: String,
    failover: Option<Arc<Failover>>,
}

impl WatcherOutcome {
    /// Times the typist's keys `clocks`, which arrived at `arrived`.
    fn learned(
        &mut self,
        clocks: std::ops::Range<u32>,
        arrived: Instant,
        me: &Watcher,
        ledger: &Ledger,
        live: &Live,
    ) {
        for clock in clocks {
            if let Some(stamp) = ledger.stamp(me.typist, clock) {
                self.fanout.record(arrived.saturating_duration_since(stamp.scheduled));
                self.from_send.record(arrived.saturating_duration_since(stamp.sent));
                self.received += 1;
                live.received.fetch_add(1, Ordering::Relaxed);
                if let Some(f) = &me.failover {
                    self.recovery.learned(&f.clock, stamp.sent, arrived);
                }
            }
        }
    }
}

async fn watch_keys(c: YClient, me: Watcher, ledger: Ledger, plan: Plan, live: Arc<Live>) -> WatcherOutcome {
    let mut out = WatcherOutcome {
        received: 0,
        fanout: Latency::new(),
        from_send: Latency::new(),
        awareness: 0,
        files: BTreeMap::new(),
        error: None,
        recovery: Recovery::default(),
    };
    let presence = json!({"user": {"name": me.name}});
    let mut slot = Some(c);
    let result = async {
        slot.as_mut().ok_or_else(|| anyhow!("no client"))?.send_awareness(presence.clone()).await?;
        let mut renew = Instant::now() + AWARENESS_RENEW;
        while out.received < plan.keys() {
            let c = slot.as_mut().ok_or_else(|| anyhow!("no client"))?;
            let broken = tokio::select! {
                _ = sleep_until(plan.deadline) => break,
                _ = sleep_until(renew) => {
                    renew += AWARENESS_RENEW;
                    c.send_awareness(presence.clone()).await.err()
                }
                frame = c.next_frame() => match frame {
                    Ok(Some(bytes)) => {
                        let arrived = Instant::now();
                        let learned = c.handle(&bytes, Some(me.typist)).await?;
                        out.awareness += u64::from(learned.awareness);
                        out.learned(learned.clocks, arrived, &me, &ledger, &live);
                        None
                    }
                    Ok(None) => Some(anyhow!("connection closed")),
                    Err(e) => Some(e),
                }
            };
            if let Some(e) = broken {
                let (failover, typist) = (me.failover.as_deref(), me.typist);
                let clocks = reconnect(&mut slot, e, failover, me.index, typist, &mut out.recovery).await?;
                // What the rejoin's sync brought arrived when it completed.
                out.learned(clocks, Instant::now(), &me, &ledger, &live);
                let c = slot.as_mut().ok_or_else(|| anyhow!("no client"))?;
                c.send_awareness(presence.clone()).await?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    out.error = result.err().map(|e| format!("{}: {e:#}", me.name));
    if let Some(c) = slot {
        out.files = c.files();
        c.close().await;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::trim_before_key;

    #[test]
    fn keys_trim_the_file_to_the_kept_length_and_never_more_than_it_holds() {
        assert_eq!(trim_before_key(5000, 1, 0), 0, "0 keeps everything");
        assert_eq!(trim_before_key(10, 1, 100), 0, "shorter than kept");
        assert_eq!(trim_before_key(99, 1, 100), 0, "the key fills it exactly");
        assert_eq!(trim_before_key(100, 1, 100), 1, "one in, one out");
        assert_eq!(trim_before_key(100, 30, 100), 30);
        assert_eq!(trim_before_key(150, 1, 100), 51, "a longer preload is cut down at the first key");
        assert_eq!(trim_before_key(3, 50, 50), 3, "never more than the file holds");
    }
}
