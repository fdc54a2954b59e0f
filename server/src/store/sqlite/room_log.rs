//! The room log's reads and writes in SQLite; how its rows are laid out is `log.rs`.

use std::sync::Arc;

use async_trait::async_trait;
use handoff_protocol::Role;
use handoff_protocol::export::{PresenceEvent, PresenceKind};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::log::{LOG_SQL, TAIL_SQL};
use super::writer::Write;
use crate::store::{LogEntry, LogRow, RoomLog, RoomState, Snapshot, StoreResult};

#[async_trait]
impl RoomLog for SqliteStore {
    async fn append(&self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()> {
        let queued = std::time::Instant::now();
        self.write(|tx| Write::Append(entries, snapshot, queued, tx)).await
    }

    /// The writer thread does the work and times it; the future only waits for its answer.
    fn commits_complete_without_polling(&self) -> bool {
        true
    }

    async fn load_room(&self, room_id: &str) -> StoreResult<RoomState> {
        let id = room_id.to_owned();
        self.read(move |c| {
            let snapshot = c
                .query_row(
                    "SELECT upto_seq, at_ms, state_v1 FROM room_snapshots WHERE room_id = ?1",
                    [&id],
                    |r| {
                        Ok(Snapshot {
                            room_id: Arc::from(id.as_str()),
                            upto_seq: r.get::<_, i64>(0)? as u64,
                            at_ms: r.get::<_, i64>(1)? as u64,
                            state: r.get(2)?,
                        })
                    },
                )
                .optional()?;
            let after = snapshot.as_ref().map_or(0, |s| s.upto_seq) as i64;
            let mut stmt = c.prepare_cached(TAIL_SQL)?;
            let tail = stmt
                .query_map(params![id, after], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(RoomState { snapshot, tail })
        })
        .await
    }

    async fn room_log(&self, room_id: &str) -> StoreResult<Vec<LogRow>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(LOG_SQL)?;
            stmt.query_map([&id], |r| {
                Ok(LogRow {
                    seq: r.get::<_, i64>(0)? as u64,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    author: r.get(2)?,
                    role: Role::parse(&r.get::<_, String>(3)?),
                    conn_id: r.get::<_, i64>(4)? as u64,
                    update: r.get(5)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn record_presence(&self, room_id: &str, e: PresenceEvent) -> StoreResult<()> {
        let id = room_id.to_owned();
        self.exec(move |c| {
            // Cached: every join and leave writes one, a hundred at once in a join storm.
            c.prepare_cached(
                "INSERT INTO room_presence (room_id, at_ms, kind, name, role, conn_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                id,
                e.at_ms as i64,
                e.kind.as_str(),
                e.name,
                e.role.as_str(),
                e.conn_id as i64
            ])?;
            Ok(())
        })
        .await
    }

    async fn presence(&self, room_id: &str) -> StoreResult<Vec<PresenceEvent>> {
        let id = room_id.to_owned();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT at_ms, kind, name, role, conn_id FROM room_presence WHERE room_id = ?1
                 ORDER BY at_ms, rowid",
            )?;
            stmt.query_map([&id], |r| {
                Ok(PresenceEvent {
                    at_ms: r.get::<_, i64>(0)? as u64,
                    kind: presence_kind(r.get_ref(1)?.as_str()?)?,
                    name: r.get(2)?,
                    role: Role::parse(&r.get::<_, String>(3)?).unwrap_or(Role::Observer),
                    conn_id: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect()
        })
        .await
    }
}

/// A stored presence kind; the store writes only the two it knows.
fn presence_kind(name: &str) -> rusqlite::Result<PresenceKind> {
    PresenceKind::parse(name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("presence kind {name:?}").into(),
        )
    })
}
