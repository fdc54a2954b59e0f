//! Downloading a voice recording: `GET /api/v1/rooms/{room}/recordings/{id}`, `audio/ogg`, with HTTP
//! range requests (a browser's `<audio>` seeks with them). Only the interviewer (their room token as
//! bearer or as `?token=`, since an `<audio src>` sends no header) or the integrator (API key) may;
//! candidate and observer tokens are refused.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_http::services::ServeFile;

use super::openapi::{BadRequest, Forbidden, Internal, NotFound, Unauthorized};
use super::{ApiQuery, RoomCaller, bearer};
use crate::auth::TokenError;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

/// One voice recording, `audio/ogg`; it answers HTTP range requests (how a player seeks).
#[utoipa::path(get, path = "/rooms/{room_id}/recordings/{id}", operation_id = "download_recording", tag = "record",
    security(("room_token" = []), ("room_token_query" = []), ("api_key" = [])),
    params(("room_id" = String, Path, description = "Room id", example = "room_5f2c"),
        ("id" = String, Path, description = "Recording id (`recordings[].id` of the export)"),
        ("token" = Option<String>, Query, description = "The interviewer's room token, where no header can be set")),
    responses(
        (status = 200, description = "The whole file", body = Vec<u8>, content_type = "audio/ogg"),
        (status = 206, description = "The requested range", body = Vec<u8>, content_type = "audio/ogg"),
        (status = 304, description = "Not modified since `If-Modified-Since`"),
        (status = 416, description = "The range is outside the file"),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn download(
    State(state): State<AppState>,
    Path((room_id, id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<TokenQuery>,
    req: Request,
) -> Result<Response, AppError> {
    let (parts, body) = req.into_parts();
    let caller = match (bearer(&parts.headers), query.token.as_deref()) {
        (Some(_), _) => RoomCaller::from_parts(&parts, &state, &room_id)?,
        (None, Some(token)) => match state.tokens.verify(Some(token), &room_id) {
            Ok(claims) => RoomCaller::Participant(claims),
            Err(e @ TokenError::WrongRoom) => return Err(AppError::Forbidden(e.to_string())),
            Err(e) => return Err(AppError::Unauthorized(e.to_string())),
        },
        (None, None) => {
            return Err(AppError::Unauthorized(
                "missing credentials (Authorization: Bearer <API key or room token>, or ?token=)".into(),
            ));
        }
    };
    if !caller.is_interviewer() {
        return Err(AppError::Forbidden("only the interviewer may listen to the recordings".into()));
    }
    let room = state.store.get_room(&room_id).await?.ok_or(AppError::NotFound("room"))?;
    let rec = state.store.recording(&room.id, &id).await?.ok_or(AppError::NotFound("recording"))?;
    let path = state.recordings.file(&rec);
    let served = ServeFile::new(path)
        .try_call(axum::http::Request::from_parts(parts, body))
        .await
        .map_err(|e| AppError::Internal(format!("recording {id}: {e}")))?;
    let mut resp = served.map(axum::body::Body::new).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/ogg"));
    // A candidate's voice: kept out of shared caches and off the disk of any cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(resp)
}
