//! What a projection is: a selection of events, a partitioning, and a
//! fold per partition.

use hindsight_store::{Filter, RecordedEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How a projection splits the events it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// One state for everything (partition key `""`).
    Single,
    /// One state per stream (partition key: the stream name).
    ForEachStream,
    /// One state per key the projection names ([`Projection::partition_key`]).
    ByKey,
}

/// A handler's failure on one event (the event is then retried, parked or
/// the projection stops, by its policy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    pub message: String,
    /// Where it was thrown, when the handler is JavaScript.
    pub stack: Option<String>,
}

impl HandlerError {
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError { message: message.into(), stack: None }
    }
}

/// A fold of the log. It must be a pure function of the events it is
/// given (no clock, no randomness, no I/O): then the same events always
/// give the same states, which is what makes rebuilds, dry runs and time
/// travel agree with the live projection.
pub trait Projection: Send + Sync + 'static {
    type State: Clone + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Which events of `$all` it reads.
    fn selects(&self) -> Filter;

    fn partitioning(&self) -> Partitioning {
        Partitioning::Single
    }

    /// The partition of an event under [`Partitioning::ByKey`]; None skips
    /// the event.
    fn partition_key(&self, event: &RecordedEvent) -> Option<String> {
        let _ = event;
        None
    }

    /// A new partition's state.
    fn init(&self) -> Self::State;

    /// Folds one event into its partition's state, in place. On an error
    /// the state must be left as it was: the runner then retries, parks
    /// the event with that state, or stops at it.
    fn apply(&self, state: &mut Self::State, event: &RecordedEvent) -> Result<(), HandlerError>;
}
