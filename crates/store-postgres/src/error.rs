//! PostgreSQL's errors as the contract's.

use hindsight_store::StoreError;

/// A driver error, saying whether the database could not be reached.
pub fn pg(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() || e.as_db_error().is_none() {
        return StoreError::Backend(format!("PostgreSQL is unavailable: {e}"));
    }
    StoreError::Backend(format!("PostgreSQL: {e}"))
}

pub fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Backend(format!("PostgreSQL is unavailable: {e}"))
}
