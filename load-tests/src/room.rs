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

/// Runs one room: `clients[0]` types when `ticks` says, the rest watch. Every client is closed when
/// this returns.
pub async fn run(
    mut clients: Vec<YClient>,
    plan: Plan,
    ticks: UnboundedReceiver<u64>,
    live: Arc<Live>,
) -> RoomOutcome {
    let ledger = Ledger::default();
    let typist = clients.remove(0);
    let typist_id = typist.client_id();
    let (stop_tx, stop_rx) = watch::channel(false);
    let typist_task = tokio::spawn(type_keys(typist, ledger.clone(), plan, ticks, stop_rx, live.clone()));
    let watcher_tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let name = format!("watcher {i}");
            tokio::spawn(watch_keys(c, typist_id, ledger.clone(), plan, name, live.clone()))
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
        }));
    }
    let _ = stop_tx.send(true);
    let typist = typist_task.await.unwrap_or_else(|e| TypistOutcome {
        keys_sent: 0,
        send_lag: Latency::new(),
        files: BTreeMap::new(),
        error: Some(format!("typist task failed: {e}")),
    });
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

async fn type_keys(
    mut c: YClient,
    ledger: Ledger,
    plan: Plan,
    mut ticks: UnboundedReceiver<u64>,
    mut stop: watch::Receiver<bool>,
    live: Arc<Live>,
) -> TypistOutcome {
    let mut out =
        TypistOutcome { keys_sent: 0, send_lag: Latency::new(), files: BTreeMap::new(), error: None };
    let result = async {
        let text = typed_text(&c)?;
        let mut renew = Instant::now() + AWARENESS_RENEW;
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                Some(k) = ticks.recv() => {
                    out.send_lag.record(Instant::now().saturating_duration_since(plan.due(k)));
                    type_one(&mut c, &text, &ledger, k, &plan).await?;
                    out.keys_sent += 1;
                    live.keys_sent.fetch_add(1, Ordering::Relaxed);
                    renew = Instant::now() + AWARENESS_RENEW;
                }
                _ = sleep_until(renew) => {
                    c.send_awareness(json!({"user": c.user})).await?;
                    renew += AWARENESS_RENEW;
                }
                frame = c.next_frame() => {
                    let bytes = frame?.ok_or_else(|| anyhow!("typist: connection closed"))?;
                    c.handle(&bytes, None).await?;
                }
            }
        }
    }
    .await;
    out.error = result.err().map(|e: anyhow::Error| format!("typist: {e:#}"));
    out.files = c.files();
    c.close().await;
    out
}

async fn watch_keys(
    mut c: YClient,
    typist: ClientID,
    ledger: Ledger,
    plan: Plan,
    name: String,
    live: Arc<Live>,
) -> WatcherOutcome {
    let mut out = WatcherOutcome {
        received: 0,
        fanout: Latency::new(),
        from_send: Latency::new(),
        awareness: 0,
        files: BTreeMap::new(),
        error: None,
    };
    let presence = json!({"user": {"name": name}});
    let result = async {
        c.send_awareness(presence.clone()).await?;
        let mut renew = Instant::now() + AWARENESS_RENEW;
        while out.received < plan.keys() {
            tokio::select! {
                _ = sleep_until(plan.deadline) => break,
                _ = sleep_until(renew) => {
                    c.send_awareness(presence.clone()).await?;
                    renew += AWARENESS_RENEW;
                }
                frame = c.next_frame() => {
                    let bytes = frame?.ok_or_else(|| anyhow!("connection closed"))?;
                    let arrived = Instant::now();
                    let learned = c.handle(&bytes, Some(typist)).await?;
                    out.awareness += u64::from(learned.awareness);
                    for clock in learned.clocks {
                        if let Some(stamp) = ledger.stamp(typist, clock) {
                            out.fanout.record(arrived.saturating_duration_since(stamp.scheduled));
                            out.from_send.record(arrived.saturating_duration_since(stamp.sent));
                            out.received += 1;
                            live.received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    out.error = result.err().map(|e| format!("{name}: {e:#}"));
    out.files = c.files();
    c.close().await;
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
