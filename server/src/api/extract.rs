//! Extractors that turn axum's rejections into the API's JSON errors.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::api_key_matches;
use crate::error::AppError;

/// A JSON body whose every failure is a 400 (or 413 over the body limit) with a readable message.
pub struct ApiJson<T>(pub T);

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

/// Proof that the request carried the integrator API key.
pub struct Integrator;

impl FromRequestParts<AppState> for Integrator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| AppError::Unauthorized("missing API key (Authorization: Bearer <key>)".into()))?;
        if api_key_matches(presented.trim(), &state.api_key) {
            Ok(Integrator)
        } else {
            Err(AppError::Unauthorized("invalid API key".into()))
        }
    }
}
