//! How a live room ends and comes back: the interviewer ends it, or it ends by itself after a stretch
//! with no edits, joins or leaves (and nobody connected here); the interviewer may reopen it within a
//! window. Ending always does the same things: mark it ended, close every client with 4403 after
//! flushing, and queue the room-ended webhook.

use std::time::Duration;

use handoff_protocol::api::{FileChange, RoomEndedEvent, RoomStatus};

use crate::app::AppState;
use crate::auth::now_ms;
use crate::error::AppError;
use crate::shutdown::Trigger;
use crate::store::{RoomRecord, SubmissionRecord};

/// Sweeps run this many times per period (idle or retention), so a room or submission outlives its
/// period by at most a fraction of it.
const SWEEPS_PER_PERIOD: u32 = 4;
/// Shortest and longest pause between two idle sweeps; within them, a quarter of the idle period.
const SWEEP_MIN: Duration = Duration::from_millis(100);
const SWEEP_MAX: Duration = Duration::from_secs(30);
/// Longest pause between two retention sweeps.
const RETENTION_SWEEP_MAX: Duration = Duration::from_secs(3600);
/// Submissions purged per retention sweep at most; the rest wait for the next one.
const RETENTION_BATCH: usize = 100;

/// Ends a room (idempotent: ending an ended room changes nothing and sends no second webhook).
pub async fn end(state: &AppState, room: RoomRecord, sub: SubmissionRecord) -> Result<RoomRecord, AppError> {
    let was_live = room.status == RoomStatus::Live;
    let ended_at_ms = now_ms();
    let room = state.store.end_room(&room.id, ended_at_ms).await?.ok_or(AppError::NotFound("room"))?;
    state.rooms.end(&room.id).await;
    if !was_live {
        return Ok(room);
    }
    tracing::info!(room = %room.id, "interview ended");
    let export = crate::api::build_export(state, room.clone(), sub).await?;
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
            .map(|f| FileChange { path: f.path.clone(), change: f.change.clone() })
            .collect(),
        edits: export.timeline.len(),
        export_url: format!("{}/api/v1/rooms/{}/export", state.urls.public, room.id),
    };
    let body = serde_json::to_string(&event).map_err(|e| AppError::Internal(e.to_string()))?;
    state.webhooks.room_ended(&room.id, body).await?;
    Ok(room)
}

/// Reopens an ended room within the reopen window, unless its submission has another live room.
pub async fn reopen(state: &AppState, room: RoomRecord) -> Result<RoomRecord, AppError> {
    if room.status == RoomStatus::Live {
        return Ok(room);
    }
    let ended = room.ended_at_ms.unwrap_or(0);
    if now_ms().saturating_sub(ended) > state.reopen_window.as_millis() as u64 {
        return Err(AppError::Conflict {
            code: "reopen_window_passed",
            message: format!(
                "the room ended more than {} s ago and can no longer be reopened",
                state.reopen_window.as_secs()
            ),
        });
    }
    if state.store.live_room_for_submission(&room.submission_id).await?.is_some() {
        return Err(AppError::Conflict {
            code: "submission_has_live_room",
            message: "the submission has another live room".into(),
        });
    }
    let room = state.store.reopen_room(&room.id).await?.ok_or(AppError::NotFound("room"))?;
    state.rooms.reopen(&room.id).await;
    tracing::info!(room = %room.id, "interview reopened");
    Ok(room)
}

/// Deletes everything stored for a submission; live rooms are ended first (clients closed, edits flushed)
/// so nothing is written for them afterwards.
pub async fn purge(state: &AppState, submission_id: &str) -> Result<(), AppError> {
    if let Some(room) = state.store.live_room_for_submission(submission_id).await? {
        state.store.end_room(&room.id, now_ms()).await?;
        state.rooms.end(&room.id).await;
    }
    let rooms = state.store.purge_submission(submission_id).await?.ok_or(AppError::NotFound("submission"))?;
    tracing::info!(submission = %submission_id, rooms = rooms.len(), "submission purged");
    Ok(())
}

/// Purges submissions whose retention ran out — created more than `keep` ago with every room ended more
/// than `keep` ago — until `stop` fires.
pub async fn sweep_retention(state: AppState, keep: Duration, stop: Trigger) {
    let every = (keep / SWEEPS_PER_PERIOD).clamp(SWEEP_MIN, RETENTION_SWEEP_MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.fired() => return,
        }
        let cutoff = now_ms().saturating_sub(keep.as_millis() as u64);
        match state.store.expired_submissions(cutoff, RETENTION_BATCH).await {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(submission = %id, "retention period over; purging");
                    if let Err(e) = purge(&state, &id).await {
                        tracing::error!(submission = %id, error = %e, "retention purge failed");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "retention sweep failed"),
        }
    }
}

/// Ends live rooms idle longer than `idle`, until `stop` fires.
pub async fn sweep_idle(state: AppState, idle: Duration, stop: Trigger) {
    let every = (idle / SWEEPS_PER_PERIOD).clamp(SWEEP_MIN, SWEEP_MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.fired() => return,
        }
        let cutoff = now_ms().saturating_sub(idle.as_millis() as u64);
        let ids = match state.store.idle_live_rooms(cutoff).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "idle sweep failed");
                continue;
            }
        };
        for id in ids.into_iter().filter(|id| state.rooms.connected(id) == 0) {
            if let Err(e) = end_idle(&state, &id).await {
                tracing::error!(room = %id, error = %e, "ending an idle room failed");
            }
        }
    }
}

async fn end_idle(state: &AppState, id: &str) -> Result<(), AppError> {
    let Some(room) = state.store.get_room(id).await? else { return Ok(()) };
    let Some(sub) = state.store.get_submission(&room.submission_id).await? else { return Ok(()) };
    tracing::info!(room = %id, "ending an idle room");
    end(state, room, sub).await.map(|_| ())
}
