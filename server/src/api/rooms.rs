//! Rooms: the integrator's view, and the room-scoped calls the room page makes with its room token.
//! Interviewer-private data (integrity, scorecard, events, notes) is only ever returned to the
//! interviewer or the integrator; the check is here, on the server, not in the page.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use handoff_protocol::api::{
    CandidateName, Ended, NotesBody, PrivatePanel, RoomSession, RoomStatus, RoomView, ScoresBody, You,
};
use handoff_protocol::integrity;
use handoff_protocol::limits::MAX_NOTES_BYTES;
use handoff_protocol::{Claims, Role};

use super::openapi::{BadRequest, Conflict, Forbidden, Internal, NotFound, TooLarge, Unauthorized};
use super::{ApiJson, Integrator, RoomCaller};
use crate::clock::now_ms;
use crate::error::AppError;
use crate::export;
use crate::state::AppState;
use crate::store::{RoomRecord, SubmissionRecord};

/// The integrator's view of a room: status, interviewer, voice, clients connected now, the webhook.
#[utoipa::path(get, path = "/rooms/{id}", operation_id = "get_room", tag = "rooms", security(("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "The room", body = RoomView),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn get(
    State(state): State<AppState>,
    _: Integrator,
    Path(id): Path<String>,
) -> Result<Json<RoomView>, AppError> {
    let room = state.store.get_room(&id).await?.ok_or(AppError::NotFound("room"))?;
    let webhook = state.store.webhook_status(&room.id).await?;
    Ok(Json(RoomView {
        webhook,
        connected: state.rooms.connected_everywhere(&room.id).await,
        id: room.id,
        submission_id: room.submission_id,
        status: room.status,
        interviewer: room.interviewer,
        voice: room.voice,
        record_voice: room.record_voice,
        created_at_ms: room.created_at_ms,
    }))
}

/// Authenticates a room-scoped call and loads the room and its submission. Candidates and observers of
/// an ended room are refused: ending revokes their access.
pub(super) async fn open(
    state: &AppState,
    parts: &Parts,
    id: &str,
) -> Result<(RoomCaller, RoomRecord, SubmissionRecord), AppError> {
    let caller = RoomCaller::from_parts(parts, state, id)?;
    let room = state.store.get_room(id).await?.ok_or(AppError::NotFound("room"))?;
    if room.status == RoomStatus::Ended && !caller.is_interviewer() {
        return Err(AppError::RoomEnded);
    }
    // A purge between the two reads deletes the room with its submission: the room is gone.
    let sub = state.store.get_submission(&room.submission_id).await?.ok_or(AppError::NotFound("room"))?;
    Ok((caller, room, sub))
}

/// `open` for the calls only the interviewer (or the integrator) may make.
pub(super) async fn open_interviewer(
    state: &AppState,
    parts: &Parts,
    id: &str,
) -> Result<(RoomRecord, SubmissionRecord), AppError> {
    let (caller, room, sub) = open(state, parts, id).await?;
    if !caller.is_interviewer() {
        return Err(AppError::Forbidden("only the interviewer may see or change this".into()));
    }
    Ok((room, sub))
}

/// Everything a participant needs to open the room; nothing interviewer-private.
#[utoipa::path(get, path = "/rooms/{id}/session", operation_id = "get_room_session", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "The room page's session (any role)", body = RoomSession),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<RoomSession>, AppError> {
    let (caller, room, sub) = open(&state, &parts, &id).await?;
    let you = match caller {
        RoomCaller::Participant(Claims { role, name, .. }) => You { role, name },
        RoomCaller::Integrator => You { role: Role::Interviewer, name: room.interviewer.clone() },
    };
    Ok(Json(RoomSession {
        room: room.summary(),
        you,
        exercise: sub.body.exercise,
        candidate: CandidateName { name: sub.body.candidate.name },
        submission_files: sub.body.files,
        voice: room.voice,
        record_voice: room.record_voice,
        ws_url: state.urls.ws.clone(),
        state: state.lifecycle.state(&room),
        duration_min: room.options.duration_min,
        now_ms: now_ms(),
    }))
}

/// The interviewer's private panel.
#[utoipa::path(get, path = "/rooms/{id}/private", operation_id = "get_private_panel", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "Interviewer or API key only", body = PrivatePanel),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn private(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<PrivatePanel>, AppError> {
    let (room, sub) = open_interviewer(&state, &parts, &id).await?;
    let notes = state.store.notes(&room.id).await?;
    let live_scores = export::live_scores(state.store.as_ref(), &room.id).await?;
    let integrity_notes = state.store.integrity_notes(&room.id).await?;
    Ok(Json(PrivatePanel {
        live_scores,
        integrity_notes,
        integrity_summary: integrity::summarize_submission(&sub.body.events, &sub.body.files),
        integrity: sub.body.integrity,
        scorecard: sub.body.scorecard,
        events: sub.body.events,
        notes,
    }))
}

/// Replaces the interviewer's private notes.
#[utoipa::path(put, path = "/rooms/{id}/notes", operation_id = "set_notes", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    request_body(content = NotesBody, example = json!({"notes": "Explained the eviction order clearly."})),
    responses((status = 204, description = "Saved (interviewer or API key only)"),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub(super) async fn set_notes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
    ApiJson(body): ApiJson<NotesBody>,
) -> Result<StatusCode, AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    if body.notes.len() > MAX_NOTES_BYTES {
        return Err(AppError::TooLarge {
            code: "notes_too_large",
            message: format!("notes are over the limit of {MAX_NOTES_BYTES} bytes"),
        });
    }
    state.store.set_notes(&room.id, body.notes, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the interview: the room is marked ended (candidate and observer tokens stop working) and every
/// connected client is closed with 4403.
#[utoipa::path(post, path = "/rooms/{id}/end", operation_id = "end_room", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "Ended (idempotent)", body = Ended),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn end(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Ended>, AppError> {
    let (room, sub) = open_interviewer(&state, &parts, &id).await?;
    let room = state.lifecycle.end(room, sub).await?;
    Ok(Json(Ended { room: room.summary() }))
}

/// Replaces the interviewer's live rubric scores.
#[utoipa::path(put, path = "/rooms/{id}/scores", operation_id = "set_scores", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    request_body(content = ScoresBody, example = json!({"scores": [{"dimension": "correctness", "score": 4,
        "max": 5, "evidence": [{"seq": 12, "file": "lru_cache.py", "lines": [19, 23], "note": "fixed put()"}]}]})),
    responses((status = 204, description = "Saved (interviewer or API key only)"),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub(super) async fn set_scores(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
    ApiJson(body): ApiJson<ScoresBody>,
) -> Result<StatusCode, AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    handoff_protocol::validate::scores(&body)?;
    state.store.set_scores(&room.id, body.scores, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reopens an ended room (interviewer or integrator), within the reopen window.
///
/// 409 `reopen_window_passed` or `submission_has_live_room`.
#[utoipa::path(post, path = "/rooms/{id}/reopen", operation_id = "reopen_room", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "Live again", body = Ended),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = Internal)))]
pub(super) async fn reopen(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Ended>, AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    let room = state.lifecycle.reopen(room).await?;
    Ok(Json(Ended { room: room.summary() }))
}
