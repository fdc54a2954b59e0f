//! The catalog of submissions and rooms in SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::log::ACTIVE_SINCE_SQL;
use super::schema::ROOM_TABLES;
use super::writer::Write;
use super::{SqliteStore, live_room, room_columns, room_from_row};
use crate::store::{Catalog, LogEntry, RoomRecord, StoreError, StoreResult, SubmissionRecord};

/// A submission row's body, read back as the integrator sent it.
fn submission(id: String, at_ms: i64, body: &str) -> StoreResult<SubmissionRecord> {
    let body =
        serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("submission {id}: {e}")))?;
    Ok(SubmissionRecord { id, created_at_ms: at_ms as u64, body })
}

#[async_trait]
impl Catalog for SqliteStore {
    async fn insert_submission(&self, rec: SubmissionRecord) -> StoreResult<()> {
        self.write(|tx| Write::Submission(rec, tx)).await
    }

    async fn get_submission(&self, id: &str) -> StoreResult<Option<SubmissionRecord>> {
        let id = id.to_owned();
        let row = self
            .read(move |c| {
                c.query_row("SELECT id, created_at_ms, body FROM submissions WHERE id = ?1", [&id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
                })
                .optional()
            })
            .await?;
        row.map(|(id, at, body)| submission(id, at, &body)).transpose()
    }

    async fn create_room(&self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord> {
        self.write(|tx| Write::Room(room, preload, tx)).await
    }

    async fn get_room(&self, id: &str) -> StoreResult<Option<RoomRecord>> {
        let id = id.to_owned();
        self.read(move |c| {
            c.prepare_cached(concat!("SELECT ", room_columns!(), " FROM rooms WHERE id = ?1"))?
                .query_row([&id], room_from_row)
                .optional()
        })
        .await
    }

    async fn live_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
        let id = submission_id.to_owned();
        self.read(move |c| live_room(c, &id)).await
    }

    async fn latest_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
        let id = submission_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(concat!(
                "SELECT ",
                room_columns!(),
                " FROM rooms WHERE submission_id = ?1
                 ORDER BY status = 'live' DESC, created_at_ms DESC LIMIT 1"
            ))?
            .query_row([&id], room_from_row)
            .optional()
        })
        .await
    }

    async fn list_submissions(
        &self,
        limit: usize,
    ) -> StoreResult<Vec<(SubmissionRecord, Option<RoomRecord>)>> {
        let rows = self
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id, created_at_ms, body FROM submissions ORDER BY created_at_ms DESC, id LIMIT ?1",
                )?;
                let subs = stmt
                    .query_map([limit as i64], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut out = Vec::with_capacity(subs.len());
                let mut room_stmt = c.prepare_cached(concat!(
                    "SELECT ",
                    room_columns!(),
                    " FROM rooms WHERE submission_id = ?1
                     ORDER BY status = 'live' DESC, created_at_ms DESC LIMIT 1"
                ))?;
                for (id, at, body) in subs {
                    let room = room_stmt.query_row([&id], room_from_row).optional()?;
                    out.push((id, at, body, room));
                }
                Ok(out)
            })
            .await?;
        rows.into_iter().map(|(id, at, body, room)| Ok((submission(id, at, &body)?, room))).collect()
    }

    async fn end_room(&self, room_id: &str, at_ms: u64) -> StoreResult<Option<RoomRecord>> {
        let id = room_id.to_owned();
        self.exec(move |c| {
            c.execute(
                "UPDATE rooms SET status = 'ended', ended_at_ms = ?2 WHERE id = ?1 AND status = 'live'",
                params![id, at_ms as i64],
            )?;
            Ok(())
        })
        .await?;
        self.get_room(room_id).await
    }

    async fn reopen_room(&self, room_id: &str) -> StoreResult<Option<RoomRecord>> {
        let id = room_id.to_owned();
        self.exec(move |c| {
            c.execute("UPDATE rooms SET status = 'live', ended_at_ms = NULL WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await?;
        self.get_room(room_id).await
    }

    async fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.id FROM submissions s WHERE s.created_at_ms < ?1
                   AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.submission_id = s.id
                                   AND (r.status = 'live' OR r.ended_at_ms IS NULL OR r.ended_at_ms >= ?1))
                 ORDER BY s.created_at_ms LIMIT ?2",
            )?;
            stmt.query_map(params![cutoff_ms as i64, limit as i64], |r| r.get::<_, String>(0))?.collect()
        })
        .await
    }

    async fn idle_live_rooms(&self, cutoff_ms: u64) -> StoreResult<Vec<String>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT r.id FROM rooms r WHERE r.status = 'live' AND r.created_at_ms < ?1
                   AND NOT EXISTS (SELECT 1 FROM room_log l WHERE l.room_id = r.id AND l.at_ms >= ?1)
                   AND r.id NOT IN ({ACTIVE_SINCE_SQL})
                   AND NOT EXISTS (SELECT 1 FROM room_presence p WHERE p.room_id = r.id AND p.at_ms >= ?1)",
            ))?;
            stmt.query_map([cutoff_ms as i64], |r| r.get::<_, String>(0))?.collect()
        })
        .await
    }

    async fn count_live_rooms(&self) -> StoreResult<u64> {
        self.read(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM rooms WHERE status = 'live'")?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        })
        .await
    }

    async fn purge_submission(&self, submission_id: &str) -> StoreResult<Option<Vec<String>>> {
        let id = submission_id.to_owned();
        let rooms = self
            .read({
                let id = id.clone();
                move |c| {
                    let exists = c
                        .query_row("SELECT 1 FROM submissions WHERE id = ?1", [&id], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if !exists {
                        return Ok(None);
                    }
                    let mut stmt = c.prepare_cached("SELECT id FROM rooms WHERE submission_id = ?1")?;
                    let rooms = stmt
                        .query_map([&id], |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(Some(rooms))
                }
            })
            .await?;
        let Some(rooms) = rooms else { return Ok(None) };
        let doomed = rooms.clone();
        self.exec(move |c| {
            for room in &doomed {
                for table in ROOM_TABLES {
                    c.execute(&format!("DELETE FROM {table} WHERE room_id = ?1"), [room])?;
                }
            }
            c.execute("DELETE FROM rooms WHERE submission_id = ?1", [&id])?;
            c.execute("DELETE FROM submissions WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await?;
        Ok(Some(rooms))
    }
}
