//! A throwaway database for tests and benches: created on the server that
//! `HINDSIGHT_TEST_POSTGRES` names (default: the local one with trust
//! auth, which `scripts/postgres.sh` starts), dropped with its
//! connections when the value is dropped.

use tokio_postgres::NoTls;

/// The server scratch databases are made on, as a URL to its `postgres` database.
pub fn admin_url() -> String {
    std::env::var("HINDSIGHT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that is dropped (with its connections) when this is.
pub struct Database {
    pub name: String,
    pub url: String,
}

impl Database {
    /// Creates `hs_test_<random>`. Panics when the server is unreachable:
    /// only tests and benches make these.
    pub async fn create() -> Database {
        let name = format!("hs_test_{}", uuid::Uuid::now_v7().simple());
        #[allow(clippy::expect_used)]
        let (client, connection) = tokio_postgres::connect(&admin_url(), NoTls).await.expect(
            "PostgreSQL is not reachable: scripts/postgres.sh starts the local server (HINDSIGHT_TEST_POSTGRES names another)",
        );
        tokio::spawn(connection);
        #[allow(clippy::expect_used)]
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("creating a scratch database");
        let base = admin_url();
        let server = base.rfind('/').map_or(base.as_str(), |slash| &base[..slash]);
        let url = format!("{server}/{name}");
        Database { name, url }
    }

    /// Runs SQL on the database as it is (tests use it to tamper).
    pub async fn execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(sql).await
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop needs a runtime of its own: the caller's may be shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok((client, connection)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}
