//! The REST API (DESIGN §4.2): JSON in, JSON out, integrator calls authenticated by the API key.
//!
//! Every route is registered through [`routes`] from its handler's `#[utoipa::path]` annotation, the same
//! annotation the OpenAPI document ([`openapi`]) is built from: a route cannot be served without being
//! documented. `tests/openapi_contract.rs` checks the document against the served router both ways.

mod extract;
mod interview;
mod openapi;
mod record;
mod recordings;
mod rooms;
mod submissions;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) use extract::{ApiJson, ApiQuery, Integrator, RoomCaller, bearer};
pub(crate) use openapi::API_BASE;

/// Every API route with its documentation, paths relative to [`API_BASE`].
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi::serve))
        .routes(routes!(submissions::create, submissions::list))
        .routes(routes!(submissions::get, submissions::purge))
        .routes(routes!(submissions::promote))
        .routes(routes!(submissions::replay))
        .routes(routes!(rooms::get))
        .routes(routes!(rooms::session))
        .routes(routes!(rooms::private))
        .routes(routes!(rooms::set_notes))
        .routes(routes!(rooms::set_scores))
        .routes(routes!(rooms::end))
        .routes(routes!(rooms::reopen))
        .routes(routes!(interview::questions, interview::push_question))
        .routes(routes!(interview::integrity))
        .routes(routes!(interview::set_integrity_note))
        .routes(routes!(record::timeline))
        .routes(routes!(record::files_at))
        .routes(routes!(record::export))
        .routes(routes!(record::report))
        .routes(routes!(recordings::download))
}

/// The API router, mounted at [`API_BASE`].
pub(crate) fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    // Unknown API paths are JSON errors, not the web client's index page.
    router.fallback(|| async { crate::error::AppError::NotFound("API route") })
}
