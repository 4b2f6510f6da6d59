//! The write side of the storage contract: [`EventStore`] and the values
//! it deals in.

use async_trait::async_trait;

use crate::{EventReader, ExpectedVersion, NewEvent, StoreError};

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

/// The storage contract: reads ([`EventReader`]) plus appends, status
/// and shutdown. Every backend implements it and passes
/// [`crate::conformance`]; everything above the storage layer (server,
/// projections, time travel) talks only to these traits.
#[async_trait]
pub trait EventStore: EventReader {
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

    /// Like [`EventStore::append_multi`], but fails at once with
    /// [`StoreError::Overloaded`] instead of waiting when the backend's
    /// append queue is full, so a server can tell its client to retry
    /// later rather than queue without bound.
    async fn try_append_multi(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError> {
        self.append_multi(parts).await
    }

    /// Counts, health and metrics.
    fn status(&self) -> StoreStatus;

    /// Finishes queued appends and makes the store's state durable (for a
    /// graceful shutdown). Blocks; later appends fail with `Closed`.
    fn shutdown(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
