//! PostgreSQL's errors as the contract's: a server that cannot be reached,
//! is shutting down or starting, or a statement that ran past its timeout,
//! is `Unavailable` (503 with Retry-After: the client retries); anything
//! else is a backend error.

use hindsight_store::StoreError;
use tokio_postgres::error::SqlState;

pub fn pg(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: the connection failed or was lost.
        return StoreError::Unavailable { reason: format!("PostgreSQL: {e}") };
    };
    let code = db.code();
    let transient = code.code().starts_with("08")
        || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW, SqlState::QUERY_CANCELED]
            .contains(code)
        || *code == SqlState::TOO_MANY_CONNECTIONS;
    if transient {
        return StoreError::Unavailable { reason: format!("PostgreSQL: {}", db.message()) };
    }
    StoreError::Backend(format!("PostgreSQL: {} ({})", db.message(), code.code()))
}

/// No pooled connection could be had in time (or made).
pub fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        other => StoreError::Unavailable { reason: format!("PostgreSQL: {other}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_unavailable() {
        // Port 1 on loopback: nothing listens there.
        let e = tokio_postgres::connect("postgres://x@127.0.0.1:1/x", tokio_postgres::NoTls).await.err();
        let e = pg(e.expect("nothing listens on port 1"));
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
        assert_eq!(e.code(), "unavailable");
    }
}
