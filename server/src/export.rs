//! The session record of a room, built from its log: the attributed timeline, the files at a moment,
//! and the export (final files, diff against the submission with authorship, timeline, notes, scores,
//! voice recordings).
//! Used by the HTTP API and by ending a room (the webhook carries the export's summary), so it sits
//! below both and answers with its own error; replaying is CPU-bound, so it runs off the async threads.

use std::collections::BTreeMap;

use handoff_protocol::api::LiveScore;
use handoff_protocol::export::{Export, ExportFile, FileChangeKind};
use handoff_protocol::frame::FrameError;
use handoff_protocol::record::{self, Logged, Record, runs};
use handoff_protocol::recording::RecordingEntry;

use crate::room::Registry;
use crate::store::{LogRow, RoomRecord, Store, StoreError, SubmissionRecord};

/// Unchanged lines shown around each change in the export's unified diffs (the `diff -u` default).
const DIFF_CONTEXT_LINES: usize = 3;

/// Why a room's record could not be built. Every case is the server's fault, never the caller's.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("room {room}: log does not replay: {source}")]
    Replay { room: String, source: FrameError },
    #[error("replaying the log: {0}")]
    ReplayTask(#[from] tokio::task::JoinError),
}

/// Replays the room's log (up to `until_ms` after the room opened, when given); returns the record and
/// when the room opened.
pub(crate) async fn replay(
    store: &dyn Store,
    rooms: &Registry,
    room: &RoomRecord,
    until_ms: Option<u64>,
) -> Result<(Record, u64), ExportError> {
    // Edits still inside their commit window are committed first, so the record is complete.
    rooms.flush(&room.id).await;
    let rows: Vec<LogRow> = store.room_log(&room.id).await?;
    let started = rows.first().map_or(room.created_at_ms, |r| r.at_ms);
    let until = until_ms.map(|t| started.saturating_add(t));
    let record = tokio::task::spawn_blocking(move || {
        let logged: Vec<Logged<'_>> = rows
            .iter()
            .map(|r| Logged {
                seq: r.seq,
                at_ms: r.at_ms,
                author: &r.author,
                role: r.role,
                update: &r.update,
            })
            .collect();
        record::replay(&logged, until)
    })
    .await?
    .map_err(|source| ExportError::Replay { room: room.id.clone(), source })?;
    Ok((record, started))
}

/// The room's live scores as stored.
pub(crate) async fn live_scores(store: &dyn Store, room_id: &str) -> Result<Vec<LiveScore>, ExportError> {
    Ok(store.scores(room_id).await?)
}

/// The room's export: start, end and duration; final files with diff and authorship; the timeline raw
/// and grouped into runs; joins and leaves; notes and live scores.
/// `public_url` is the base of the recordings' download links.
pub(crate) async fn build(
    store: &dyn Store,
    rooms: &Registry,
    room: RoomRecord,
    sub: SubmissionRecord,
    public_url: &str,
) -> Result<Export, ExportError> {
    let (mut record, started_at_ms) = replay(store, rooms, &room, None).await?;
    let submitted: BTreeMap<&str, &str> =
        sub.body.files.iter().map(|f| (f.path.as_str(), f.content.as_str())).collect();
    let mut files: Vec<ExportFile> = record
        .files
        .iter()
        .map(|(path, content)| {
            let before = submitted.get(path.as_str()).copied();
            let change = match before {
                None => FileChangeKind::Added,
                Some(b) if b == content => FileChangeKind::Unchanged,
                Some(_) => FileChangeKind::Modified,
            };
            ExportFile {
                path: path.clone(),
                content: content.clone(),
                change,
                diff: unified(path, before.unwrap_or(""), content),
                authorship: record.authorship.remove(path).unwrap_or_default(),
            }
        })
        .collect();
    for (path, before) in &submitted {
        if !record.files.contains_key(*path) {
            files.push(ExportFile {
                path: (*path).to_owned(),
                content: String::new(),
                change: FileChangeKind::Deleted,
                diff: unified(path, before, ""),
                authorship: Vec::new(),
            });
        }
    }
    let base: BTreeMap<String, String> =
        submitted.iter().map(|(p, c)| ((*p).to_owned(), (*c).to_owned())).collect();
    // Grouping applies every edit to the files: CPU-bound, like the replay.
    let edits = std::mem::take(&mut record.edits);
    let (edits, runs) = tokio::task::spawn_blocking(move || {
        let runs = runs::group(&edits, &base);
        (edits, runs)
    })
    .await?;
    let notes = store.notes(&room.id).await?;
    let live_scores = live_scores(store, &room.id).await?;
    let presence = store.presence(&room.id).await?;
    let ended_at_ms = room.ended_at_ms;
    let integrity_notes = store.integrity_notes(&room.id).await?;
    let recordings = store
        .recordings(&room.id)
        .await?
        .into_iter()
        .map(|r| RecordingEntry {
            url: recording_url(public_url, &room.id, &r.id),
            id: r.id,
            participant: r.name,
            role: r.role,
            started_at_ms: r.started_at_ms,
            duration_ms: r.duration_ms,
            anchors: r.anchors,
        })
        .collect();
    Ok(Export {
        voice: room.voice,
        record_voice: room.record_voice,
        recordings,
        live_scores,
        ended_at_ms,
        duration_ms: ended_at_ms.map(|end| end.saturating_sub(started_at_ms)),
        runs,
        presence,
        room: room.summary(),
        submission_id: room.submission_id,
        candidate: sub.body.candidate,
        exercise: sub.body.exercise,
        interviewer: room.interviewer,
        started_at_ms,
        files,
        timeline: edits,
        notes,
        integrity_notes,
    })
}

/// Where a recording is downloaded: `GET` with the API key, or the interviewer's token as `?token=`.
pub(crate) fn recording_url(public_url: &str, room_id: &str, id: &str) -> String {
    format!("{public_url}/api/v1/rooms/{room_id}/recordings/{id}")
}

/// A unified diff of one file, empty when nothing changed.
fn unified(path: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(DIFF_CONTEXT_LINES)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
