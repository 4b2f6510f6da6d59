//! A fresh database per test (see `scratch`), dropped when the test ends.
#![allow(dead_code)]

use std::sync::Arc;

use hindsight_store::conformance::Fixture;
pub use hindsight_store_postgres::scratch::Database;
use hindsight_store_postgres::{Options, PostgresStore};

pub async fn store(db: &Database) -> PostgresStore {
    let options = Options { poll_interval: std::time::Duration::from_millis(50), ..Options::default() };
    PostgresStore::connect(&db.url, options).await.expect("connect")
}

pub async fn fresh() -> Fixture {
    let db = Database::create().await;
    let store = store(&db).await;
    Fixture { store: Arc::new(store), guard: Box::new(db) }
}
