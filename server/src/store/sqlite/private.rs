//! The interviewer's notes and live scores in SQLite. Scores are kept as JSON text, one row per room.

use async_trait::async_trait;
use handoff_protocol::api::LiveScore;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::{Private, StoreError, StoreResult};

#[async_trait]
impl Private for SqliteStore {
    async fn notes(&self, room_id: &str) -> StoreResult<String> {
        let id = room_id.to_owned();
        let notes = self
            .read(move |c| {
                c.query_row("SELECT notes FROM room_notes WHERE room_id = ?1", [&id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
            })
            .await?;
        Ok(notes.unwrap_or_default())
    }

    async fn set_notes(&self, room_id: &str, notes: String, at_ms: u64) -> StoreResult<()> {
        let id = room_id.to_owned();
        self.exec(move |c| {
            c.execute(
                "INSERT INTO room_notes (room_id, notes, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (room_id) DO UPDATE
                 SET notes = excluded.notes, updated_at_ms = excluded.updated_at_ms",
                params![id, notes, at_ms as i64],
            )?;
            Ok(())
        })
        .await
    }

    async fn scores(&self, room_id: &str) -> StoreResult<Vec<LiveScore>> {
        let id = room_id.to_owned();
        let json = {
            let id = id.clone();
            self.read(move |c| {
                c.query_row("SELECT scores FROM room_scores WHERE room_id = ?1", [&id], |r| {
                    r.get::<_, String>(0)
                })
                .optional()
            })
            .await?
        };
        let Some(json) = json else { return Ok(Vec::new()) };
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("room {id}: stored scores: {e}")))
    }

    async fn set_scores(&self, room_id: &str, scores: Vec<LiveScore>, at_ms: u64) -> StoreResult<()> {
        let id = room_id.to_owned();
        // Encoded here, not on the writer thread, which every room's commits wait behind.
        let json = serde_json::to_string(&scores).map_err(StoreError::backend)?;
        self.exec(move |c| {
            c.execute(
                "INSERT INTO room_scores (room_id, scores, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (room_id) DO UPDATE
                 SET scores = excluded.scores, updated_at_ms = excluded.updated_at_ms",
                params![id, json, at_ms as i64],
            )?;
            Ok(())
        })
        .await
    }
}
