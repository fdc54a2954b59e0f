//! A look at a PostgreSQL store without migrating it, for `handoff check`: does it answer, and at which
//! schema version is it.

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::schema::latest_version;
use super::{CONNECT_TIMEOUT_MS, backend};
use crate::store::StoreResult;
use crate::store::migrations::{SchemaVersion, steps_after};

/// The schema version the database at `url` records (`None`: none yet, the first start creates the
/// schema) and the one this build knows. Fails when it cannot connect, and with `SchemaTooNew` when a
/// newer build migrated it. Changes nothing.
pub(crate) async fn schema_version(url: &str) -> StoreResult<(Option<SchemaVersion>, SchemaVersion)> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(backend)?;
    config.application_name("handoff check");
    config.connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS));
    let (client, connection) = config.connect(NoTls).await.map_err(backend)?;
    let driver = tokio::spawn(connection);
    let row = client.query_opt("SELECT version FROM schema_version WHERE id = 1", &[]).await;
    drop(client);
    driver.abort();
    let found = match row {
        Ok(row) => row.map(|r| r.get::<_, i32>(0)),
        Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => None,
        Err(e) => return Err(backend(e)),
    };
    let found = found.map(|v| SchemaVersion::try_from(v).unwrap_or(0));
    steps_after(found.unwrap_or(0), latest_version())?;
    Ok((found, latest_version()))
}
