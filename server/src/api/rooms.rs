//! Rooms as the integrator sees them.

use axum::Json;
use axum::extract::{Path, State};
use handoff_protocol::api::RoomView;

use super::Integrator;
use crate::app::AppState;
use crate::error::AppError;

pub async fn get(
    State(state): State<AppState>,
    _: Integrator,
    Path(id): Path<String>,
) -> Result<Json<RoomView>, AppError> {
    let room = state.store.get_room(&id).await?.ok_or(AppError::NotFound("room"))?;
    Ok(Json(RoomView {
        connected: state.rooms.connected(&room.id),
        id: room.id,
        submission_id: room.submission_id,
        status: room.status,
        interviewer: room.interviewer,
        voice: room.voice,
        created_at_ms: room.created_at_ms,
    }))
}
