//! Hindsight on PostgreSQL: the storage contract (`hindsight-store`) over
//! a table of events, for when one machine is not enough. Several
//! Hindsight servers may share one database.
//!
//! - `schema`: numbered migrations, applied at open under an advisory lock.
//! - `writer`: group commit; positions gapless and in commit order across
//!   servers (why is explained there); the hash chain.
//! - `head`: following other servers' commits (LISTEN/NOTIFY, and a poll).
//! - `read`: the reader half of the contract, capped at the known head.
//! - `keeping`: projections' definitions, checkpoints and leadership.
//! - `verify`: the hash chain and the tables' agreement, checked row by row.

// Operating errors are handled, never unwrapped (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod chain;
mod error;
mod head;
pub mod keeping;
mod read;
mod row;
pub mod schema;
pub mod scratch;
mod shared;
pub mod verify;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use hindsight_store::{validate_append, AppendPart, AppendResult, EventStore, Limits, StoreError, StoreStatus};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::NoTls;

use crate::error::pg;
use crate::shared::Shared;
pub use crate::writer::APPEND_LOCK;

/// How a store connects and paces itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pooled connections for reads (the writer and the head's listener
    /// have one each besides).
    pub pool_size: usize,
    /// How long a statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
    /// How long to wait for a connection (from the pool, or a new one).
    pub connect_timeout: Duration,
    /// How often the head is read when no notification comes.
    pub poll_interval: Duration,
    /// Appends queued for the writer at most; beyond, `Overloaded`.
    pub queue_depth: usize,
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(500),
            queue_depth: 4_096,
            limits: Limits::default(),
        }
    }
}

/// An [`EventStore`] on PostgreSQL.
pub struct PostgresStore {
    pool: Pool,
    appends: mpsc::Sender<writer::Request>,
    shared: Arc<Shared>,
    limits: Limits,
    closed: AtomicBool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`), applies the
    /// migrations it lacks, and starts the writer and the head's follower.
    pub async fn connect(url: &str, options: Options) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Backend(format!("the PostgreSQL URL {url:?} is invalid: {e}")))?;
        let timeout_ms = options.statement_timeout.as_millis();
        // A server that stalls inside a transaction (holding the append
        // lock) is cut off by PostgreSQL, so the others' appends wait at
        // most this long for the lock, not forever.
        config
            .options(format!("-c statement_timeout={timeout_ms} -c idle_in_transaction_session_timeout={timeout_ms}"));
        config.connect_timeout(options.connect_timeout);
        config.application_name("hindsight");
        let (mut client, connection) = config.connect(NoTls).await.map_err(pg)?;
        tokio::spawn(connection);
        schema::migrate(&mut client).await?;
        let (head, timestamp_us) = head::read(&client).await?;
        let streams = head::count_streams(&client).await?;
        drop(client);
        let shared = Arc::new(Shared {
            config: config.clone(),
            head: watch::Sender::new(head),
            last_timestamp_us: AtomicU64::new(timestamp_us),
            appended: AtomicU64::new(0),
            streams: AtomicU64::new(streams),
            analyzed_at: AtomicU64::new(head),
            unreachable: std::sync::Mutex::new(None),
        });
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Backend(format!("the PostgreSQL pool: {e}")))?;
        let (appends, queue) = mpsc::channel(options.queue_depth.max(1));
        tokio::spawn(writer::run(queue, shared.clone()));
        tokio::spawn(head::follow(shared.clone(), options.poll_interval));
        Ok(PostgresStore { pool, appends, shared, limits: options.limits, closed: AtomicBool::new(false) })
    }

    /// Queues an append and returns once it is queued, in call order, with
    /// a future for its outcome: importers pipeline appends through group
    /// commit and keep them in input order.
    pub async fn enqueue_multi(
        &self,
        parts: Vec<AppendPart>,
    ) -> Result<impl std::future::Future<Output = Result<Vec<AppendResult>, StoreError>>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let parts = validate_append(parts, &self.limits)?;
        let (reply, answer) = oneshot::channel();
        self.appends.send(writer::Request { parts, reply }).await.map_err(|_| StoreError::Closed)?;
        Ok(async move { answer.await.unwrap_or(Err(StoreError::Closed)) })
    }

    async fn submit(&self, parts: Vec<AppendPart>, wait: bool) -> Result<Vec<AppendResult>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let parts = validate_append(parts, &self.limits)?;
        let (reply, answer) = oneshot::channel();
        let request = writer::Request { parts, reply };
        if wait {
            self.appends.send(request).await.map_err(|_| StoreError::Closed)?;
        } else {
            self.appends.try_send(request).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append_multi(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError> {
        self.submit(parts, true).await
    }

    async fn try_append_multi(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError> {
        self.submit(parts, false).await
    }

    fn status(&self) -> StoreStatus {
        StoreStatus {
            kind: "postgres",
            events: *self.shared.head.borrow(),
            streams: self.shared.streams.load(Ordering::Relaxed),
            counters: vec![(
                "hindsight_postgres_events_appended_total",
                "Events this server appended to PostgreSQL.",
                self.shared.appended.load(Ordering::Relaxed),
            )],
            degraded: self.shared.unreachable.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            ..StoreStatus::default()
        }
    }

    fn shutdown(&self) -> Result<(), StoreError> {
        // Every acknowledged append is committed already; refuse new ones.
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}

pub(crate) fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}
