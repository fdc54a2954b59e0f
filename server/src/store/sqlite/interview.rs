//! The questions pushed to a room and the candidate's integrity notes in SQLite.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use handoff_protocol::interview::{IntegrityNote, Question};
use rusqlite::params;

use super::SqliteStore;
use crate::store::{Interview, StoreResult};

#[async_trait]
impl Interview for SqliteStore {
    async fn questions(&self, room_id: &str) -> StoreResult<Vec<Question>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT n, at_ms, text FROM room_questions WHERE room_id = ?1 ORDER BY n")?
                .query_map([&id], |r| {
                    Ok(Question { n: r.get(0)?, at_ms: r.get::<_, i64>(1)? as u64, text: r.get(2)? })
                })?
                .collect()
        })
        .await
    }

    async fn add_question(&self, room_id: &str, text: String, at_ms: u64) -> StoreResult<Question> {
        let id = room_id.to_owned();
        // The number is taken on the writer thread, where no other write interleaves.
        let taken = Arc::new(AtomicU32::new(0));
        let n = taken.clone();
        let stored = text.clone();
        self.exec(move |c| {
            let next: u32 = c.query_row(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM room_questions WHERE room_id = ?1",
                [&id],
                |r| r.get(0),
            )?;
            c.execute(
                "INSERT INTO room_questions (room_id, n, at_ms, text) VALUES (?1, ?2, ?3, ?4)",
                params![id, next, at_ms as i64, stored],
            )?;
            n.store(next, Ordering::Release);
            Ok(())
        })
        .await?;
        Ok(Question { n: taken.load(Ordering::Acquire), at_ms, text })
    }

    async fn integrity_notes(&self, room_id: &str) -> StoreResult<Vec<IntegrityNote>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT kind, flag_at_ms, note, written_at_ms FROM room_integrity_notes
                 WHERE room_id = ?1 ORDER BY flag_at_ms, kind",
            )?
            .query_map([&id], |r| {
                Ok(IntegrityNote {
                    kind: r.get(0)?,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    note: r.get(2)?,
                    written_at_ms: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect()
        })
        .await
    }

    async fn set_integrity_note(&self, room_id: &str, note: IntegrityNote) -> StoreResult<()> {
        let id = room_id.to_owned();
        self.exec(move |c| {
            if note.note.is_empty() {
                c.execute(
                    "DELETE FROM room_integrity_notes WHERE room_id = ?1 AND kind = ?2 AND flag_at_ms = ?3",
                    params![id, note.kind, note.at_ms as i64],
                )?;
                return Ok(());
            }
            c.execute(
                "INSERT INTO room_integrity_notes (room_id, kind, flag_at_ms, note, written_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (room_id, kind, flag_at_ms) DO UPDATE
                 SET note = excluded.note, written_at_ms = excluded.written_at_ms",
                params![id, note.kind, note.at_ms as i64, note.note, note.written_at_ms as i64],
            )?;
            Ok(())
        })
        .await
    }
}
