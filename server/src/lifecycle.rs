//! How a live room begins, ends and comes back. Promoting a submission opens its room, preloaded with
//! the submission's files; the interviewer ends it, or it ends by itself after a stretch with no edits,
//! joins or leaves (and nobody connected here); the interviewer may reopen it within a window. Ending
//! always does the same things: mark it ended, close every client with 4403 after flushing, and queue
//! the room-ended webhook.
//!
//! The HTTP API and the sweepers (`lifecycle/sweep.rs`) both call [`Lifecycle`]; it answers with its own
//! [`LifecycleError`], which only the HTTP edge turns into a status code.

mod sweep;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use handoff_protocol::api::{RoomState, RoomStatus};
use handoff_protocol::export::{FileChange, RoomEndedEvent};
use handoff_protocol::interview::{OnEnded, PromoteOutcome, RoomOptions};
use handoff_protocol::schema;

use crate::clock::now_ms;
use crate::export::{self, ExportError};
use crate::ids::new_id;
use crate::recording::RecordingService;
use crate::room::Registry;
use crate::store::{Constraint, LogEntry, RoomRecord, Store, StoreError, SubmissionRecord};
use crate::voice::Voice;
use crate::webhook::Webhooks;

/// Author recorded for the server's own preload of the submission's files.
pub(crate) const PRELOAD_AUTHOR: &str = "submission";

/// Why a room could not be opened, ended, reopened or purged.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The room or submission (named) is not in the store.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the room ended more than {} s ago and can no longer be reopened", .window.as_secs())]
    ReopenWindowPassed { window: Duration },
    #[error("the submission has another live room")]
    SubmissionHasLiveRoom,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("encoding the room-ended event: {0}")]
    Event(#[from] serde_json::Error),
}

/// A new room's voice channel: whether it has one, and whether it records the speakers (only with one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoiceOptions {
    pub on: bool,
    pub record: bool,
}

/// What opening, ending, reopening and purging rooms touch; one is shared by the API and the sweepers.
pub struct Lifecycle {
    pub store: Arc<dyn Store>,
    pub rooms: Arc<Registry>,
    pub webhooks: Arc<Webhooks>,
    /// Ending a room closes its voice first, so members hear `left` before their connection closes.
    pub voice: Arc<Voice>,
    /// Base of the export link the room-ended webhook carries, e.g. `https://handoff.example.com`.
    pub public_url: Arc<str>,
    /// How long after it ended a room may be reopened.
    pub reopen_window: Duration,
    /// The voice recordings, whose files a purge deletes.
    pub recordings: Arc<RecordingService>,
}

impl Lifecycle {
    /// Opens the live room for a submission, its log starting with the preload of the submission's
    /// files; a submission that has a live room keeps it. When its latest room has ended, `on_ended`
    /// chooses between a new room and reopening that one (within the reopen window). Returns the room,
    /// the submission and which of these happened.
    pub async fn promote(
        &self,
        submission_id: &str,
        interviewer: &str,
        voice: VoiceOptions,
        options: RoomOptions,
        on_ended: OnEnded,
    ) -> Result<(RoomRecord, SubmissionRecord, PromoteOutcome), LifecycleError> {
        let sub =
            self.store.get_submission(submission_id).await?.ok_or(LifecycleError::NotFound("submission"))?;
        let latest = self.store.latest_room_for_submission(submission_id).await?;
        let (room, outcome) = match latest {
            Some(room) if room.status == RoomStatus::Live => (room, PromoteOutcome::Live),
            Some(room) if on_ended == OnEnded::Reopen => (self.reopen(room).await?, PromoteOutcome::Reopened),
            _ => {
                let room_id = new_id("room");
                let at_ms = now_ms();
                let record = RoomRecord {
                    id: room_id.clone(),
                    submission_id: submission_id.to_owned(),
                    status: RoomStatus::Live,
                    interviewer: interviewer.to_owned(),
                    voice: voice.on,
                    record_voice: voice.on && voice.record,
                    created_at_ms: at_ms,
                    ended_at_ms: None,
                    options,
                };
                let preload = LogEntry {
                    room_id: Arc::from(room_id.as_str()),
                    seq: 1,
                    at_ms,
                    author: Arc::from(PRELOAD_AUTHOR),
                    role: None,
                    conn_id: 0,
                    update: Bytes::from(schema::initial_update(&sub.body.files)),
                };
                // Returns the other promote's room if two raced.
                let room = self.store.create_room(record, preload).await?;
                let outcome = if room.id == room_id { PromoteOutcome::Opened } else { PromoteOutcome::Live };
                (room, outcome)
            }
        };
        tracing::info!(submission = %submission_id, room = %room.id, ?outcome, "promoted");
        Ok((room, sub, outcome))
    }

    /// Where a room stands: live, or ended and reopenable until when.
    pub fn state(&self, room: &RoomRecord) -> RoomState {
        let reopen_until_ms = match room.status {
            RoomStatus::Live => None,
            RoomStatus::Ended => {
                room.ended_at_ms.map(|t| t.saturating_add(self.reopen_window.as_millis() as u64))
            }
        };
        RoomState {
            id: room.id.clone(),
            status: room.status,
            started_at_ms: room.created_at_ms,
            ended_at_ms: room.ended_at_ms,
            reopen_until_ms,
        }
    }

    /// Ends a room (idempotent: ending an ended room changes nothing and sends no second webhook).
    pub async fn end(&self, room: RoomRecord, sub: SubmissionRecord) -> Result<RoomRecord, LifecycleError> {
        let was_live = room.status == RoomStatus::Live;
        let ended_at_ms = now_ms();
        let room =
            self.store.end_room(&room.id, ended_at_ms).await?.ok_or(LifecycleError::NotFound("room"))?;
        self.voice.end_room(&room.id).await;
        self.rooms.end(&room.id).await;
        if !was_live {
            return Ok(room);
        }
        tracing::info!(room = %room.id, "interview ended");
        let export =
            export::build(self.store.as_ref(), &self.rooms, room.clone(), sub, &self.public_url).await?;
        let event = RoomEndedEvent {
            event: "room.ended".into(),
            room: export.room.clone(),
            submission_id: export.submission_id.clone(),
            candidate: export.candidate.clone(),
            exercise: export.exercise.clone(),
            interviewer: export.interviewer.clone(),
            started_at_ms: export.started_at_ms,
            ended_at_ms,
            files: export
                .files
                .iter()
                .map(|f| FileChange { path: f.path.clone(), change: f.change })
                .collect(),
            edits: export.timeline.len(),
            export_url: format!("{}/api/v1/rooms/{}/export", self.public_url, room.id),
        };
        let body = serde_json::to_string(&event)?;
        self.webhooks.room_ended(&room.id, body).await?;
        Ok(room)
    }

    /// Reopens an ended room within the reopen window, unless its submission has another live room.
    pub async fn reopen(&self, room: RoomRecord) -> Result<RoomRecord, LifecycleError> {
        if room.status == RoomStatus::Live {
            return Ok(room);
        }
        let ended = room.ended_at_ms.unwrap_or(0);
        if now_ms().saturating_sub(ended) > self.reopen_window.as_millis() as u64 {
            return Err(LifecycleError::ReopenWindowPassed { window: self.reopen_window });
        }
        if self.store.live_room_for_submission(&room.submission_id).await?.is_some() {
            return Err(LifecycleError::SubmissionHasLiveRoom);
        }
        // A promote may open a room for the submission between the check above and this write; the
        // store's one-live-room rule refuses the write then, and the caller is told as above.
        let room = match self.store.reopen_room(&room.id).await {
            Err(StoreError::Conflict { constraint: Constraint::OneLiveRoom, .. }) => {
                return Err(LifecycleError::SubmissionHasLiveRoom);
            }
            reopened => reopened?.ok_or(LifecycleError::NotFound("room"))?,
        };
        self.rooms.reopen(&room.id).await;
        tracing::info!(room = %room.id, "interview reopened");
        Ok(room)
    }

    /// Deletes everything stored for a submission, its voice recordings' files included; live rooms are
    /// ended first (clients closed, edits flushed) so nothing is written for them afterwards.
    pub async fn purge(&self, submission_id: &str) -> Result<(), LifecycleError> {
        if let Some(room) = self.store.live_room_for_submission(submission_id).await? {
            self.store.end_room(&room.id, now_ms()).await?;
            self.voice.end_room(&room.id).await;
            self.rooms.end(&room.id).await;
        }
        let rooms = self
            .store
            .purge_submission(submission_id)
            .await?
            .ok_or(LifecycleError::NotFound("submission"))?;
        // The rows went with the submission (so no new recording starts); now the files.
        self.recordings.purge_rooms(rooms.clone()).await;
        tracing::info!(submission = %submission_id, rooms = rooms.len(), "submission purged");
        Ok(())
    }
}

impl std::fmt::Debug for Lifecycle {
    /// Opaque: a store, the registry and the webhook queue.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle").finish_non_exhaustive()
    }
}
