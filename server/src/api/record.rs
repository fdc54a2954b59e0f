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
use super::openapi::{BadRequest, Forbidden, Internal, NotFound, Unauthorized};
use super::rooms::open_interviewer;
use crate::error::AppError;
use crate::export;
use crate::report;
use crate::state::AppState;

/// Every attributed edit of the live session, and every join and leave.
#[utoipa::path(get, path = "/rooms/{id}/timeline", operation_id = "get_timeline", tag = "record", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "Interviewer or API key only", body = Timeline),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
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

/// The room's files `at_ms` after it opened (0: the submission as preloaded).
#[utoipa::path(get, path = "/rooms/{id}/replay", operation_id = "replay_room", tag = "record", security(("room_token" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Room id", example = "room_5f2c"),
        ("at_ms" = u64, Query, description = "Milliseconds after the room opened", example = 0)),
    responses((status = 200, description = "Interviewer or API key only", body = Replay),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
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

/// The session record.
#[utoipa::path(get, path = "/rooms/{id}/export", operation_id = "export_room", tag = "record", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "Interviewer or API key only", body = Export),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Export>, AppError> {
    let (room, sub) = open_interviewer(&state, &parts, &id).await?;
    Ok(Json(export::build(state.store.as_ref(), &state.rooms, room, sub, &state.urls.public).await?))
}

/// The export as a printable page (same callers as the export).
#[utoipa::path(get, path = "/rooms/{id}/report", operation_id = "room_report", tag = "record", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "A printable HTML page", body = String, content_type = "text/html"),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Html<String>, AppError> {
    let (room, sub) = open_interviewer(&state, &parts, &id).await?;
    Ok(Html(report::build(state.store.as_ref(), &state.rooms, room, sub, &state.urls.public).await?))
}
