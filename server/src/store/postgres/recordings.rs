//! Voice recordings in PostgreSQL: one row per file, its anchors as JSON text (as SQLite keeps them).

use async_trait::async_trait;
use handoff_protocol::Role;
use tokio_postgres::Row;

use super::{PgStore, db_err};
use crate::store::{RecordingRecord, Recordings, StoreError, StoreResult};

/// The columns `record` reads, in order.
macro_rules! columns {
    () => {
        "id, room_id, member, name, role, started_at_ms, duration_ms, path, anchors"
    };
}

fn record(r: &Row) -> StoreResult<RecordingRecord> {
    let id: String = r.try_get(0).map_err(db_err)?;
    let corrupt = |what: String| StoreError::Corrupt(format!("recording {id}: {what}"));
    let role: &str = r.try_get(4).map_err(db_err)?;
    let role = Role::parse(role).ok_or_else(|| corrupt(format!("unknown role {role:?}")))?;
    let anchors: &str = r.try_get(8).map_err(db_err)?;
    let anchors = serde_json::from_str(anchors).map_err(|e| corrupt(format!("anchors: {e}")))?;
    Ok(RecordingRecord {
        room_id: r.try_get(1).map_err(db_err)?,
        member: r.try_get::<_, i64>(2).map_err(db_err)? as u64,
        name: r.try_get(3).map_err(db_err)?,
        role,
        started_at_ms: r.try_get::<_, i64>(5).map_err(db_err)? as u64,
        duration_ms: r.try_get::<_, i64>(6).map_err(db_err)? as u64,
        path: r.try_get(7).map_err(db_err)?,
        anchors,
        id,
    })
}

#[async_trait]
impl Recordings for PgStore {
    async fn save_recording(&self, rec: RecordingRecord) -> StoreResult<()> {
        let anchors = serde_json::to_string(&rec.anchors).map_err(StoreError::backend)?;
        let c = self.client().await?;
        // As SQLite's upsert: only what a finished file adds changes, and a shorter save landing late
        // does not undo a longer one.
        c.execute(
            concat!(
                "INSERT INTO room_recordings (",
                columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (id) DO UPDATE SET duration_ms = excluded.duration_ms,
                    anchors = excluded.anchors
                 WHERE excluded.duration_ms >= room_recordings.duration_ms"
            ),
            &[
                &rec.id,
                &rec.room_id,
                &(rec.member as i64),
                &rec.name,
                &rec.role.as_str(),
                &(rec.started_at_ms as i64),
                &(rec.duration_ms as i64),
                &rec.path,
                &anchors,
            ],
        )
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn recordings(&self, room_id: &str) -> StoreResult<Vec<RecordingRecord>> {
        let c = self.client().await?;
        let rows = c
            .query(
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM room_recordings WHERE room_id = $1 ORDER BY started_at_ms, id"
                ),
                &[&room_id],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(record).collect()
    }

    async fn recording(&self, room_id: &str, id: &str) -> StoreResult<Option<RecordingRecord>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                concat!("SELECT ", columns!(), " FROM room_recordings WHERE room_id = $1 AND id = $2"),
                &[&room_id, &id],
            )
            .await
            .map_err(db_err)?;
        row.as_ref().map(record).transpose()
    }
}
