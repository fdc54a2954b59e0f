//! Extractors that turn axum's rejections into the API's JSON errors.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::auth::{TokenError, api_key_matches};
use crate::error::AppError;
use crate::state::AppState;
use handoff_protocol::{Claims, Role};

/// A JSON body whose every failure is a 400 (or 413 over the body limit) with a readable message.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::TooLarge {
            code: "request_too_large",
            message: format!(
                "request body is over the limit of {} bytes",
                handoff_protocol::limits::MAX_REQUEST_BYTES
            ),
        };
    }
    let code = match rejection {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::JsonSyntaxError(_) => "invalid_json",
        _ => "invalid_body",
    };
    AppError::BadRequest { code, message: rejection.body_text() }
}

/// The query string, deserialized; a missing or malformed parameter is a 400 JSON error naming it.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => {
                Err(AppError::BadRequest { code: "invalid_query", message: rejection.body_text() })
            }
        }
    }
}

/// The bearer credential of a request, if any. The scheme is case-insensitive (RFC 9110 §11.1), so
/// `bearer x` and `BEARER x` are read as `Bearer x`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim_start();
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// Proof that the request carried the integrator API key, or a dashboard token (which grants the same).
pub(crate) struct Integrator;

impl FromRequestParts<AppState> for Integrator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let presented = bearer(&parts.headers)
            .ok_or_else(|| AppError::Unauthorized("missing API key (Authorization: Bearer <key>)".into()))?;
        if api_key_matches(presented, &state.api_key) || state.tokens.verify_dashboard(presented) {
            Ok(Integrator)
        } else {
            Err(AppError::Unauthorized("invalid API key".into()))
        }
    }
}

/// A room-scoped caller: the bearer room token, verified against the room in the path, or the integrator.
pub(crate) enum RoomCaller {
    Participant(Claims),
    Integrator,
}

impl RoomCaller {
    /// The caller's verified claims for `room_id` (the room is in the path, so it is checked per call).
    pub(crate) fn from_parts(parts: &Parts, state: &AppState, room_id: &str) -> Result<RoomCaller, AppError> {
        let presented = bearer(&parts.headers).ok_or_else(|| {
            AppError::Unauthorized("missing room token (Authorization: Bearer <token>)".into())
        })?;
        if api_key_matches(presented, &state.api_key) || state.tokens.verify_dashboard(presented) {
            return Ok(RoomCaller::Integrator);
        }
        match state.tokens.verify(Some(presented), room_id) {
            Ok(claims) => Ok(RoomCaller::Participant(claims)),
            Err(e @ TokenError::WrongRoom) => Err(AppError::Forbidden(e.to_string())),
            Err(e) => Err(AppError::Unauthorized(e.to_string())),
        }
    }

    /// Interviewer or integrator: the only callers allowed interviewer-private data.
    /// The participant's role; `None` for the integrator, who holds no room token.
    pub(crate) fn role(&self) -> Option<Role> {
        match self {
            RoomCaller::Integrator => None,
            RoomCaller::Participant(c) => Some(c.role),
        }
    }

    pub(crate) fn is_interviewer(&self) -> bool {
        match self {
            RoomCaller::Integrator => true,
            RoomCaller::Participant(c) => c.role == Role::Interviewer,
        }
    }
}
