//! The in-memory store (`memory://`): plain collections behind one mutex. Nothing survives a restart; it
//! exists to measure the server without a disk in the way (benchmarks) and for throwaway demos.
//!
//! It mirrors the SQLite store exactly, constraint failures included (unique keys, foreign keys, the one
//! live room per submission), so nothing above the store's traits can tell the two apart. The mutex is
//! never held across an await: every method is one short critical section.

mod data;

use std::sync::Mutex;

use async_trait::async_trait;
use data::{Data, Delivery, conflict, not_found};
use handoff_protocol::api::{DeliveryState, LiveScore, RoomStatus, WebhookStatus};
use handoff_protocol::export::PresenceEvent;
use handoff_protocol::interview::{IntegrityNote, Question};

use super::{
    Catalog, Constraint, Interview, LogEntry, LogRow, Missing, Private, RecordingRecord, Recordings, RoomLog,
    RoomRecord, RoomState, Snapshot, Store, StoreError, StoreResult, SubmissionRecord, WebhookDelivery,
    WebhookOutbox, WebhookOutcome,
};

#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    pub(crate) fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Data) -> StoreResult<T>) -> StoreResult<T> {
        // A panic mid-write may have left the data half changed: refuse to serve it, as a closed store.
        let mut data = self.data.lock().map_err(|_| StoreError::Closed)?;
        f(&mut data)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.with(|_| Ok(()))
    }
}

#[async_trait]
impl Catalog for MemoryStore {
    async fn insert_submission(&self, rec: SubmissionRecord) -> StoreResult<()> {
        self.with(|d| {
            if d.submissions.contains_key(&rec.id) {
                return Err(conflict(Constraint::SubmissionId));
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

    async fn latest_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
        self.with(|d| Ok(d.latest_room(submission_id).cloned()))
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

    async fn purge_submission(&self, submission_id: &str) -> StoreResult<Option<Vec<String>>> {
        self.with(|d| Ok(d.purge_submission(submission_id)))
    }
}

#[async_trait]
impl RoomLog for MemoryStore {
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
}

#[async_trait]
impl Private for MemoryStore {
    async fn notes(&self, room_id: &str) -> StoreResult<String> {
        self.with(|d| Ok(d.per_room.get(room_id).and_then(|r| r.notes.clone()).unwrap_or_default()))
    }

    async fn set_notes(&self, room_id: &str, notes: String, _at_ms: u64) -> StoreResult<()> {
        self.with(|d| {
            d.existing_room(room_id)?.notes = Some(notes);
            Ok(())
        })
    }

    async fn scores(&self, room_id: &str) -> StoreResult<Vec<LiveScore>> {
        self.with(|d| Ok(d.per_room.get(room_id).and_then(|r| r.scores.clone()).unwrap_or_default()))
    }

    async fn set_scores(&self, room_id: &str, scores: Vec<LiveScore>, _at_ms: u64) -> StoreResult<()> {
        self.with(|d| {
            d.existing_room(room_id)?.scores = Some(scores);
            Ok(())
        })
    }
}

#[async_trait]
impl Interview for MemoryStore {
    async fn questions(&self, room_id: &str) -> StoreResult<Vec<Question>> {
        self.with(|d| Ok(d.per_room.get(room_id).map(|r| r.questions.clone()).unwrap_or_default()))
    }

    async fn add_question(&self, room_id: &str, text: String, at_ms: u64) -> StoreResult<Question> {
        self.with(|d| {
            let questions = &mut d.existing_room(room_id)?.questions;
            let n = questions.last().map_or(1, |q| q.n + 1);
            let question = Question { n, at_ms, text };
            questions.push(question.clone());
            Ok(question)
        })
    }

    async fn integrity_notes(&self, room_id: &str) -> StoreResult<Vec<IntegrityNote>> {
        self.with(|d| Ok(d.per_room.get(room_id).map(|r| r.integrity_notes.clone()).unwrap_or_default()))
    }

    async fn set_integrity_note(&self, room_id: &str, note: IntegrityNote) -> StoreResult<()> {
        self.with(|d| {
            if note.note.is_empty() && !d.rooms.contains_key(room_id) {
                return Ok(());
            }
            let notes = &mut d.existing_room(room_id)?.integrity_notes;
            notes.retain(|n| (n.kind.as_str(), n.at_ms) != (note.kind.as_str(), note.at_ms));
            if !note.note.is_empty() {
                notes.push(note);
                // SQLite's order: the signal's moment, then its kind.
                notes.sort_by(|a, b| (a.at_ms, &a.kind).cmp(&(b.at_ms, &b.kind)));
            }
            Ok(())
        })
    }
}

#[async_trait]
impl Recordings for MemoryStore {
    async fn save_recording(&self, rec: RecordingRecord) -> StoreResult<()> {
        self.with(|d| {
            let recordings = &mut d.existing_room(&rec.room_id)?.recordings;
            match recordings.iter_mut().find(|r| r.id == rec.id) {
                // As SQLite's upsert: only what a longer file adds changes.
                Some(old) if rec.duration_ms >= old.duration_ms => {
                    old.duration_ms = rec.duration_ms;
                    old.anchors = rec.anchors;
                }
                Some(_) => {}
                None => {
                    recordings.push(rec);
                    recordings.sort_by(|a, b| (a.started_at_ms, &a.id).cmp(&(b.started_at_ms, &b.id)));
                }
            }
            Ok(())
        })
    }

    async fn recordings(&self, room_id: &str) -> StoreResult<Vec<RecordingRecord>> {
        self.with(|d| Ok(d.per_room.get(room_id).map(|r| r.recordings.clone()).unwrap_or_default()))
    }

    async fn recording(&self, room_id: &str, id: &str) -> StoreResult<Option<RecordingRecord>> {
        self.with(|d| {
            Ok(d.per_room.get(room_id).and_then(|r| r.recordings.iter().find(|x| x.id == id)).cloned())
        })
    }
}

#[async_trait]
impl WebhookOutbox for MemoryStore {
    async fn enqueue_webhook(&self, room_id: &str, url: &str, body: String, now_ms: u64) -> StoreResult<()> {
        self.with(|d| {
            if !d.rooms.contains_key(room_id) {
                return Err(not_found(Missing::Room));
            }
            d.last_webhook_id += 1;
            let delivery = Delivery {
                room_id: room_id.to_owned(),
                url: url.to_owned(),
                body,
                status: DeliveryState::Pending,
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
                status: w.status,
                attempts: w.attempts,
                last_error: w.last_error.clone(),
                delivered_at_ms: w.delivered_at_ms,
            }))
        })
    }
}
