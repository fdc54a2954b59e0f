//! Voice recordings in SQLite: one row per file, its anchors as JSON text.

use async_trait::async_trait;
use handoff_protocol::Role;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::{RecordingRecord, Recordings, StoreError, StoreResult};

/// The columns `row` reads, in order.
macro_rules! columns {
    () => {
        "id, room_id, member, name, role, started_at_ms, duration_ms, path, anchors"
    };
}

/// A row as read, before the text columns (role, anchors) are parsed.
type Row = (String, String, i64, String, String, i64, i64, String, String);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

fn record(row: Row) -> StoreResult<RecordingRecord> {
    let (id, room_id, member, name, role, started, duration, path, anchors) = row;
    let corrupt = |what: String| StoreError::Corrupt(format!("recording {id}: {what}"));
    let role = Role::parse(&role).ok_or_else(|| corrupt(format!("unknown role {role:?}")))?;
    let anchors = serde_json::from_str(&anchors).map_err(|e| corrupt(format!("anchors: {e}")))?;
    Ok(RecordingRecord {
        member: member as u64,
        started_at_ms: started as u64,
        duration_ms: duration as u64,
        role,
        anchors,
        id,
        room_id,
        name,
        path,
    })
}

#[async_trait]
impl Recordings for SqliteStore {
    async fn save_recording(&self, rec: RecordingRecord) -> StoreResult<()> {
        // Encoded here, not on the writer thread, which every room's commits wait behind.
        let anchors = serde_json::to_string(&rec.anchors).map_err(StoreError::backend)?;
        self.exec(move |c| {
            c.execute(
                concat!(
                    "INSERT INTO room_recordings (",
                    columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (id) DO UPDATE SET duration_ms = excluded.duration_ms,
                        anchors = excluded.anchors
                     WHERE excluded.duration_ms >= room_recordings.duration_ms"
                ),
                params![
                    rec.id,
                    rec.room_id,
                    rec.member as i64,
                    rec.name,
                    rec.role.as_str(),
                    rec.started_at_ms as i64,
                    rec.duration_ms as i64,
                    rec.path,
                    anchors
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn recordings(&self, room_id: &str) -> StoreResult<Vec<RecordingRecord>> {
        let id = room_id.to_owned();
        let rows = self
            .read(move |c| {
                c.prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM room_recordings WHERE room_id = ?1 ORDER BY started_at_ms, id"
                ))?
                .query_map([&id], row)?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        rows.into_iter().map(record).collect()
    }

    async fn recording(&self, room_id: &str, id: &str) -> StoreResult<Option<RecordingRecord>> {
        let (room, id) = (room_id.to_owned(), id.to_owned());
        let row = self
            .read(move |c| {
                c.prepare_cached(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM room_recordings WHERE room_id = ?1 AND id = ?2"
                ))?
                .query_row([&room, &id], row)
                .optional()
            })
            .await?;
        row.map(record).transpose()
    }
}
