//! The catalog of submissions and rooms in PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::schema::ROOM_TABLES;
use super::{PgStore, db_err, db_error, live_room, room_columns, room_from_row};
use crate::store::{
    Catalog, Constraint, LogEntry, Missing, RoomRecord, StoreError, StoreResult, SubmissionRecord,
};

/// A submission row (`id, created_at_ms, body`), read back as the integrator sent it.
fn submission(row: &Row) -> StoreResult<SubmissionRecord> {
    let id: String = row.try_get(0).map_err(db_err)?;
    let body: &str = row.try_get(2).map_err(db_err)?;
    let body =
        serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("submission {id}: {e}")))?;
    Ok(SubmissionRecord { created_at_ms: row.try_get::<_, i64>(1).map_err(db_err)? as u64, body, id })
}

/// The submission's live room, or else its newest.
const LATEST_ROOM_SQL: &str = concat!(
    "SELECT ",
    room_columns!(),
    " FROM rooms WHERE submission_id = $1 ORDER BY status = 'live' DESC, created_at_ms DESC LIMIT 1"
);

async fn latest_room(c: &impl GenericClient, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
    let stmt = c.prepare_cached(LATEST_ROOM_SQL).await.map_err(db_err)?;
    let row = c.query_opt(&stmt, &[&submission_id]).await.map_err(db_err)?;
    row.as_ref().map(room_from_row).transpose()
}

#[async_trait]
impl Catalog for PgStore {
    async fn insert_submission(&self, rec: SubmissionRecord) -> StoreResult<()> {
        let body = serde_json::to_string(&rec.body).map_err(StoreError::backend)?;
        let c = self.client().await?;
        c.execute(
            "INSERT INTO submissions (id, created_at_ms, body) VALUES ($1, $2, $3)",
            &[&rec.id, &(rec.created_at_ms as i64), &body],
        )
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_submission(&self, id: &str) -> StoreResult<Option<SubmissionRecord>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT id, created_at_ms, body FROM submissions WHERE id = $1", &[&id])
            .await
            .map_err(db_err)?;
        row.as_ref().map(submission).transpose()
    }

    async fn create_room(&self, room: RoomRecord, preload: LogEntry) -> StoreResult<RoomRecord> {
        let mut c = self.client().await?;
        let txn = c.transaction().await.map_err(db_err)?;
        if let Some(existing) = live_room(&txn, &room.submission_id).await? {
            return Ok(existing);
        }
        let inserted = txn
            .execute(
                "INSERT INTO rooms (id, submission_id, status, interviewer, voice, created_at_ms,
                                    duration_min, candidate_sees_integrity, record_voice)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &room.id,
                    &room.submission_id,
                    &room.status.as_str(),
                    &room.interviewer,
                    &room.voice,
                    &(room.created_at_ms as i64),
                    &room.options.duration_min.map(i64::from),
                    &room.options.candidate_sees_integrity,
                    &room.record_voice,
                ],
            )
            .await
            .map_err(|e| db_error(e, Missing::Submission));
        match inserted {
            Ok(_) => {}
            // A racing promote committed its room first (the unique index made this insert wait for
            // it): promote is idempotent, so that room is the answer.
            // On this connection, not another from the pool: sixteen racing promotes each holding one
            // and waiting for a second would exhaust it.
            Err(StoreError::Conflict { constraint: Constraint::OneLiveRoom, .. }) => {
                drop(txn);
                return live_room(&c, &room.submission_id).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "submission {}: its racing live room vanished",
                        room.submission_id
                    ))
                });
            }
            Err(e) => return Err(e),
        }
        super::room_log::insert_entries(&txn, std::slice::from_ref(&preload)).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(room)
    }

    async fn get_room(&self, id: &str) -> StoreResult<Option<RoomRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(concat!("SELECT ", room_columns!(), " FROM rooms WHERE id = $1"))
            .await
            .map_err(db_err)?;
        let row = c.query_opt(&stmt, &[&id]).await.map_err(db_err)?;
        row.as_ref().map(room_from_row).transpose()
    }

    async fn live_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
        live_room(&self.client().await?, submission_id).await
    }

    async fn latest_room_for_submission(&self, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
        latest_room(&self.client().await?, submission_id).await
    }

    async fn list_submissions(
        &self,
        limit: usize,
    ) -> StoreResult<Vec<(SubmissionRecord, Option<RoomRecord>)>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, created_at_ms, body FROM submissions ORDER BY created_at_ms DESC, id LIMIT $1",
                &[&(limit as i64)],
            )
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let sub = submission(row)?;
            let room = latest_room(&c, &sub.id).await?;
            out.push((sub, room));
        }
        Ok(out)
    }

    async fn end_room(&self, room_id: &str, at_ms: u64) -> StoreResult<Option<RoomRecord>> {
        let c = self.client().await?;
        c.execute(
            "UPDATE rooms SET status = 'ended', ended_at_ms = $2 WHERE id = $1 AND status = 'live'",
            &[&room_id, &(at_ms as i64)],
        )
        .await
        .map_err(db_err)?;
        drop(c);
        self.get_room(room_id).await
    }

    async fn reopen_room(&self, room_id: &str) -> StoreResult<Option<RoomRecord>> {
        let c = self.client().await?;
        c.execute("UPDATE rooms SET status = 'live', ended_at_ms = NULL WHERE id = $1", &[&room_id])
            .await
            .map_err(db_err)?;
        drop(c);
        self.get_room(room_id).await
    }

    async fn expired_submissions(&self, cutoff_ms: u64, limit: usize) -> StoreResult<Vec<String>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT s.id FROM submissions s WHERE s.created_at_ms < $1
                   AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.submission_id = s.id
                                   AND (r.status = 'live' OR r.ended_at_ms IS NULL OR r.ended_at_ms >= $1))
                 ORDER BY s.created_at_ms, s.id LIMIT $2",
                &[&(cutoff_ms as i64), &(limit as i64)],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(db_err)).collect()
    }

    async fn idle_live_rooms(&self, cutoff_ms: u64) -> StoreResult<Vec<String>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT r.id FROM rooms r WHERE r.status = 'live' AND r.created_at_ms < $1
                   AND NOT EXISTS (SELECT 1 FROM room_log l WHERE l.room_id = r.id AND l.at_ms >= $1)
                   AND NOT EXISTS (SELECT 1 FROM room_presence p WHERE p.room_id = r.id AND p.at_ms >= $1)",
                &[&(cutoff_ms as i64)],
            )
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| r.try_get(0).map_err(db_err)).collect()
    }

    async fn count_live_rooms(&self) -> StoreResult<u64> {
        let c = self.client().await?;
        let row =
            c.query_one("SELECT COUNT(*) FROM rooms WHERE status = 'live'", &[]).await.map_err(db_err)?;
        Ok(row.try_get::<_, i64>(0).map_err(db_err)? as u64)
    }

    async fn purge_submission(&self, submission_id: &str) -> StoreResult<Option<Vec<String>>> {
        let mut c = self.client().await?;
        let txn = c.transaction().await.map_err(db_err)?;
        // Locks the submission: a promote racing the purge waits, then finds it gone.
        let exists = txn
            .query_opt("SELECT 1 FROM submissions WHERE id = $1 FOR UPDATE", &[&submission_id])
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Ok(None);
        }
        // Locks the rooms too: a write referring to one of them (a leave recorded as the purge closes
        // its clients) waits, then fails as it would after the purge, instead of adding a row that
        // makes deleting the room fail its foreign key.
        let rooms: Vec<String> = txn
            .query(
                "SELECT id FROM rooms WHERE submission_id = $1 ORDER BY created_at_ms, id FOR UPDATE",
                &[&submission_id],
            )
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.try_get(0).map_err(db_err))
            .collect::<StoreResult<_>>()?;
        for table in ROOM_TABLES {
            let sql = format!("DELETE FROM {table} WHERE room_id = ANY($1)");
            txn.execute(&sql, &[&rooms]).await.map_err(db_err)?;
        }
        txn.execute("DELETE FROM rooms WHERE submission_id = $1", &[&submission_id]).await.map_err(db_err)?;
        txn.execute("DELETE FROM submissions WHERE id = $1", &[&submission_id]).await.map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(Some(rooms))
    }
}
