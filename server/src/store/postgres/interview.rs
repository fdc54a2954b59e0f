//! The questions pushed to a room and the candidate's integrity notes in PostgreSQL.

use async_trait::async_trait;
use handoff_protocol::interview::{IntegrityNote, Question};

use super::{PgStore, db_err};
use crate::store::{Interview, Missing, StoreError, StoreResult};

#[async_trait]
impl Interview for PgStore {
    async fn questions(&self, room_id: &str) -> StoreResult<Vec<Question>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT n, at_ms, text FROM room_questions WHERE room_id = $1 ORDER BY n", &[&room_id])
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(Question {
                    n: r.try_get::<_, i64>(0).map_err(db_err)? as u32,
                    at_ms: r.try_get::<_, i64>(1).map_err(db_err)? as u64,
                    text: r.try_get(2).map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn add_question(&self, room_id: &str, text: String, at_ms: u64) -> StoreResult<Question> {
        let mut c = self.client().await?;
        let txn = c.transaction().await.map_err(db_err)?;
        // The room's row lock orders two nodes pushing questions to one room: the second numbers its
        // question after the first commits.
        let room = txn
            .query_opt("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE", &[&room_id])
            .await
            .map_err(db_err)?;
        if room.is_none() {
            return Err(StoreError::NotFound { missing: Missing::Room, source: None });
        }
        let row = txn
            .query_one(
                "INSERT INTO room_questions (room_id, n, at_ms, text)
                 SELECT $1, COALESCE(MAX(n), 0) + 1, $2, $3 FROM room_questions WHERE room_id = $1
                 RETURNING n",
                &[&room_id, &(at_ms as i64), &text],
            )
            .await
            .map_err(db_err)?;
        let n = row.try_get::<_, i64>(0).map_err(db_err)? as u32;
        txn.commit().await.map_err(db_err)?;
        Ok(Question { n, at_ms, text })
    }

    async fn integrity_notes(&self, room_id: &str) -> StoreResult<Vec<IntegrityNote>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT kind, flag_at_ms, note, written_at_ms FROM room_integrity_notes
                 WHERE room_id = $1 ORDER BY flag_at_ms, kind",
                &[&room_id],
            )
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(IntegrityNote {
                    kind: r.try_get(0).map_err(db_err)?,
                    at_ms: r.try_get::<_, i64>(1).map_err(db_err)? as u64,
                    note: r.try_get(2).map_err(db_err)?,
                    written_at_ms: r.try_get::<_, i64>(3).map_err(db_err)? as u64,
                })
            })
            .collect()
    }

    async fn set_integrity_note(&self, room_id: &str, note: IntegrityNote) -> StoreResult<()> {
        let c = self.client().await?;
        if note.note.is_empty() {
            c.execute(
                "DELETE FROM room_integrity_notes WHERE room_id = $1 AND kind = $2 AND flag_at_ms = $3",
                &[&room_id, &note.kind, &(note.at_ms as i64)],
            )
            .await
            .map_err(db_err)?;
            return Ok(());
        }
        c.execute(
            "INSERT INTO room_integrity_notes (room_id, kind, flag_at_ms, note, written_at_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (room_id, kind, flag_at_ms) DO UPDATE
             SET note = excluded.note, written_at_ms = excluded.written_at_ms",
            &[&room_id, &note.kind, &(note.at_ms as i64), &note.note, &(note.written_at_ms as i64)],
        )
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
