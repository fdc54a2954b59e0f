//! The in-memory store (`memory://`): plain collections behind one mutex. Nothing survives a restart; it
//! exists to measure the server without a disk in the way (benchmarks) and for throwaway demos.
//!
//! It mirrors the SQLite store exactly, constraint failures included (unique keys, foreign keys, the one
//! live room per submission), so nothing above the `Store` trait can tell the two apart. The mutex is never
//! held across an await: every method is one short critical section.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use handoff_protocol::api::{PresenceEvent, RoomStatus, WebhookStatus};

use super::{
    LogEntry, LogRow, RoomRecord, RoomState, Snapshot, Store, StoreError, StoreResult, SubmissionRecord,
    WebhookDelivery, WebhookOutcome,
};

#[cfg(test)]
mod tests;

#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

#[derive(Default)]
struct Data {
    submissions: HashMap<String, SubmissionRecord>,
    rooms: HashMap<String, RoomRecord>,
    /// Each submission's room ids in creation order, the order SQLite reads them back in.
    rooms_of: HashMap<String, Vec<String>>,
    /// Everything kept per room id. Like SQLite's `room_log` and `room_snapshots`, which have no foreign
    /// key, a log may exist for an id that has no room.
    per_room: HashMap<Arc<str>, PerRoom>,
    webhooks: BTreeMap<i64, Delivery>,
    /// Like `AUTOINCREMENT`: a delivery id is never reused, not even after a purge.
    last_webhook_id: i64,
}

/// What purging a room removes, in one place so a purge cannot miss any of it (webhook deliveries aside:
/// they are keyed by their own id).
#[derive(Default)]
struct PerRoom {
    log: BTreeMap<u64, LogEntry>,
    snapshot: Option<Snapshot>,
    notes: Option<String>,
    scores: Option<String>,
    /// In recording order, which is SQLite's tie-break (`ORDER BY at_ms, rowid`).
    presence: Vec<PresenceEvent>,
}

impl PerRoom {
    fn active_since(&self, cutoff_ms: u64) -> bool {
        // Newest entries are last, so an active room is usually told after a step or two.
        self.log.values().rev().any(|e| e.at_ms >= cutoff_ms)
            || self.presence.iter().any(|p| p.at_ms >= cutoff_ms)
    }
}

struct Delivery {
    room_id: String,
    url: String,
    body: String,
    /// `pending`, `delivered` or `failed`, as the API reports it.
    status: &'static str,
    attempts: u32,
    next_attempt_ms: u64,
    last_error: Option<String>,
    delivered_at_ms: Option<u64>,
}

// SQLite's own wording, so logs read the same whichever store is running.
fn unique(key: &str) -> StoreError {
    StoreError::Database(format!("UNIQUE constraint failed: {key}"))
}

fn foreign_key() -> StoreError {
    StoreError::Database("FOREIGN KEY constraint failed".into())
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Data) -> StoreResult<T>) -> StoreResult<T> {
        // A panic mid-write may have left the data half changed: refuse to serve it, as a closed store.
        let mut data = self.data.lock().map_err(|_| StoreError::Closed)?;
        f(&mut data)
    }
}

impl Data {
    fn rooms_of(&self, submission_id: &str) -> impl Iterator<Item = &RoomRecord> {
        self.rooms_of.get(submission_id).into_iter().flatten().filter_map(|id| self.rooms.get(id))
    }

    fn live_room(&self, submission_id: &str) -> Option<&RoomRecord> {
        self.rooms_of(submission_id).find(|r| r.status == RoomStatus::Live)
    }

    /// The per-room data of an existing room: notes, scores and presence reference `rooms(id)`.
    fn existing_room(&mut self, room_id: &str) -> StoreResult<&mut PerRoom> {
        if !self.rooms.contains_key(room_id) {
            return Err(foreign_key());
        }
        Ok(self.per_room.entry(Arc::from(room_id)).or_default())
    }

    fn create_room(&mut self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord> {
        if let Some(live) = self.live_room(&room.submission_id) {
            return Ok(live.clone());
        }
        if self.rooms.contains_key(&room.id) {
            return Err(unique("rooms.id"));
        }
        if !self.submissions.contains_key(&room.submission_id) {
            return Err(foreign_key());
        }
        // The preload first: if it fails, nothing of the room is left behind (SQLite's savepoint).
        self.append(vec![preload], None)?;
        self.rooms_of.entry(room.submission_id.clone()).or_default().push(room.id.clone());
        self.rooms.insert(room.id.clone(), room.clone());
        Ok(room)
    }

    fn append(&mut self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()> {
        // All or nothing: a taken (room, seq) fails the whole append before anything is written.
        let mut seen = HashSet::with_capacity(entries.len());
        for e in &entries {
            let taken = self.per_room.get(&e.room_id).is_some_and(|r| r.log.contains_key(&e.seq));
            if taken || !seen.insert((e.room_id.clone(), e.seq)) {
                return Err(unique("room_log.room_id, room_log.seq"));
            }
        }
        for e in entries {
            self.per_room.entry(e.room_id.clone()).or_default().log.insert(e.seq, e);
        }
        if let Some(s) = snapshot {
            let room = self.per_room.entry(s.room_id.clone()).or_default();
            // A snapshot never replaces a newer one (a retried commit may land after a later one).
            if room.snapshot.as_ref().is_none_or(|old| s.upto_seq > old.upto_seq) {
                room.snapshot = Some(s);
            }
        }
        Ok(())
    }

    fn reopen_room(&mut self, room_id: &str) -> StoreResult<Option<RoomRecord>> {
        let Some(room) = self.rooms.get(room_id) else { return Ok(None) };
        if self.live_room(&room.submission_id).is_some_and(|live| live.id != room_id) {
            return Err(unique("rooms.submission_id"));
        }
        Ok(self.rooms.get_mut(room_id).map(|room| {
            room.status = RoomStatus::Live;
            room.ended_at_ms = None;
            room.clone()
        }))
    }

    fn list_submissions(&self, limit: usize) -> Vec<(SubmissionRecord, Option<RoomRecord>)> {
        let mut subs: Vec<&SubmissionRecord> = self.submissions.values().collect();
        subs.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then_with(|| a.id.cmp(&b.id)));
        subs.into_iter()
            .take(limit)
            .map(|s| {
                // The live room, or else the newest; `max_by_key` keeps the last of equals, the newer.
                let shown =
                    self.rooms_of(&s.id).max_by_key(|r| (r.status == RoomStatus::Live, r.created_at_ms));
                (s.clone(), shown.cloned())
            })
            .collect()
    }

    fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> Vec<String> {
        let kept =
            |r: &RoomRecord| r.status == RoomStatus::Live || r.ended_at_ms.is_none_or(|t| t >= cutoff_ms);
        let mut expired: Vec<&SubmissionRecord> = self
            .submissions
            .values()
            .filter(|s| s.created_at_ms < cutoff_ms && !self.rooms_of(&s.id).any(kept))
            .collect();
        expired.sort_by(|a, b| a.created_at_ms.cmp(&b.created_at_ms).then_with(|| a.id.cmp(&b.id)));
        expired.into_iter().take(limit).map(|s| s.id.clone()).collect()
    }

    fn idle_live_rooms(&self, cutoff_ms: u64) -> Vec<String> {
        let mut idle: Vec<String> = self
            .rooms
            .values()
            .filter(|r| r.status == RoomStatus::Live && r.created_at_ms < cutoff_ms)
            .filter(|r| !self.per_room.get(r.id.as_str()).is_some_and(|p| p.active_since(cutoff_ms)))
            .map(|r| r.id.clone())
            .collect();
        idle.sort();
        idle
    }

    fn due_webhooks(&self, now_ms: u64, limit: usize) -> Vec<WebhookDelivery> {
        let mut due: Vec<(&i64, &Delivery)> = self
            .webhooks
            .iter()
            .filter(|(_, d)| d.status == "pending" && d.next_attempt_ms <= now_ms)
            .collect();
        // Stable on the id order of the map: equal times go oldest delivery first.
        due.sort_by_key(|(_, d)| d.next_attempt_ms);
        due.into_iter()
            .take(limit)
            .map(|(id, d)| WebhookDelivery {
                id: *id,
                room_id: d.room_id.clone(),
                url: d.url.clone(),
                body: d.body.clone(),
                attempts: d.attempts,
            })
            .collect()
    }

    fn record_webhook_attempt(&mut self, id: i64, outcome: WebhookOutcome) {
        let Some(d) = self.webhooks.get_mut(&id) else { return };
        d.attempts += 1;
        match outcome {
            WebhookOutcome::Delivered { at_ms } => {
                d.status = "delivered";
                d.delivered_at_ms = Some(at_ms);
                d.last_error = None;
            }
            // A retry leaves the status alone, as SQLite's update does.
            WebhookOutcome::Retry { next_at_ms, error } => {
                d.next_attempt_ms = next_at_ms;
                d.last_error = Some(error);
            }
            WebhookOutcome::Failed { error } => {
                d.status = "failed";
                d.last_error = Some(error);
            }
        }
    }

    fn purge_submission(&mut self, submission_id: &str) -> Option<Vec<String>> {
        self.submissions.remove(submission_id)?;
        let rooms = self.rooms_of.remove(submission_id).unwrap_or_default();
        for id in &rooms {
            self.rooms.remove(id);
            self.per_room.remove(id.as_str());
        }
        self.webhooks.retain(|_, d| !rooms.contains(&d.room_id));
        Some(rooms)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.with(|_| Ok(()))
    }

    async fn insert_submission(&self, rec: SubmissionRecord) -> StoreResult<()> {
        self.with(|d| {
            if d.submissions.contains_key(&rec.id) {
                return Err(unique("submissions.id"));
            }
            d.submissions.insert(rec.id.clone(), rec);
            Ok(())
        })
    }

    async fn get_submission(&self, id: &str) -> StoreResult<Option<SubmissionRecord>> {
        self.with(|d| Ok(d.submissions.get(id).cloned()))
    }

    async fn create_room(&self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord> {
        self.with(|d| d.create_room(room, preload))
    }

    async fn get_room(&self, id: &str) -> StoreResult<Option<RoomRecord>> {
        self.with(|d| Ok(d.rooms.get(id).cloned()))
    }

    async fn live_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
        self.with(|d| Ok(d.live_room(submission_id).cloned()))
    }

    async fn append(&self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()> {
        self.with(|d| d.append(entries, snapshot))
    }

    async fn load_room(&self, room_id: &str) -> StoreResult<RoomState> {
        self.with(|d| {
            let Some(room) = d.per_room.get(room_id) else { return Ok(RoomState::default()) };
            let after = room.snapshot.as_ref().map_or(0, |s| s.upto_seq);
            let tail = room.log.range(after + 1..).map(|(seq, e)| (*seq, e.update.to_vec())).collect();
            Ok(RoomState { snapshot: room.snapshot.clone(), tail })
        })
    }

    async fn list_submissions(
        &self,
        limit: usize,
    ) -> StoreResult<Vec<(SubmissionRecord, Option<RoomRecord>)>> {
        self.with(|d| Ok(d.list_submissions(limit)))
    }

    async fn end_room(&self, room_id: &str, at_ms: u64) -> StoreResult<Option<RoomRecord>> {
        self.with(|d| {
            Ok(d.rooms.get_mut(room_id).map(|room| {
                if room.status == RoomStatus::Live {
                    room.status = RoomStatus::Ended;
                    room.ended_at_ms = Some(at_ms);
                }
                room.clone()
            }))
        })
    }

    async fn reopen_room(&self, room_id: &str) -> StoreResult<Option<RoomRecord>> {
        self.with(|d| d.reopen_room(room_id))
    }

    async fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> StoreResult<Vec<String>> {
        self.with(|d| Ok(d.expired_submissions(cutoff_ms, limit)))
    }

    async fn idle_live_rooms(&self, cutoff_ms: u64) -> StoreResult<Vec<String>> {
        self.with(|d| Ok(d.idle_live_rooms(cutoff_ms)))
    }

    async fn count_live_rooms(&self) -> StoreResult<u64> {
        self.with(|d| Ok(d.rooms.values().filter(|r| r.status == RoomStatus::Live).count() as u64))
    }

    async fn room_log(&self, room_id: &str) -> StoreResult<Vec<LogRow>> {
        self.with(|d| {
            let Some(room) = d.per_room.get(room_id) else { return Ok(Vec::new()) };
            Ok(room
                .log
                .values()
                .map(|e| LogRow {
                    seq: e.seq,
                    at_ms: e.at_ms,
                    author: e.author.to_string(),
                    role: e.role,
                    conn_id: e.conn_id,
                    update: e.update.to_vec(),
                })
                .collect())
        })
    }

    async fn enqueue_webhook(&self, room_id: &str, url: &str, body: String, now_ms: u64) -> StoreResult<()> {
        self.with(|d| {
            if !d.rooms.contains_key(room_id) {
                return Err(foreign_key());
            }
            d.last_webhook_id += 1;
            let delivery = Delivery {
                room_id: room_id.to_owned(),
                url: url.to_owned(),
                body,
                status: "pending",
                attempts: 0,
                next_attempt_ms: now_ms,
                last_error: None,
                delivered_at_ms: None,
            };
            d.webhooks.insert(d.last_webhook_id, delivery);
            Ok(())
        })
    }

    async fn due_webhooks(&self, now_ms: u64, limit: usize) -> StoreResult<Vec<WebhookDelivery>> {
        self.with(|d| Ok(d.due_webhooks(now_ms, limit)))
    }

    async fn record_webhook_attempt(&self, id: i64, outcome: WebhookOutcome) -> StoreResult<()> {
        self.with(|d| {
            d.record_webhook_attempt(id, outcome);
            Ok(())
        })
    }

    async fn webhook_status(&self, room_id: &str) -> StoreResult<Option<WebhookStatus>> {
        self.with(|d| {
            let newest = d.webhooks.values().rev().find(|w| w.room_id == room_id);
            Ok(newest.map(|w| WebhookStatus {
                status: w.status.to_owned(),
                attempts: w.attempts,
                last_error: w.last_error.clone(),
                delivered_at_ms: w.delivered_at_ms,
            }))
        })
    }

    async fn notes(&self, room_id: &str) -> StoreResult<String> {
        self.with(|d| Ok(d.per_room.get(room_id).and_then(|r| r.notes.clone()).unwrap_or_default()))
    }

    async fn set_notes(&self, room_id: &str, notes: String, _at_ms: u64) -> StoreResult<()> {
        self.with(|d| {
            d.existing_room(room_id)?.notes = Some(notes);
            Ok(())
        })
    }

    async fn record_presence(&self, room_id: &str, event: PresenceEvent) -> StoreResult<()> {
        self.with(|d| {
            d.existing_room(room_id)?.presence.push(event);
            Ok(())
        })
    }

    async fn presence(&self, room_id: &str) -> StoreResult<Vec<PresenceEvent>> {
        self.with(|d| {
            let mut events = d.per_room.get(room_id).map(|r| r.presence.clone()).unwrap_or_default();
            events.sort_by_key(|e| e.at_ms);
            Ok(events)
        })
    }

    async fn scores(&self, room_id: &str) -> StoreResult<String> {
        self.with(|d| {
            Ok(d.per_room.get(room_id).and_then(|r| r.scores.clone()).unwrap_or_else(|| "[]".into()))
        })
    }

    async fn set_scores(&self, room_id: &str, scores_json: String, _at_ms: u64) -> StoreResult<()> {
        self.with(|d| {
            d.existing_room(room_id)?.scores = Some(scores_json);
            Ok(())
        })
    }

    async fn purge_submission(&self, submission_id: &str) -> StoreResult<Option<Vec<String>>> {
        self.with(|d| Ok(d.purge_submission(submission_id)))
    }
}
