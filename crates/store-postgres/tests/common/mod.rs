//! A fresh database per test on the PostgreSQL the test script makes
//! sure runs (`HINDSIGHT_TEST_POSTGRES`, default the local server with
//! trust auth), dropped when the test ends.
#![allow(dead_code)]

use std::sync::Arc;

use hindsight_store::conformance::Fixture;
use hindsight_store_postgres::{Options, PostgresStore};
use tokio_postgres::NoTls;

pub fn admin_url() -> String {
    std::env::var("HINDSIGHT_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that is dropped (with its connections) when this is.
pub struct Database {
    pub name: String,
    pub url: String,
}

impl Database {
    pub async fn create() -> Database {
        let name = format!("hs_test_{}", uuid::Uuid::new_v4().simple());
        let (client, connection) = tokio_postgres::connect(&admin_url(), NoTls).await.expect(
            "PostgreSQL is not reachable: scripts/postgres.sh starts the local server (HINDSIGHT_TEST_POSTGRES names another)",
        );
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        let base = admin_url();
        let url = format!("{}/{name}", &base[..base.rfind('/').expect("a database in the URL")]);
        Database { name, url }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop needs a runtime of its own: the test's may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
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

pub async fn store(db: &Database) -> PostgresStore {
    let options = Options { poll_interval: std::time::Duration::from_millis(50), ..Options::default() };
    PostgresStore::connect(&db.url, options).await.expect("connect")
}

pub async fn fresh() -> Fixture {
    let db = Database::create().await;
    let store = store(&db).await;
    Fixture { store: Arc::new(store), guard: Box::new(db) }
}
