//! The HTTP edge's one error type. Every API error leaves as `{"error": {"code", "message"}}` with the
//! right status; internal details are logged once here and never sent to the client. The services below
//! the edge (store, lifecycle, export) answer with errors of their own, mapped to a status only here.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use handoff_protocol::api::{ErrorBody, ErrorDetail};
use handoff_protocol::validate::Invalid;

use crate::export::ExportError;
use crate::lifecycle::LifecycleError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("this interview has ended")]
    RoomEnded,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::BadRequest { code, message } => AppError::BadRequest { code, message },
            Invalid::TooLarge { code, message } => AppError::TooLarge { code, message },
        }
    }
}

/// A store that cannot be reached (PostgreSQL down, the pool out of connections) is a 503: the caller
/// tries again later. Anything else the store says is the server's own failure.
impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Backend(_) | StoreError::Closed => {
                tracing::error!(error = %e, "the store is unavailable");
                AppError::Unavailable("the store is unavailable, try again shortly".into())
            }
            e => AppError::Internal(e.to_string()),
        }
    }
}

/// Building a record fails only for the server's own reasons (the store, a log that does not replay).
impl From<ExportError> for AppError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Store(e) => e.into(),
            e => AppError::Internal(e.to_string()),
        }
    }
}

impl From<LifecycleError> for AppError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::NotFound(what) => AppError::NotFound(what),
            LifecycleError::ReopenWindowPassed { .. } => {
                AppError::Conflict { code: "reopen_window_passed", message: e.to_string() }
            }
            LifecycleError::SubmissionHasLiveRoom => {
                AppError::Conflict { code: "submission_has_live_room", message: e.to_string() }
            }
            LifecycleError::Store(e) => e.into(),
            LifecycleError::Export(e) => e.into(),
            LifecycleError::Event(e) => AppError::Internal(e.to_string()),
        }
    }
}

impl AppError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            AppError::TooLarge { code, .. } => (StatusCode::PAYLOAD_TOO_LARGE, code),
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::RoomEnded => (StatusCode::FORBIDDEN, "room_ended"),
            AppError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let AppError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error answering a request");
        }
        let body = ErrorBody { error: ErrorDetail { code: code.to_owned(), message: self.to_string() } };
        (status, Json(body)).into_response()
    }
}
