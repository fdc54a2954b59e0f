//! A fresh PostgreSQL database for one test, dropped afterwards. Tests that need PostgreSQL fail when
//! it is missing, never skip: `.ci/run` installs and starts it.

use tokio_postgres::NoTls;

/// The server's maintenance database URL the tests create their databases through.
pub(crate) const ADMIN_URL_VAR: &str = "HANDOFF_TEST_POSTGRES_URL";

/// PostgreSQL on this machine with trust auth for local TCP, as `.ci/run` sets it up.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database named `handoff_test_<random>`, created empty; dropping the value drops the database,
/// closing whatever connections still use it.
#[derive(Debug)]
pub(crate) struct TestDatabase {
    admin: String,
    name: String,
    /// The database's URL, as `--store` takes it.
    pub(crate) url: String,
}

impl TestDatabase {
    pub(crate) async fn create() -> TestDatabase {
        let admin = std::env::var(ADMIN_URL_VAR).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let (client, conn) = tokio_postgres::connect(&admin, NoTls).await.unwrap_or_else(|e| {
            panic!(
                "this test needs PostgreSQL at {admin} (set {ADMIN_URL_VAR}; .ci/run installs and starts it): {}",
                super::Described(e)
            )
        });
        tokio::spawn(conn);
        let name = format!("handoff_test_{}", uuid::Uuid::new_v4().simple());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        // The admin URL names its database last (`…/postgres`); the test's replaces it.
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        TestDatabase { admin, name, url }
    }
}

impl Drop for TestDatabase {
    /// On a thread of its own: drop cannot await, and the test's runtime may be stopping.
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let (client, conn) = tokio_postgres::connect(&admin, NoTls).await?;
                tokio::spawn(conn);
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("dropping the test database failed: {e}");
        }
    }
}
