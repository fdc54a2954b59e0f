//! The session record of a room over HTTP: attributed timeline, files at any moment, and the export.
//! Interviewer or integrator only; the record itself is built by [`crate::export`], the page people
//! read by [`crate::report`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::response::Html;
use handoff_protocol::export::{Export, Replay, Timeline};
use serde::Deserialize;

use super::ApiQuery;
use super::rooms::open_interviewer;
use crate::error::AppError;
use crate::export;
use crate::report;
use crate::state::AppState;

pub(super) async fn timeline(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Timeline>, AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    let (record, started_at_ms) = export::replay(state.store.as_ref(), &state.rooms, &room, None).await?;
    let presence = state.store.presence(&room.id).await?;
    Ok(Json(Timeline { room: room.summary(), started_at_ms, edits: record.edits, presence }))
}

#[derive(Deserialize)]
pub(super) struct ReplayQuery {
    /// Milliseconds after the room opened; 0 is the submission as preloaded.
    at_ms: u64,
}

pub(super) async fn files_at(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReplayQuery>,
    parts: Parts,
) -> Result<Json<Replay>, AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    let (record, _) = export::replay(state.store.as_ref(), &state.rooms, &room, Some(q.at_ms)).await?;
    Ok(Json(Replay { at_ms: q.at_ms, files: record.files }))
}

pub(super) async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Export>, AppError> {
    let (room, sub) = open_interviewer(&state, &parts, &id).await?;
    Ok(Json(export::build(state.store.as_ref(), &state.rooms, room, sub, &state.urls.public).await?))
}

/// The export as a printable page (same callers as the export).
pub(super) async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Html<String>, AppError> {
    let (room, sub) = open_interviewer(&state, &parts, &id).await?;
    Ok(Html(report::build(state.store.as_ref(), &state.rooms, room, sub, &state.urls.public).await?))
}
