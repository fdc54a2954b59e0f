//! The in-memory store's collections and the operations that need more than one look-up. Each mirrors
//! what SQLite's schema and statements do, constraint failures included.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use handoff_protocol::api::{DeliveryState, LiveScore, RoomStatus};
use handoff_protocol::export::PresenceEvent;
use handoff_protocol::interview::{IntegrityNote, Question};

use crate::store::{
    Constraint, LogEntry, Missing, RecordingRecord, RoomRecord, Snapshot, StoreError, StoreResult,
    SubmissionRecord, WebhookDelivery, WebhookOutcome,
};

#[derive(Debug, Default)]
pub(super) struct Data {
    pub(super) submissions: HashMap<String, SubmissionRecord>,
    pub(super) rooms: HashMap<String, RoomRecord>,
    /// Each submission's room ids in creation order, the order SQLite reads them back in.
    rooms_of: HashMap<String, Vec<String>>,
    /// Everything kept per room id. Like SQLite's `room_log` and `room_snapshots`, which have no foreign
    /// key, a log may exist for an id that has no room.
    pub(super) per_room: HashMap<Arc<str>, PerRoom>,
    pub(super) webhooks: BTreeMap<i64, Delivery>,
    /// Like `AUTOINCREMENT`: a delivery id is never reused, not even after a purge.
    pub(super) last_webhook_id: i64,
}

/// What purging a room removes, in one place so a purge cannot miss any of it (webhook deliveries aside:
/// they are keyed by their own id).
#[derive(Debug, Default)]
pub(super) struct PerRoom {
    pub(super) log: BTreeMap<u64, LogEntry>,
    pub(super) snapshot: Option<Snapshot>,
    pub(super) notes: Option<String>,
    pub(super) scores: Option<Vec<LiveScore>>,
    /// In recording order, which is SQLite's tie-break (`ORDER BY at_ms, rowid`).
    pub(super) presence: Vec<PresenceEvent>,
    pub(super) questions: Vec<Question>,
    pub(super) integrity_notes: Vec<IntegrityNote>,
    /// Sorted as SQLite reads them back: by start, then id.
    pub(super) recordings: Vec<RecordingRecord>,
}

impl PerRoom {
    fn active_since(&self, cutoff_ms: u64) -> bool {
        // Newest entries are last, so an active room is usually told after a step or two.
        self.log.values().rev().any(|e| e.at_ms >= cutoff_ms)
            || self.presence.iter().any(|p| p.at_ms >= cutoff_ms)
    }
}

#[derive(Debug)]
pub(super) struct Delivery {
    pub(super) room_id: String,
    pub(super) url: String,
    pub(super) body: String,
    /// `pending`, `delivered` or `failed`, as the API reports it.
    pub(super) status: DeliveryState,
    pub(super) attempts: u32,
    pub(super) next_attempt_ms: u64,
    pub(super) last_error: Option<String>,
    pub(super) delivered_at_ms: Option<u64>,
}

/// A rule broken; the in-memory store checks its rules itself, so there is no backend cause to keep.
pub(super) fn conflict(constraint: Constraint) -> StoreError {
    StoreError::Conflict { constraint, source: None }
}

pub(super) fn not_found(missing: Missing) -> StoreError {
    StoreError::NotFound { missing, source: None }
}

impl Data {
    fn rooms_of(&self, submission_id: &str) -> impl Iterator<Item = &RoomRecord> {
        self.rooms_of.get(submission_id).into_iter().flatten().filter_map(|id| self.rooms.get(id))
    }

    pub(super) fn live_room(&self, submission_id: &str) -> Option<&RoomRecord> {
        self.rooms_of(submission_id).find(|r| r.status == RoomStatus::Live)
    }

    /// The live room, or else the newest; `max_by_key` keeps the last of equals, the newer.
    pub(super) fn latest_room(&self, submission_id: &str) -> Option<&RoomRecord> {
        self.rooms_of(submission_id).max_by_key(|r| (r.status == RoomStatus::Live, r.created_at_ms))
    }

    /// The per-room data of an existing room: notes, scores, presence and webhook deliveries reference
    /// `rooms(id)`.
    pub(super) fn existing_room(&mut self, room_id: &str) -> StoreResult<&mut PerRoom> {
        if !self.rooms.contains_key(room_id) {
            return Err(not_found(Missing::Room));
        }
        Ok(self.per_room.entry(Arc::from(room_id)).or_default())
    }

    pub(super) fn create_room(&mut self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord> {
        if let Some(live) = self.live_room(&room.submission_id) {
            return Ok(live.clone());
        }
        if self.rooms.contains_key(&room.id) {
            return Err(conflict(Constraint::RoomId));
        }
        if !self.submissions.contains_key(&room.submission_id) {
            return Err(not_found(Missing::Submission));
        }
        // The preload first: if it fails, nothing of the room is left behind (SQLite's savepoint).
        self.append(vec![preload], None)?;
        self.rooms_of.entry(room.submission_id.clone()).or_default().push(room.id.clone());
        self.rooms.insert(room.id.clone(), room.clone());
        Ok(room)
    }

    pub(super) fn append(&mut self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()> {
        // All or nothing: a (room, seq) holding another entry fails the whole append before anything is
        // written. One holding this very entry (a retry, or a twin in this append) is written once.
        let mut seen: HashMap<(&str, u64), &LogEntry> = HashMap::with_capacity(entries.len());
        for e in &entries {
            let stored = self.per_room.get(&e.room_id).and_then(|r| r.log.get(&e.seq));
            let earlier = seen.insert((&e.room_id, e.seq), e);
            if stored.or(earlier).is_some_and(|held| !held.same_record(e)) {
                return Err(conflict(Constraint::LogSeq));
            }
        }
        drop(seen);
        for e in entries {
            self.per_room.entry(e.room_id.clone()).or_default().log.entry(e.seq).or_insert(e);
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

    pub(super) fn reopen_room(&mut self, room_id: &str) -> StoreResult<Option<RoomRecord>> {
        let Some(room) = self.rooms.get(room_id) else { return Ok(None) };
        if self.live_room(&room.submission_id).is_some_and(|live| live.id != room_id) {
            return Err(conflict(Constraint::OneLiveRoom));
        }
        Ok(self.rooms.get_mut(room_id).map(|room| {
            room.status = RoomStatus::Live;
            room.ended_at_ms = None;
            room.clone()
        }))
    }

    pub(super) fn list_submissions(&self, limit: usize) -> Vec<(SubmissionRecord, Option<RoomRecord>)> {
        let mut subs: Vec<&SubmissionRecord> = self.submissions.values().collect();
        subs.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then_with(|| a.id.cmp(&b.id)));
        subs.into_iter().take(limit).map(|s| (s.clone(), self.latest_room(&s.id).cloned())).collect()
    }

    pub(super) fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> Vec<String> {
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

    pub(super) fn idle_live_rooms(&self, cutoff_ms: u64) -> Vec<String> {
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

    pub(super) fn due_webhooks(&self, now_ms: u64, limit: usize) -> Vec<WebhookDelivery> {
        let mut due: Vec<(&i64, &Delivery)> = self
            .webhooks
            .iter()
            .filter(|(_, d)| d.status == DeliveryState::Pending && d.next_attempt_ms <= now_ms)
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

    pub(super) fn record_webhook_attempt(&mut self, id: i64, outcome: WebhookOutcome) {
        let Some(d) = self.webhooks.get_mut(&id) else { return };
        d.attempts += 1;
        match outcome {
            WebhookOutcome::Delivered { at_ms } => {
                d.status = DeliveryState::Delivered;
                d.delivered_at_ms = Some(at_ms);
                d.last_error = None;
            }
            // A retry leaves the status alone, as SQLite's update does.
            WebhookOutcome::Retry { next_at_ms, error } => {
                d.next_attempt_ms = next_at_ms;
                d.last_error = Some(error);
            }
            WebhookOutcome::Failed { error } => {
                d.status = DeliveryState::Failed;
                d.last_error = Some(error);
            }
        }
    }

    pub(super) fn purge_submission(&mut self, submission_id: &str) -> Option<Vec<String>> {
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
