//! The REST API (DESIGN §4.2): JSON in, JSON out, integrator calls authenticated by the API key.

mod extract;
mod rooms;
mod submissions;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

pub use extract::{ApiJson, Integrator};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/submissions", post(submissions::create))
        .route("/submissions/{id}", get(submissions::get))
        .route("/submissions/{id}/promote", post(submissions::promote))
        .route("/rooms/{id}", get(rooms::get))
}
