//! The room log's reads and writes in PostgreSQL.
//!
//! An append is one transaction: its entries go in with one statement (arrays unnested server-side, so
//! a group commit of many rooms is one round trip), its snapshot with another. The log's primary key
//! `(room_id, seq)` makes an entry's place in the log its identity, so no entry is ever stored twice and
//! none is overwritten: a retried append (its first try committed, its answer lost with the
//! connection) finds its entries stored as given and succeeds, writing nothing twice; a clash fails
//! with `Conflict(LogSeq)` and writes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use handoff_protocol::Role;
use handoff_protocol::export::{PresenceEvent, PresenceKind};

use super::{PgStore, db_err};
use crate::store::{Constraint, LogEntry, LogRow, RoomLog, RoomState, Snapshot, StoreError, StoreResult};

/// The columns of `room_log` as `UNNEST` of the arrays `$1`…`$7` yields them, named.
macro_rules! given_rows {
    () => {
        "UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bytea[])
         AS g (room_id, seq, at_ms, author, role, conn_id, update_v1)"
    };
}

/// Inserts log entries (any rooms, any order) in one statement. An entry already stored as given (a
/// retry of an append whose commit landed but whose answer was lost, or a twin earlier in the append) is
/// written once; one whose (room, seq) holds a different entry fails with `Conflict(LogSeq)`, and the
/// caller's transaction then writes nothing.
pub(super) async fn insert_entries(c: &impl GenericClient, entries: &[LogEntry]) -> StoreResult<()> {
    let entries = distinct(entries)?;
    if entries.is_empty() {
        return Ok(());
    }
    let rooms: Vec<&str> = entries.iter().map(|e| &*e.room_id).collect();
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq as i64).collect();
    let times: Vec<i64> = entries.iter().map(|e| e.at_ms as i64).collect();
    let authors: Vec<&str> = entries.iter().map(|e| &*e.author).collect();
    let roles: Vec<&str> = entries.iter().map(|e| e.role.map_or("system", Role::as_str)).collect();
    let conns: Vec<i64> = entries.iter().map(|e| e.conn_id as i64).collect();
    let updates: Vec<&[u8]> = entries.iter().map(|e| &e.update[..]).collect();
    let arrays: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
        [&rooms, &seqs, &times, &authors, &roles, &conns, &updates];
    let insert = c
        .prepare_cached(concat!(
            "INSERT INTO room_log (room_id, seq, at_ms, author, role, conn_id, update_v1) SELECT * FROM ",
            given_rows!(),
            " ON CONFLICT (room_id, seq) DO NOTHING"
        ))
        .await
        .map_err(db_err)?;
    let inserted = c.execute(&insert, &arrays).await.map_err(db_err)?;
    if inserted == entries.len() as u64 {
        return Ok(());
    }
    // Some were stored already (a concurrent append of the same seq waited for, too): a retry if each
    // is stored exactly as given, else a clash.
    let alike = c
        .prepare_cached(concat!(
            "SELECT COUNT(*) FROM ",
            given_rows!(),
            " JOIN room_log l ON l.room_id = g.room_id AND l.seq = g.seq
             WHERE l.at_ms = g.at_ms AND l.author = g.author AND l.role = g.role AND l.conn_id = g.conn_id
               AND l.update_v1 = g.update_v1"
        ))
        .await
        .map_err(db_err)?;
    let stored_alike: i64 = c.query_one(&alike, &arrays).await.map_err(db_err)?.get(0);
    if stored_alike != entries.len() as i64 {
        return Err(StoreError::Conflict { constraint: Constraint::LogSeq, source: None });
    }
    Ok(())
}

/// The entries with twins (same room and seq, same entry) dropped; fails with `Conflict(LogSeq)` for two
/// different entries at one (room, seq). One insert statement could not tell them apart: it skips both.
fn distinct(entries: &[LogEntry]) -> StoreResult<Vec<&LogEntry>> {
    let mut seen: HashMap<(&str, u64), &LogEntry> = HashMap::with_capacity(entries.len());
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        match seen.insert((&e.room_id, e.seq), e) {
            Some(twin) if !twin.same_record(e) => {
                return Err(StoreError::Conflict { constraint: Constraint::LogSeq, source: None });
            }
            Some(_) => {}
            None => out.push(e),
        }
    }
    Ok(out)
}

#[async_trait]
impl RoomLog for PgStore {
    async fn append(&self, entries: Vec<LogEntry>, snapshot: Option<Snapshot>) -> StoreResult<()> {
        let mut c = self.client().await?;
        let txn = c.transaction().await.map_err(db_err)?;
        insert_entries(&txn, &entries).await?;
        if let Some(s) = snapshot {
            let stmt = txn
                .prepare_cached(
                    "INSERT INTO room_snapshots (room_id, upto_seq, at_ms, state_v1) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (room_id) DO UPDATE SET upto_seq = excluded.upto_seq,
                         at_ms = excluded.at_ms, state_v1 = excluded.state_v1
                     WHERE excluded.upto_seq > room_snapshots.upto_seq",
                )
                .await
                .map_err(db_err)?;
            txn.execute(&stmt, &[&&*s.room_id, &(s.upto_seq as i64), &(s.at_ms as i64), &s.state])
                .await
                .map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)
    }

    async fn load_room(&self, room_id: &str) -> StoreResult<RoomState> {
        let mut c = self.client().await?;
        // One snapshot of the database for both reads: a concurrent append with a snapshot cannot
        // make the tail skip or repeat what the snapshot covers.
        let txn = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_err)?;
        let snapshot = txn
            .query_opt("SELECT upto_seq, at_ms, state_v1 FROM room_snapshots WHERE room_id = $1", &[&room_id])
            .await
            .map_err(db_err)?
            .map(|r| -> StoreResult<Snapshot> {
                Ok(Snapshot {
                    room_id: Arc::from(room_id),
                    upto_seq: r.try_get::<_, i64>(0).map_err(db_err)? as u64,
                    at_ms: r.try_get::<_, i64>(1).map_err(db_err)? as u64,
                    state: r.try_get(2).map_err(db_err)?,
                })
            })
            .transpose()?;
        let after = snapshot.as_ref().map_or(0, |s| s.upto_seq) as i64;
        let stmt = txn
            .prepare_cached(
                "SELECT seq, update_v1 FROM room_log WHERE room_id = $1 AND seq > $2 ORDER BY seq",
            )
            .await
            .map_err(db_err)?;
        let tail = txn
            .query(&stmt, &[&room_id, &after])
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(0).map_err(db_err)? as u64, r.try_get(1).map_err(db_err)?)))
            .collect::<StoreResult<_>>()?;
        txn.commit().await.map_err(db_err)?;
        Ok(RoomState { snapshot, tail })
    }

    async fn room_log(&self, room_id: &str) -> StoreResult<Vec<LogRow>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT seq, at_ms, author, role, conn_id, update_v1 FROM room_log WHERE room_id = $1
                 ORDER BY seq",
                &[&room_id],
            )
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(LogRow {
                    seq: r.try_get::<_, i64>(0).map_err(db_err)? as u64,
                    at_ms: r.try_get::<_, i64>(1).map_err(db_err)? as u64,
                    author: r.try_get(2).map_err(db_err)?,
                    role: Role::parse(r.try_get(3).map_err(db_err)?),
                    conn_id: r.try_get::<_, i64>(4).map_err(db_err)? as u64,
                    update: r.try_get(5).map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn last_seq(&self, room_id: &str) -> StoreResult<u64> {
        let c = self.client().await?;
        let row = c
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM room_log WHERE room_id = $1", &[&room_id])
            .await
            .map_err(db_err)?;
        Ok(row.try_get::<_, i64>(0).map_err(db_err)? as u64)
    }

    async fn record_presence(&self, room_id: &str, e: PresenceEvent) -> StoreResult<()> {
        let c = self.client().await?;
        // Cached: every join and leave writes one, a hundred at once in a join storm.
        let stmt = c
            .prepare_cached(
                "INSERT INTO room_presence (room_id, at_ms, kind, name, role, conn_id)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await
            .map_err(db_err)?;
        c.execute(
            &stmt,
            &[&room_id, &(e.at_ms as i64), &e.kind.as_str(), &e.name, &e.role.as_str(), &(e.conn_id as i64)],
        )
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn presence(&self, room_id: &str) -> StoreResult<Vec<PresenceEvent>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT at_ms, kind, name, role, conn_id FROM room_presence WHERE room_id = $1
                 ORDER BY at_ms, id",
                &[&room_id],
            )
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let kind: &str = r.try_get(1).map_err(db_err)?;
                Ok(PresenceEvent {
                    at_ms: r.try_get::<_, i64>(0).map_err(db_err)? as u64,
                    kind: PresenceKind::parse(kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("presence kind {kind:?}")))?,
                    name: r.try_get(2).map_err(db_err)?,
                    role: Role::parse(r.try_get(3).map_err(db_err)?).unwrap_or(Role::Observer),
                    conn_id: r.try_get::<_, i64>(4).map_err(db_err)? as u64,
                })
            })
            .collect()
    }
}
