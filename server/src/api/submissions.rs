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
