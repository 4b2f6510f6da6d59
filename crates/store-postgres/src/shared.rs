//! What a store's tasks share: how to connect, and the head as this
//! server knows it (its own commits, and others' through LISTEN/NOTIFY
//! or a poll).

use std::sync::atomic::{AtomicU64, Ordering};

use hindsight_store::StoreError;
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};

use crate::error::pg;

pub struct Shared {
    pub config: tokio_postgres::Config,
    /// One past the last position known committed: reads stop below it.
    pub head: watch::Sender<u64>,
    /// The newest event's timestamp known.
    pub last_timestamp_us: AtomicU64,
    /// Events this server appended, and streams in the store (polled).
    pub appended: AtomicU64,
    pub streams: AtomicU64,
    /// The head when the events table's statistics were last refreshed.
    pub analyzed_at: AtomicU64,
    /// Why the database cannot be reached, while it cannot (the head's
    /// follower and the writer say so; `/ready` reports it).
    pub unreachable: std::sync::Mutex<Option<String>>,
}

impl Shared {
    /// A connection of its own (the writer's, the listener's), driven on a task.
    pub async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(pg)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// Records whether the database answered (`Ok`) or could not be reached.
    pub fn reached(&self, outcome: Result<(), &StoreError>) {
        let mut state = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => *state = None,
            Err(StoreError::Unavailable { reason }) => *state = Some(reason.clone()),
            Err(_) => {}
        }
    }

    /// Moves the head forward (never back) and wakes readers.
    pub fn advance(&self, head: u64, timestamp_us: u64, appended: u64) {
        self.last_timestamp_us.fetch_max(timestamp_us, Ordering::AcqRel);
        self.appended.fetch_add(appended, Ordering::Relaxed);
        self.head.send_if_modified(|h| {
            let moved = head > *h;
            *h = (*h).max(head);
            moved
        });
    }
}
