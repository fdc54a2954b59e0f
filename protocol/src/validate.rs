//! Checks a submission before anything is stored. Every rule names the field and the limit it broke so an
//! integrator can fix the request from the message alone.

use std::collections::HashSet;

use crate::api::{PromoteRequest, SubmissionRequest};
use crate::interview::{IntegrityNoteBody, QuestionBody};
use crate::limits::{
    MAX_BRIEF_BYTES, MAX_DURATION_MIN, MAX_EVENTS, MAX_FILE_BYTES, MAX_FILES, MAX_INTEGRITY_NOTE_CHARS,
    MAX_NAME_CHARS, MAX_PATH_BYTES, MAX_QUESTION_CHARS, MAX_ROOM_TOKEN_TTL_SECS, MAX_RUBRIC_SCORE,
    MAX_SUBMISSION_BYTES,
};

/// A refused request: 400 for a malformed one, 413 for one over a size limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// 400: the request is malformed. `code` is machine-readable, `message` names the field.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 413: the request is well-formed but over a named limit.
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
}

impl Invalid {
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Invalid::BadRequest { code, message: message.into() }
    }

    fn large(code: &'static str, message: impl Into<String>) -> Self {
        Invalid::TooLarge { code, message: message.into() }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Invalid::BadRequest { code, .. } | Invalid::TooLarge { code, .. } => code,
        }
    }
}

fn check_name(field: &str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::bad("invalid_field", format!("{field} must not be empty")));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(Invalid::bad(
            "invalid_field",
            format!("{field} is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Checks one file path: relative, `/`-separated, no `.`/`..`/empty segments, no control characters.
/// These are the paths a candidate's editor shows; anything else is a bug or an attack on whoever later
/// writes the export to disk.
pub fn check_path(path: &str) -> Result<(), Invalid> {
    let bad = |why: &str| Err(Invalid::bad("invalid_path", format!("file path {path:?} {why}")));
    if path.is_empty() {
        return bad("is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return bad(&format!("is longer than {MAX_PATH_BYTES} bytes"));
    }
    if path.starts_with('/') || path.contains('\\') || path.as_bytes().get(1) == Some(&b':') {
        return bad("must be relative and use '/' separators");
    }
    if path.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    for segment in path.split('/') {
        match segment {
            "" => return bad("has an empty segment"),
            "." | ".." => return bad("must not contain '.' or '..' segments"),
            _ => {}
        }
    }
    Ok(())
}

/// Validates a submission against the contract and the limits.
pub fn submission(req: &SubmissionRequest) -> Result<(), Invalid> {
    check_name("candidate.name", &req.candidate.name)?;
    check_name("exercise.title", &req.exercise.title)?;
    if let Some(brief) = &req.exercise.brief
        && brief.len() > MAX_BRIEF_BYTES
    {
        return Err(Invalid::large(
            "brief_too_large",
            format!("exercise.brief is {} bytes, over the limit of {MAX_BRIEF_BYTES} bytes", brief.len()),
        ));
    }
    if req.files.is_empty() {
        return Err(Invalid::bad("invalid_field", "files must hold at least one file"));
    }
    if req.files.len() > MAX_FILES {
        return Err(Invalid::large(
            "too_many_files",
            format!("{} files is over the limit of {MAX_FILES}", req.files.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(req.files.len());
    let mut total = 0usize;
    for file in &req.files {
        check_path(&file.path)?;
        if !seen.insert(file.path.as_str()) {
            return Err(Invalid::bad("duplicate_path", format!("file path {:?} appears twice", file.path)));
        }
        if file.content.len() > MAX_FILE_BYTES {
            return Err(Invalid::large(
                "file_too_large",
                format!(
                    "file {:?} is {} bytes, over the limit of {MAX_FILE_BYTES} bytes per file",
                    file.path,
                    file.content.len()
                ),
            ));
        }
        total += file.content.len();
    }
    if total > MAX_SUBMISSION_BYTES {
        return Err(Invalid::large(
            "submission_too_large",
            format!(
                "files total {total} bytes, over the limit of {MAX_SUBMISSION_BYTES} bytes per submission"
            ),
        ));
    }
    if let Some(card) = &req.scorecard {
        for (i, item) in card.rubric.iter().enumerate() {
            let in_range = |v: f64| v.is_finite() && v.abs() <= MAX_RUBRIC_SCORE;
            if !(in_range(item.score) && in_range(item.max)) {
                return Err(Invalid::bad(
                    "invalid_score",
                    format!("scorecard.rubric[{i}]: score and max must be within ±{MAX_RUBRIC_SCORE}"),
                ));
            }
        }
    }
    if req.events.len() > MAX_EVENTS {
        return Err(Invalid::large(
            "too_many_events",
            format!("{} events is over the limit of {MAX_EVENTS}", req.events.len()),
        ));
    }
    let mut last_at = 0;
    for (i, event) in req.events.iter().enumerate() {
        if let Some(file) = &event.file
            && !seen.contains(file.as_str())
        {
            return Err(Invalid::bad(
                "invalid_event",
                format!("events[{i}].file {file:?} is not a submitted file"),
            ));
        }
        let number = |key: &str| event.data.get(key).is_some_and(serde_json::Value::is_u64);
        let string = |key: &str| event.data.get(key).is_some_and(serde_json::Value::is_string);
        let well_formed = match event.kind.as_str() {
            "edit" => event.file.is_some() && (number("delete") || string("insert")),
            "paste" => number("length") || string("text"),
            _ => true,
        };
        if !well_formed {
            let needs = if event.kind == "edit" { "file and delete or insert" } else { "length or text" };
            return Err(Invalid::bad("invalid_event", format!("events[{i}] ({}) needs {needs}", event.kind)));
        }
        if event.kind.trim().is_empty() {
            return Err(Invalid::bad("invalid_event", format!("events[{i}].kind must not be empty")));
        }
        if event.at_ms < last_at {
            return Err(Invalid::bad(
                "invalid_event",
                format!("events[{i}].at_ms {} is earlier than the event before it ({last_at})", event.at_ms),
            ));
        }
        last_at = event.at_ms;
    }
    Ok(())
}

/// Validates live scores: named dimensions, `0 ≤ score ≤ max`, finite numbers, a bounded count.
pub fn scores(body: &crate::api::ScoresBody) -> Result<(), Invalid> {
    if body.scores.len() > crate::limits::MAX_LIVE_SCORES {
        return Err(Invalid::large(
            "too_many_scores",
            format!("{} scores is over the limit of {}", body.scores.len(), crate::limits::MAX_LIVE_SCORES),
        ));
    }
    for (i, s) in body.scores.iter().enumerate() {
        check_name(&format!("scores[{i}].dimension"), &s.dimension)?;
        if !(s.max.is_finite() && s.score.is_finite() && s.max > 0.0 && (0.0..=s.max).contains(&s.score)) {
            return Err(Invalid::bad(
                "invalid_score",
                format!("scores[{i}] must have 0 <= score <= max and max > 0"),
            ));
        }
    }
    Ok(())
}

/// Validates a promote request.
pub fn promote(req: &PromoteRequest) -> Result<(), Invalid> {
    check_name("interviewer.name", &req.interviewer.name)?;
    if let Some(min) = req.options.duration_min
        && !(1..=MAX_DURATION_MIN).contains(&min)
    {
        return Err(Invalid::bad(
            "invalid_field",
            format!("duration_min must be between 1 and {MAX_DURATION_MIN} minutes"),
        ));
    }
    match req.expires_in_s {
        Some(0) => Err(Invalid::bad("invalid_field", "expires_in_s must be positive")),
        Some(s) if s > MAX_ROOM_TOKEN_TTL_SECS => Err(Invalid::bad(
            "invalid_field",
            format!("expires_in_s is over the limit of {MAX_ROOM_TOKEN_TTL_SECS} seconds"),
        )),
        _ => Ok(()),
    }
}

/// Validates a question the interviewer pushes: not blank, at most [`MAX_QUESTION_CHARS`].
pub fn question(body: &QuestionBody) -> Result<(), Invalid> {
    if body.text.trim().is_empty() {
        return Err(Invalid::bad("invalid_field", "text must not be empty"));
    }
    let chars = body.text.chars().count();
    if chars > MAX_QUESTION_CHARS {
        return Err(Invalid::large(
            "question_too_large",
            format!("text is {chars} characters, over the limit of {MAX_QUESTION_CHARS}"),
        ));
    }
    Ok(())
}

/// Validates the candidate's note on an integrity signal: at most [`MAX_INTEGRITY_NOTE_CHARS`].
pub fn integrity_note(body: &IntegrityNoteBody) -> Result<(), Invalid> {
    let chars = body.note.chars().count();
    if chars > MAX_INTEGRITY_NOTE_CHARS {
        return Err(Invalid::large(
            "integrity_note_too_large",
            format!("note is {chars} characters, over the limit of {MAX_INTEGRITY_NOTE_CHARS}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
