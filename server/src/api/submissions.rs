//! Submissions: the async work a platform posts, and promoting one to a live room.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use handoff_protocol::api::{
    Created, PerRole, PromoteRequest, PromoteResponse, ScoreTotal, SubmissionList, SubmissionListItem,
    SubmissionRequest, SubmissionView,
};
use handoff_protocol::limits::DEFAULT_ROOM_TOKEN_TTL_SECS;
use handoff_protocol::{Role, async_replay, integrity, validate};

use super::openapi::{BadRequest, Conflict, Internal, NotFound, TooLarge, Unauthorized};
use super::{ApiJson, ApiQuery, Integrator};
use crate::clock::now_ms;
use crate::error::AppError;
use crate::ids::new_id;
use crate::lifecycle::VoiceOptions;
use crate::state::AppState;
use crate::store::SubmissionRecord;

/// Rows the submissions list returns at most.
const LIST_LIMIT: usize = 500;
/// Name on the observer link's token.
const OBSERVER_NAME: &str = "Observer";

/// Stores a submission; `warnings` lists findings that did not stop it (e.g. `replay_mismatch`).
#[utoipa::path(post, path = "/submissions", operation_id = "create_submission", tag = "submissions", security(("api_key" = [])),
    request_body(content = SubmissionRequest, example = json!({
        "candidate": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "exercise": {"title": "LRU cache", "language": "python", "brief": "Implement `LRUCache`."},
        "files": [{"path": "lru_cache.py", "content": "class LRUCache:\n    pass\n"}],
        "events": [{"at_ms": 0, "kind": "focus_gained"},
                   {"at_ms": 1200, "kind": "edit", "file": "lru_cache.py", "offset": 0, "delete": 0,
                    "insert": "class LRUCache:\n    pass\n"}],
        "scorecard": {"rubric": [{"dimension": "correctness", "score": 3, "max": 5}], "summary": "Solid."}
    })),
    responses(
        (status = 201, description = "Stored", body = Created, example = json!({"id": "sub_9a1e"})),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub(super) async fn create(
    State(state): State<AppState>,
    _: Integrator,
    ApiJson(body): ApiJson<SubmissionRequest>,
) -> Result<(StatusCode, Json<Created>), AppError> {
    validate::submission(&body)?;
    let warnings: Vec<_> = async_replay::check(&body.events, &body.files).into_iter().collect();
    let id = new_id("sub");
    state.store.insert_submission(SubmissionRecord { id: id.clone(), created_at_ms: now_ms(), body }).await?;
    tracing::info!(submission = %id, "submission stored");
    Ok((StatusCode::CREATED, Json(Created { id, warnings })))
}

/// The submission as stored, with its room's state and the integrity summary computed from `events`.
#[utoipa::path(get, path = "/submissions/{id}", operation_id = "get_submission", tag = "submissions", security(("api_key" = [])),
    params(("id" = String, Path, description = "Submission id", example = "sub_9a1e")),
    responses((status = 200, description = "The submission", body = SubmissionView),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound),
        (status = 500, response = Internal)))]
pub(super) async fn get(
    State(state): State<AppState>,
    _: Integrator,
    Path(id): Path<String>,
) -> Result<Json<SubmissionView>, AppError> {
    let rec = state.store.get_submission(&id).await?.ok_or(AppError::NotFound("submission"))?;
    let room = state.store.latest_room_for_submission(&id).await?.map(|r| state.lifecycle.state(&r));
    let integrity_summary = integrity::summarize_submission(&rec.body.events, &rec.body.files);
    let warnings = async_replay::check(&rec.body.events, &rec.body.files).into_iter().collect();
    Ok(Json(SubmissionView {
        warnings,
        id: rec.id,
        created_at_ms: rec.created_at_ms,
        submission: rec.body,
        room,
        integrity_summary,
    }))
}

/// The dashboard's list: newest first, with the counts a reviewer scans for.
#[utoipa::path(get, path = "/submissions", operation_id = "list_submissions", tag = "submissions", security(("api_key" = [])),
    responses((status = 200, description = "Newest first", body = SubmissionList),
        (status = 401, response = Unauthorized), (status = 500, response = Internal)))]
pub(super) async fn list(
    State(state): State<AppState>,
    _: Integrator,
) -> Result<Json<SubmissionList>, AppError> {
    let rows = state.store.list_submissions(LIST_LIMIT).await?;
    let submissions = rows
        .into_iter()
        .map(|(rec, room)| SubmissionListItem {
            file_count: rec.body.files.len(),
            integrity_flags: integrity::summarize_submission(&rec.body.events, &rec.body.files).flags.len(),
            scorecard: rec.body.scorecard.as_ref().map(ScoreTotal::of),
            room: room.map(|r| state.lifecycle.state(&r)),
            id: rec.id,
            created_at_ms: rec.created_at_ms,
            candidate: rec.body.candidate,
            exercise: rec.body.exercise,
        })
        .collect();
    Ok(Json(SubmissionList { submissions }))
}

/// Opens the live room for a submission, preloaded with its files; promoting again returns the same
/// live room with fresh links. Once its room ended, a promote opens a new room, or reopens the ended one
/// with `"on_ended": "reopen"`; `outcome` says which.
///
/// 409 `reopen_window_passed` (the reopen window passed) or `submission_has_live_room`.
#[utoipa::path(post, path = "/submissions/{id}/promote", operation_id = "promote_submission", tag = "submissions", security(("api_key" = [])),
    params(("id" = String, Path, description = "Submission id", example = "sub_9a1e")),
    request_body(content = PromoteRequest, example = json!({
        "interviewer": {"name": "Grace Hopper"}, "voice": true, "duration_min": 45,
        "candidate_sees_integrity": false, "expires_in_s": 86400, "on_ended": "new"
    })),
    responses((status = 200, description = "The room, its tokens and links", body = PromoteResponse),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub(super) async fn promote(
    State(state): State<AppState>,
    _: Integrator,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PromoteRequest>,
) -> Result<Json<PromoteResponse>, AppError> {
    validate::promote(&body)?;
    let voice = VoiceOptions { on: body.voice, record: body.record_voice.unwrap_or(body.voice) };
    let (room, sub, outcome) =
        state.lifecycle.promote(&id, &body.interviewer.name, voice, body.options, body.on_ended).await?;
    let ttl = body.expires_in_s.unwrap_or(DEFAULT_ROOM_TOKEN_TTL_SECS);
    let tokens = PerRole {
        interviewer: state.tokens.mint(&room.id, Role::Interviewer, &body.interviewer.name, ttl),
        candidate: state.tokens.mint(&room.id, Role::Candidate, &sub.body.candidate.name, ttl),
        observer: state.tokens.mint(&room.id, Role::Observer, OBSERVER_NAME, ttl),
    };
    // The token rides in the fragment so it never reaches a proxy's or server's access log.
    let link = |token: &str| format!("{}/room/{}#token={token}", state.urls.public, room.id);
    let links = PerRole {
        interviewer: link(&tokens.interviewer),
        candidate: link(&tokens.candidate),
        observer: link(&tokens.observer),
    };
    Ok(Json(PromoteResponse {
        room: room.summary(),
        outcome,
        ws_url: state.urls.ws.clone(),
        tokens,
        links,
        expires_at_ms: now_ms() + ttl * 1000,
    }))
}

/// Deletes everything stored for a submission (a candidate's deletion request): live rooms are ended
/// first (their clients closed, pending edits flushed), then every row goes.
#[utoipa::path(delete, path = "/submissions/{id}", operation_id = "purge_submission", tag = "submissions", security(("api_key" = [])),
    params(("id" = String, Path, description = "Submission id", example = "sub_9a1e")),
    responses((status = 204, description = "Deleted, with its rooms, logs and recordings"),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound),
        (status = 500, response = Internal)))]
pub(super) async fn purge(
    State(state): State<AppState>,
    _: Integrator,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    state.lifecycle.purge(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
pub(super) struct AtQuery {
    at_ms: u64,
}

/// The async session's files at `at_ms`, replayed from the submission's edit events.
///
/// 409 `no_edit_events`: the event stream holds no edit events to replay.
#[utoipa::path(get, path = "/submissions/{id}/replay", operation_id = "replay_submission", tag = "submissions", security(("api_key" = [])),
    params(("id" = String, Path, description = "Submission id", example = "sub_9a1e"),
        ("at_ms" = u64, Query, description = "Milliseconds since the async session started", example = 60000)),
    responses((status = 200, description = "The files at `at_ms`", body = handoff_protocol::api::AsyncReplay),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 500, response = Internal)))]
pub(super) async fn replay(
    State(state): State<AppState>,
    _: Integrator,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AtQuery>,
) -> Result<Json<handoff_protocol::api::AsyncReplay>, AppError> {
    let rec = state.store.get_submission(&id).await?.ok_or(AppError::NotFound("submission"))?;
    if !async_replay::has_edits(&rec.body.events) {
        return Err(AppError::Conflict {
            code: "no_edit_events",
            message: "this submission's event stream has no edit events to replay".into(),
        });
    }
    let files = async_replay::replay(&rec.body.events, Some(q.at_ms));
    Ok(Json(handoff_protocol::api::AsyncReplay { at_ms: q.at_ms, files }))
}
