//! The session record of a room: attributed timeline, files at any moment, and the export (final files,
//! diff against the submission with authorship, timeline, notes). Interviewer or integrator only: it is
//! built from the room log by replaying it (CPU-bound, so off the async threads).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use handoff_protocol::api::{Export, ExportFile, Replay, Timeline};
use handoff_protocol::record::{self, Logged, Record};
use serde::Deserialize;

use super::ApiQuery;
use super::rooms::open_interviewer;
use crate::app::AppState;
use crate::error::AppError;
use crate::store::{LogRow, RoomRecord, SubmissionRecord};

/// Unchanged lines shown around each change in the export's unified diffs (the `diff -u` default).
const DIFF_CONTEXT_LINES: usize = 3;

/// Replays the room's log (up to `until_ms` after the room opened, when given).
async fn replay(
    state: &AppState,
    room: &RoomRecord,
    until_ms: Option<u64>,
) -> Result<(Record, u64), AppError> {
    // Edits still inside their commit window are committed first, so the record is complete.
    state.rooms.flush(&room.id).await;
    let rows: Vec<LogRow> = state.store.room_log(&room.id).await?;
    let started = rows.first().map_or(room.created_at_ms, |r| r.at_ms);
    let until = until_ms.map(|t| started.saturating_add(t));
    let room_id = room.id.clone();
    let record = tokio::task::spawn_blocking(move || {
        let logged: Vec<Logged<'_>> = rows
            .iter()
            .map(|r| Logged {
                seq: r.seq,
                at_ms: r.at_ms,
                author: &r.author,
                role: r.role,
                update: &r.update,
            })
            .collect();
        record::replay(&logged, until)
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(|e| AppError::Internal(format!("room {room_id}: log does not replay: {e}")))?;
    Ok((record, started))
}

pub async fn timeline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Timeline>, AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    let (record, started_at_ms) = replay(&state, &room, None).await?;
    let presence = state.store.presence(&room.id).await?;
    Ok(Json(Timeline { room: room.summary(), started_at_ms, edits: record.edits, presence }))
}

#[derive(Deserialize)]
pub struct ReplayQuery {
    /// Milliseconds after the room opened; 0 is the submission as preloaded.
    at_ms: u64,
}

pub async fn files_at(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReplayQuery>,
    parts: Parts,
) -> Result<Json<Replay>, AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    let (record, _) = replay(&state, &room, Some(q.at_ms)).await?;
    Ok(Json(Replay { at_ms: q.at_ms, files: record.files }))
}

pub async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Export>, AppError> {
    let (room, sub) = open_interviewer(&state, &parts, &id).await?;
    Ok(Json(build_export(&state, room, sub).await?))
}

/// The room's export: final files with diff and authorship, timeline, notes.
pub(crate) async fn build_export(
    state: &AppState,
    room: RoomRecord,
    sub: SubmissionRecord,
) -> Result<Export, AppError> {
    let (mut record, started_at_ms) = replay(state, &room, None).await?;
    let submitted: BTreeMap<&str, &str> =
        sub.body.files.iter().map(|f| (f.path.as_str(), f.content.as_str())).collect();
    let mut files: Vec<ExportFile> = record
        .files
        .iter()
        .map(|(path, content)| {
            let before = submitted.get(path.as_str()).copied();
            let change = match before {
                None => "added",
                Some(b) if b == content => "unchanged",
                Some(_) => "modified",
            };
            ExportFile {
                path: path.clone(),
                content: content.clone(),
                change: change.into(),
                diff: unified(path, before.unwrap_or(""), content),
                authorship: record.authorship.remove(path).unwrap_or_default(),
            }
        })
        .collect();
    for (path, before) in &submitted {
        if !record.files.contains_key(*path) {
            files.push(ExportFile {
                path: (*path).to_owned(),
                content: String::new(),
                change: "deleted".into(),
                diff: unified(path, before, ""),
                authorship: Vec::new(),
            });
        }
    }
    let notes = state.store.notes(&room.id).await?;
    let live_scores = super::rooms::live_scores(state, &room.id).await?;
    Ok(Export {
        live_scores,
        room: room.summary(),
        submission_id: room.submission_id,
        candidate: sub.body.candidate,
        exercise: sub.body.exercise,
        interviewer: room.interviewer,
        started_at_ms,
        files,
        timeline: record.edits,
        notes,
    })
}

/// A unified diff of one file, empty when nothing changed.
fn unified(path: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(DIFF_CONTEXT_LINES)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
