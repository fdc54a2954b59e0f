//! The REST API (DESIGN §4.2): JSON in, JSON out, integrator calls authenticated by the API key.

mod extract;
mod interview;
mod record;
mod recordings;
mod rooms;
mod submissions;

use axum::Router;
use axum::routing::{get, post, put};

use crate::state::AppState;

pub(crate) use extract::{ApiJson, ApiQuery, Integrator, RoomCaller, bearer};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/submissions", post(submissions::create).get(submissions::list))
        .route("/submissions/{id}", get(submissions::get).delete(submissions::purge))
        .route("/submissions/{id}/promote", post(submissions::promote))
        .route("/submissions/{id}/replay", get(submissions::replay))
        .route("/rooms/{id}", get(rooms::get))
        .route("/rooms/{id}/session", get(rooms::session))
        .route("/rooms/{id}/private", get(rooms::private))
        .route("/rooms/{id}/notes", put(rooms::set_notes))
        .route("/rooms/{id}/scores", put(rooms::set_scores))
        .route("/rooms/{id}/end", post(rooms::end))
        .route("/rooms/{id}/reopen", post(rooms::reopen))
        .route("/rooms/{id}/questions", get(interview::questions).post(interview::push_question))
        .route("/rooms/{id}/integrity", get(interview::integrity))
        .route("/rooms/{id}/integrity/notes", put(interview::set_integrity_note))
        .route("/rooms/{id}/timeline", get(record::timeline))
        .route("/rooms/{id}/replay", get(record::files_at))
        .route("/rooms/{id}/export", get(record::export))
        .route("/rooms/{id}/report", get(record::report))
        .route("/rooms/{id}/recordings/{recording}", get(recordings::download))
        // Unknown API paths are JSON errors, not the web client's index page.
        .fallback(|| async { crate::error::AppError::NotFound("API route") })
}
