//! A fresh PostgreSQL database per test, on the server `HANDOFF_TEST_POSTGRES_URL` names (default
//! 127.0.0.1:5432 as user postgres, trust auth), dropped afterwards. Without PostgreSQL the test fails,
//! never skips: `.ci/run` installs and starts it.

use tokio_postgres::NoTls;

const ADMIN_URL_VAR: &str = "HANDOFF_TEST_POSTGRES_URL";
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database, dropped (with whatever still connects to it) when the value is.
pub struct Database {
    admin: String,
    pub name: String,
    /// The database's URL, as `--store` takes it.
    pub url: String,
}

impl Database {
    pub async fn create() -> Database {
        let admin = std::env::var(ADMIN_URL_VAR).unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let client = connect(&admin).await;
        let name = format!("handoff_test_{}", uuid::Uuid::new_v4().simple());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
        Database { url: format!("{base}/{name}"), admin, name }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        let (_, rest) = self.url.split_once('@').unwrap();
        let (authority, _) = rest.split_once('/').unwrap();
        authority.rsplit_once(':').map_or(5432, |(_, port)| port.parse().unwrap())
    }

    /// The URL through another port on loopback (a proxy in front of the server).
    pub fn url_via(&self, port: u16) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap();
        let (user, rest) = rest.split_once('@').unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme}://{user}@127.0.0.1:{port}/{path}")
    }

    /// The URL with a password in it; trust auth ignores it, so it only has to stay out of sight.
    pub fn url_with_password(&self, password: &str) -> String {
        self.url.replacen("postgres@", &format!("postgres:{password}@"), 1)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let client = connect(&admin).await;
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            });
        })
        .join();
    }
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| {
        panic!(
            "this test needs PostgreSQL at {url} (set {ADMIN_URL_VAR}; .ci/run installs and starts it): {e:?}"
        )
    });
    tokio::spawn(conn);
    client
}
