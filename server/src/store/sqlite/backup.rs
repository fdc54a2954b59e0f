//! Copies of the database file for `handoff backup` and `handoff restore` (the files and the locking
//! are the command's; what a database holds is this module's).
//!
//! The copy is `VACUUM INTO`: it reads the whole database inside one read transaction, so the copy is
//! the database as of one commit, and in WAL mode that read blocks no writer — the running server keeps
//! committing while it is taken. The online backup API would do the same with a feature more to build,
//! and when it copies step by step a commit from the server restarts it.
//!
//! A backup carries the data dir's generated secrets in a table of its own ([`SECRETS_TABLE`]), so one
//! file restores a data dir whose room links and tokens still verify; a restore takes that table out
//! before the file becomes the store.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::schema::latest_version;
use super::tuning::BUSY_TIMEOUT_MS;
use crate::store::migrations::{SchemaVersion, steps_after};
use crate::store::{StoreError, StoreResult};

/// The table of a backup holding the data dir's secrets: `name` is the file's, `value` its content.
const SECRETS_TABLE: &str = "handoff_backup_secrets";

/// What a database file holds, as a backup or a restore reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Contents {
    /// The recorded schema version (0 for a database from before versions were recorded).
    pub(crate) version: SchemaVersion,
    pub(crate) submissions: u64,
    pub(crate) rooms: u64,
    /// Rows of voice recordings: their audio is in files beside the store, not in it.
    pub(crate) recordings: u64,
}

impl Contents {
    /// Whether the store holds anything a restore would overwrite.
    pub(crate) fn is_empty(&self) -> bool {
        self.submissions == 0 && self.rooms == 0
    }
}

/// The schema version this build brings a database to.
pub(crate) fn known_version() -> SchemaVersion {
    latest_version()
}

/// Opens an existing database file; never creates one.
fn open_existing(path: &Path) -> StoreResult<Connection> {
    if !path.is_file() {
        return Err(StoreError::backend(format!("{} does not exist", path.display())));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(super::db_err)?;
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(super::db_err)?;
    Ok(conn)
}

fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?.exists([table])
}

fn count(conn: &Connection, table: &str) -> rusqlite::Result<u64> {
    if !has_table(conn, table)? {
        return Ok(0);
    }
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
}

/// Reads what the database at `path` holds, without changing it. Fails when the file is not a handoff
/// store, and with [`StoreError::SchemaTooNew`] when a newer build migrated it.
pub(crate) fn inspect(path: &Path) -> StoreResult<Contents> {
    let not_a_store =
        |why: String| StoreError::Corrupt(format!("{} is not a handoff store: {why}", path.display()));
    let conn = open_existing(path)?;
    // A file that is not SQLite fails its first read ("file is not a database").
    let has_rooms = has_table(&conn, "rooms").map_err(|e| not_a_store(e.to_string()))?;
    if !has_rooms || !has_table(&conn, "submissions").map_err(super::db_err)? {
        return Err(not_a_store("it has no rooms or submissions table".into()));
    }
    let version: Option<SchemaVersion> = if has_table(&conn, "schema_version").map_err(super::db_err)? {
        conn.query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(super::db_err)?
    } else {
        None
    };
    let version = version.unwrap_or(0);
    steps_after(version, latest_version())?;
    let counted = |table| count(&conn, table).map_err(super::db_err);
    Ok(Contents {
        version,
        submissions: counted("submissions")?,
        rooms: counted("rooms")?,
        recordings: counted("room_recordings")?,
    })
}

/// Writes a consistent copy of the store at `src` into `dest`, an empty file, with the data dir's
/// `secrets` (file name, content) in it; returns what the copy holds. `dest` is left a single file
/// (rollback journal, not WAL), ready to move.
pub(crate) fn back_up(src: &Path, dest: &Path, secrets: &[(String, String)]) -> StoreResult<Contents> {
    inspect(src)?;
    let target = dest
        .to_str()
        .ok_or_else(|| StoreError::backend(format!("{} is not a UTF-8 path", dest.display())))?;
    open_existing(src)?.execute("VACUUM INTO ?1", [target]).map_err(super::db_err)?;
    let mut copy = open_existing(dest)?;
    copy.pragma_update(None, "journal_mode", "DELETE").map_err(super::db_err)?;
    let txn = copy.transaction().map_err(super::db_err)?;
    txn.execute_batch(&format!("CREATE TABLE {SECRETS_TABLE} (name TEXT PRIMARY KEY, value TEXT NOT NULL)"))
        .map_err(super::db_err)?;
    for (name, value) in secrets {
        txn.execute(&format!("INSERT INTO {SECRETS_TABLE} (name, value) VALUES (?1, ?2)"), [name, value])
            .map_err(super::db_err)?;
    }
    txn.commit().map_err(super::db_err)?;
    drop(copy);
    inspect(dest)
}

/// Takes the secrets out of a copy of a backup (file name, content), leaving it a plain store. A
/// backup without the table (a plain database file) has none.
pub(crate) fn take_secrets(copy: &Path) -> StoreResult<Vec<(String, String)>> {
    let mut conn = open_existing(copy)?;
    if !has_table(&conn, SECRETS_TABLE).map_err(super::db_err)? {
        return Ok(Vec::new());
    }
    let txn = conn.transaction().map_err(super::db_err)?;
    let secrets = txn
        .prepare(&format!("SELECT name, value FROM {SECRETS_TABLE} ORDER BY name"))
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(super::db_err)?;
    txn.execute_batch(&format!("DROP TABLE {SECRETS_TABLE}")).map_err(super::db_err)?;
    txn.commit().map_err(super::db_err)?;
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::submission;
    use crate::store::{Catalog, SqliteStore};

    #[tokio::test]
    async fn a_backup_holds_the_store_and_the_secrets_and_a_restore_takes_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("handoff.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.insert_submission(submission("sub", 1)).await.unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::File::create(&copy).unwrap();
        let secrets = vec![("token-secret".to_owned(), "abc".to_owned())];
        let contents = back_up(&path, &copy, &secrets).unwrap();
        assert_eq!((contents.version, contents.submissions, contents.rooms), (latest_version(), 1, 0));
        assert_eq!(take_secrets(&copy).unwrap(), secrets);
        assert!(take_secrets(&copy).unwrap().is_empty(), "taken out");
        assert!(!inspect(&copy).unwrap().is_empty());
    }

    #[test]
    fn a_file_that_is_not_a_store_and_a_newer_schema_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not a database at all, just some bytes to read").unwrap();
        assert!(inspect(&junk).unwrap_err().to_string().contains("not a handoff store"));
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        assert!(inspect(&other).unwrap_err().to_string().contains("not a handoff store"));
        let newer = dir.path().join("newer.db");
        let mut conn = Connection::open(&newer).unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute("UPDATE schema_version SET version = ?1", [latest_version() + 1]).unwrap();
        assert!(matches!(inspect(&newer), Err(StoreError::SchemaTooNew { .. })));
    }
}
