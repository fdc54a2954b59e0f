//! The interviewer's notes and live scores in PostgreSQL. Scores are kept as JSON text, one row per
//! room, as SQLite keeps them.

use async_trait::async_trait;
use handoff_protocol::api::LiveScore;

use super::{PgStore, db_err};
use crate::store::{Private, StoreError, StoreResult};

#[async_trait]
impl Private for PgStore {
    async fn notes(&self, room_id: &str) -> StoreResult<String> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT notes FROM room_notes WHERE room_id = $1", &[&room_id])
            .await
            .map_err(db_err)?;
        row.map_or(Ok(String::new()), |r| r.try_get(0).map_err(db_err))
    }

    async fn set_notes(&self, room_id: &str, notes: String, at_ms: u64) -> StoreResult<()> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO room_notes (room_id, notes, updated_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (room_id) DO UPDATE
             SET notes = excluded.notes, updated_at_ms = excluded.updated_at_ms",
            &[&room_id, &notes, &(at_ms as i64)],
        )
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn scores(&self, room_id: &str) -> StoreResult<Vec<LiveScore>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT scores FROM room_scores WHERE room_id = $1", &[&room_id])
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(Vec::new()) };
        let json: &str = row.try_get(0).map_err(db_err)?;
        serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("room {room_id}: stored scores: {e}")))
    }

    async fn set_scores(&self, room_id: &str, scores: Vec<LiveScore>, at_ms: u64) -> StoreResult<()> {
        let json = serde_json::to_string(&scores).map_err(StoreError::backend)?;
        let c = self.client().await?;
        c.execute(
            "INSERT INTO room_scores (room_id, scores, updated_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (room_id) DO UPDATE
             SET scores = excluded.scores, updated_at_ms = excluded.updated_at_ms",
            &[&room_id, &json, &(at_ms as i64)],
        )
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
