//! The PostgreSQL store (`postgres://…`), the shared store of a cluster: several nodes may open one
//! database at once.
//!
//! A small pool of connections (deadpool) over tokio-postgres, the maintained async driver. Each call
//! takes a connection for one statement or one transaction; every rule the SQLite store keeps is a
//! constraint here too (unique keys, foreign keys, one live room per submission as a partial unique
//! index), so concurrent nodes cannot break it either. Errors map to the same `StoreError` variants by
//! the constraint the database names. Each concern of the store is implemented in its own file.

mod catalog;
mod interview;
mod private;
pub(crate) mod probe;
mod recordings;
mod room_log;
mod schema;
#[cfg(test)]
pub(crate) mod test_db;
#[cfg(test)]
mod tests;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use handoff_protocol::api::RoomStatus;
use handoff_protocol::interview::RoomOptions;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use super::{Constraint, Missing, RoomRecord, Store, StoreError, StoreResult};

/// Connections the pool keeps open at most. Past it, a call waits for one to come back (up to
/// [`POOL_WAIT_MS`]). Rooms group their updates into one append per commit window, so a node's write
/// load is a few transactions per window, not one per keystroke.
const POOL_SIZE: usize = 16;

/// Milliseconds a call waits for a pooled connection (or for a new one to be made) before failing
/// with a backend error: the API answers 503 and the room retries its commit, rather than hanging.
const POOL_WAIT_MS: u64 = 5_000;

/// Milliseconds to establish a new connection before giving up on it.
const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// The PostgreSQL store; cheap to share (the pool is reference counted).
pub(crate) struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    /// Without the pool's configuration, which holds the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool.status()).finish_non_exhaustive()
    }
}

/// A driver error shown with its causes: tokio-postgres shows only its kind ("db error"), and callers
/// log a store error by its display alone, which would hide what the server said.
#[derive(Debug)]
struct Described(tokio_postgres::Error);

impl std::fmt::Display for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(&self.0);
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl std::error::Error for Described {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A driver failure that breaks no rule of the store.
fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::backend(Described(e))
}

/// A PostgreSQL error as the store reports it, the error kept as its cause: a broken unique key is the
/// `Conflict` its constraint stands for, and a broken foreign key a `NotFound` of what the write refers
/// to. Every foreign key but one references `rooms(id)`; the one in `rooms` references
/// `submissions(id)`, so a write that inserts a room passes `Missing::Submission`, and every other
/// `Missing::Room`.
fn db_error(e: tokio_postgres::Error, refers_to: Missing) -> StoreError {
    let Some(db) = e.as_db_error() else { return backend(e) };
    if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
        return StoreError::NotFound { missing: refers_to, source: Some(Box::new(e)) };
    }
    if *db.code() == SqlState::UNIQUE_VIOLATION {
        let constraint = match db.constraint() {
            Some("submissions_pkey") => Constraint::SubmissionId,
            Some("rooms_pkey") => Constraint::RoomId,
            Some("rooms_one_live_per_submission") => Constraint::OneLiveRoom,
            Some("room_log_pkey") => Constraint::LogSeq,
            _ => return backend(e),
        };
        return StoreError::Conflict { constraint, source: Some(Box::new(e)) };
    }
    backend(e)
}

/// A PostgreSQL error from a statement that references no other row, or only a room.
fn db_err(e: tokio_postgres::Error) -> StoreError {
    db_error(e, Missing::Room)
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        deadpool_postgres::PoolError::Closed => StoreError::Closed,
        other => StoreError::backend(other),
    }
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names and brings its schema up to this build's
    /// version (`schema.rs`), or refuses a newer one.
    pub(crate) async fn open(url: &str) -> StoreResult<PgStore> {
        // The parse error never repeats the URL (it may hold a password).
        let mut config = tokio_postgres::Config::from_str(url).map_err(backend)?;
        if config.get_application_name().is_none() {
            config.application_name("handoff");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            // Fast: a connection the server closed (a restart) is noticed by its connection task and
            // dropped at checkout (tried: every call after a PostgreSQL restart succeeded); only one that
            // breaks silently fails its next statement once. Checking each checkout with a query would
            // double the round trips.
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let wait = Some(Duration::from_millis(POOL_WAIT_MS));
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(wait)
            .create_timeout(wait)
            .build()
            .map_err(StoreError::backend)?;
        let store = PgStore { pool };
        let mut client = store.client().await?;
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_err)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.client().await?.simple_query("SELECT 1").await.map_err(db_err)?;
        Ok(())
    }
}

/// The columns `room_from_row` reads, as a macro so queries are string literals.
macro_rules! room_columns {
    () => {
        "id, submission_id, status, interviewer, voice, created_at_ms, ended_at_ms, duration_min, \
         candidate_sees_integrity, record_voice"
    };
}
use room_columns;

fn room_from_row(row: &Row) -> StoreResult<RoomRecord> {
    let status: &str = row.try_get(2).map_err(db_err)?;
    let id: String = row.try_get(0).map_err(db_err)?;
    let status = RoomStatus::parse(status)
        .ok_or_else(|| StoreError::Corrupt(format!("room {id}: unknown status {status:?}")))?;
    Ok(RoomRecord {
        submission_id: row.try_get(1).map_err(db_err)?,
        status,
        interviewer: row.try_get(3).map_err(db_err)?,
        voice: row.try_get(4).map_err(db_err)?,
        created_at_ms: row.try_get::<_, i64>(5).map_err(db_err)? as u64,
        ended_at_ms: row.try_get::<_, Option<i64>>(6).map_err(db_err)?.map(|v| v as u64),
        options: RoomOptions {
            duration_min: row.try_get::<_, Option<i64>>(7).map_err(db_err)?.map(|v| v as u32),
            candidate_sees_integrity: row.try_get(8).map_err(db_err)?,
        },
        record_voice: row.try_get(9).map_err(db_err)?,
        id,
    })
}

/// A submission's live room, on a connection or inside a transaction.
async fn live_room(c: &impl GenericClient, submission_id: &str) -> StoreResult<Option<RoomRecord>> {
    // Cached: the per-connection checks run for every WebSocket handshake.
    let stmt = c
        .prepare_cached(concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms WHERE submission_id = $1 AND status = 'live'"
        ))
        .await
        .map_err(db_err)?;
    let row = c.query_opt(&stmt, &[&submission_id]).await.map_err(db_err)?;
    row.as_ref().map(room_from_row).transpose()
}
