//! The `EventStore` trait and the values it returns.

use async_trait::async_trait;
use tokio::sync::watch;

use crate::{ExpectedVersion, Filter, NewEvent, RecordedEvent, StoreError};

/// One stream's share of an append: its expectation and its events.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendPart {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
}

/// Where one stream's events of an append were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub first_position: u64,
    pub last_position: u64,
    /// The version of the last event written: pass it as
    /// `ExpectedVersion::Exact` to append after it.
    pub next_expected_version: u64,
}

/// What a stream holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub stream: String,
    pub last_version: u64,
    pub first_position: u64,
    pub last_position: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// A page of `$all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllSlice {
    pub events: Vec<RecordedEvent>,
    /// Where to continue reading: one past the last position examined
    /// (which, with a filter, may be past the last event returned).
    pub next_position: u64,
    /// True when the read reached the end of the log.
    pub end_of_log: bool,
}

/// A cumulative histogram (Prometheus-style: `counts[i]` observations at
/// or below `bounds[i]`, the last bound being infinity).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub name: &'static str,
    pub help: &'static str,
    pub bounds: Vec<f64>,
    pub cumulative_counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

/// What a backend reports about itself for `/ready`, `/v1/info` and
/// `/metrics`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoreStatus {
    pub kind: &'static str,
    pub events: u64,
    pub streams: u64,
    /// None while the store accepts writes; why not, otherwise (a
    /// permanent state: only a restart ends it).
    pub refusing_writes: Option<String>,
    /// None while the store is fully healthy; otherwise why not, although
    /// it still accepts writes (a full disk, failing index writes). It ends
    /// by itself.
    pub degraded: Option<String>,
    /// (name, help, value) of monotonically increasing totals.
    pub counters: Vec<(&'static str, &'static str, u64)>,
    pub histograms: Vec<Histogram>,
}

/// The storage contract. Every backend implements it, and every backend
/// passes [`crate::conformance`]. Everything above the storage layer
/// (server, projections, time travel) talks only to this trait.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends to several streams atomically: every part's expectation
    /// holds and all events are stored, or nothing is. Acknowledged means
    /// durable. Re-sending an append whose event ids are all stored at the
    /// same places returns the original results and writes nothing.
    async fn append_multi(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError>;

    /// Appends to one stream; see [`EventStore::append_multi`].
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        let part = AppendPart { stream: stream.to_string(), expected, events };
        let mut results = self.append_multi(vec![part]).await?;
        results.pop().ok_or_else(|| StoreError::Backend("append returned no result".into()))
    }

    /// Reads up to `limit` events of a stream from version `from`
    /// (inclusive; None: the first event going forward, the last going
    /// backward). A stream that does not exist reads as empty.
    async fn read_stream(
        &self,
        stream: &str,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `limit` events of `$all` matching `filter`, from
    /// position `from` (inclusive), in position order.
    async fn read_all(&self, from: u64, limit: usize, filter: &Filter) -> Result<AllSlice, StoreError>;

    /// None when the stream does not exist.
    async fn stream_info(&self, stream: &str) -> Result<Option<StreamInfo>, StoreError>;

    /// The first position whose timestamp is at or after `timestamp_us`;
    /// None when every event is older.
    async fn position_at(&self, timestamp_us: u64) -> Result<Option<u64>, StoreError>;

    /// Like [`EventStore::append_multi`], but answers None at once instead
    /// of waiting when the backend's append queue is full, so a server can
    /// tell its client to retry later rather than queue without bound.
    async fn try_append_multi(&self, parts: Vec<AppendPart>) -> Option<Result<Vec<AppendResult>, StoreError>> {
        Some(self.append_multi(parts).await)
    }

    /// Counts, health and metrics.
    fn status(&self) -> StoreStatus;

    /// Finishes queued appends and makes the store's state durable (for a
    /// graceful shutdown). Blocks; later appends fail with `Closed`.
    fn shutdown(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// One past the last committed position: the number of events stored.
    fn next_position(&self) -> u64;

    /// Watches [`EventStore::next_position`]; it changes only after the
    /// events below it are durable and readable. Closes when the store does.
    fn watch_next_position(&self) -> watch::Receiver<u64>;

    /// About how many bytes the log holds from position `from` up to
    /// `to` (exclusive), when the backend can tell cheaply; a server uses
    /// it to drop a subscriber that falls too far behind. None: unknown.
    fn log_bytes_between(&self, from: u64, to: u64) -> Option<u64> {
        let _ = (from, to);
        None
    }
}
