//! The interview around the editor: questions the interviewer pushes to the room (stored, and relayed
//! live as a room event to the members that announced `events`, on every node), and the candidate's notes on the
//! integrity signals of their own async session, where promote let the candidate see them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::{BufMut, Bytes, BytesMut};
use handoff_protocol::api::RoomStatus;
use handoff_protocol::frame::EXT_ROOM_EVENT;
use handoff_protocol::interview::{
    CandidateIntegrity, IntegrityNote, IntegrityNoteBody, Question, QuestionBody, Questions, RoomEvent,
};
use handoff_protocol::limits::MAX_QUESTIONS_PER_ROOM;
use handoff_protocol::{Role, integrity, validate};

use super::ApiJson;
use super::openapi::{BadRequest, Conflict, Forbidden, Internal, NotFound, TooLarge, Unauthorized};
use super::rooms::{open, open_interviewer};
use crate::clock::now_ms;
use crate::error::AppError;
use crate::room::Extension;
use crate::state::AppState;

/// The room's questions, oldest first: every participant reads them (a late joiner catches up here).
#[utoipa::path(get, path = "/rooms/{id}/questions", operation_id = "list_questions", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "Any role; after End the interviewer only", body = Questions),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn questions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<Questions>, AppError> {
    let (_, room, _) = open(&state, &parts, &id).await?;
    Ok(Json(Questions { questions: state.store.questions(&room.id).await? }))
}

/// The interviewer pushes a question: stored as the room's next, then sent to every member that
/// announced room events, whichever node they are connected to.
///
/// 409 `room_not_live` after End; 413 over 2000 characters, or 200 questions in the room.
#[utoipa::path(post, path = "/rooms/{id}/questions", operation_id = "push_question", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    request_body(content = QuestionBody, example = json!({"text": "How would you make it thread-safe?"})),
    responses((status = 201, description = "The question, numbered", body = Question),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 500, response = Internal)))]
pub(super) async fn push_question(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
    ApiJson(body): ApiJson<QuestionBody>,
) -> Result<(StatusCode, Json<Question>), AppError> {
    let (room, _) = open_interviewer(&state, &parts, &id).await?;
    if room.status != RoomStatus::Live {
        return Err(AppError::Conflict {
            code: "room_not_live",
            message: "questions are pushed during the interview; this room has ended".into(),
        });
    }
    validate::question(&body)?;
    if state.store.questions(&room.id).await?.len() >= MAX_QUESTIONS_PER_ROOM {
        return Err(AppError::TooLarge {
            code: "too_many_questions",
            message: format!("this room already holds {MAX_QUESTIONS_PER_ROOM} questions, the limit"),
        });
    }
    let question = state.store.add_question(&room.id, body.text, now_ms()).await?;
    let event = serde_json::to_vec(&RoomEvent::Question(question.clone()))
        .map_err(|e| AppError::Internal(format!("encoding a question event: {e}")))?;
    state.rooms.send_extension(&room.id, Extension::RoomEvents, event_frame(&event)).await;
    Ok((StatusCode::CREATED, Json(question)))
}

/// A room event frame: the message number, then the event's JSON as a length-prefixed byte string (as
/// y-protocols frame their payloads), so a client reads it with the same decoder as every message.
fn event_frame(json: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(json.len() + 6);
    frame.put_u8(EXT_ROOM_EVENT);
    let mut len = json.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            frame.put_u8(byte);
            break;
        }
        frame.put_u8(byte | 0x80);
    }
    frame.put_slice(json);
    frame.freeze()
}

/// The integrity signals about the candidate's async session and the candidate's notes on them: for
/// the interviewer always, for the candidate only where promote set `candidate_sees_integrity`.
#[utoipa::path(get, path = "/rooms/{id}/integrity", operation_id = "get_integrity", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    responses((status = 200, description = "The flags and the candidate's notes", body = CandidateIntegrity),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 500, response = Internal)))]
pub(super) async fn integrity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
) -> Result<Json<CandidateIntegrity>, AppError> {
    let (caller, room, sub) = open(&state, &parts, &id).await?;
    let candidate = caller.role() == Some(Role::Candidate);
    if !(caller.is_interviewer() || candidate && room.options.candidate_sees_integrity) {
        return Err(AppError::Forbidden("the integrity signals are not shown to you in this room".into()));
    }
    let flags = integrity::summarize_submission(&sub.body.events, &sub.body.files).flags;
    Ok(Json(CandidateIntegrity { flags, notes: state.store.integrity_notes(&room.id).await? }))
}

/// The candidate's note on one signal (an empty note removes it). Only the candidate writes these, and
/// only where promote let them see the signals; the signal must be one the summary holds.
///
/// 404 when the room is unknown, or the summary holds no such signal.
#[utoipa::path(put, path = "/rooms/{id}/integrity/notes", operation_id = "set_integrity_note", tag = "rooms", security(("room_token" = []), ("api_key" = [])), params(("id" = String, Path, description = "Room id", example = "room_5f2c")),
    request_body(content = IntegrityNoteBody,
        example = json!({"kind": "paste", "at_ms": 41000, "note": "Pasted from my own notes file."})),
    responses((status = 204, description = "Saved (an empty note removes it)"),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge), (status = 500, response = Internal)))]
pub(super) async fn set_integrity_note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    parts: Parts,
    ApiJson(body): ApiJson<IntegrityNoteBody>,
) -> Result<StatusCode, AppError> {
    let (caller, room, sub) = open(&state, &parts, &id).await?;
    if caller.role() != Some(Role::Candidate) || !room.options.candidate_sees_integrity {
        return Err(AppError::Forbidden(
            "only the candidate notes the integrity signals, where shown".into(),
        ));
    }
    validate::integrity_note(&body)?;
    let flags = integrity::summarize_submission(&sub.body.events, &sub.body.files).flags;
    let known = flags.iter().any(|f| f.at_ms == body.at_ms && kind_name(&f.kind) == body.kind);
    if !known {
        return Err(AppError::NotFound("integrity signal"));
    }
    let note = IntegrityNote { kind: body.kind, at_ms: body.at_ms, note: body.note, written_at_ms: now_ms() };
    state.store.set_integrity_note(&room.id, note).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A flag kind as its JSON names it (`paste`, `focus_lost`, …): the name a note cites.
fn kind_name(kind: &impl serde::Serialize) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_frame_is_the_message_number_then_a_length_prefixed_payload() {
        assert_eq!(&event_frame(b"{}")[..], &[EXT_ROOM_EVENT, 2, b'{', b'}']);
        let long = vec![b'x'; 200];
        let frame = event_frame(&long);
        assert_eq!(&frame[..3], &[EXT_ROOM_EVENT, 0xc8, 0x01], "200 as a varuint");
        assert_eq!(frame.len(), 203);
    }

    #[test]
    fn a_flag_kind_is_named_as_its_json_names_it() {
        assert_eq!(kind_name(&integrity::FlagKind::FocusLost), "focus_lost");
        assert_eq!(kind_name(&integrity::FlagKind::Paste), "paste");
    }
}
