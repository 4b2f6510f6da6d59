//! What the runner drives: a fold that keeps its partitions' states
//! wherever suits it. A Rust [`Projection`] keeps them in a map of typed
//! values ([`RustFold`]); a JavaScript one keeps them inside its sandbox
//! ([`crate::js::JsFold`]) and turns them into JSON only when asked,
//! because converting a state on every event would cost more than the
//! handler.

use std::borrow::Cow;
use std::collections::BTreeMap;

use hindsight_store::{Filter, RecordedEvent};
use serde_json::value::RawValue;

use crate::{HandlerError, Partitioning, Projection};

/// A fold of the log into partitioned states.
pub trait Fold {
    /// Which events of `$all` it reads.
    fn selects(&self) -> Filter;

    /// The partition an event belongs to; None skips the event. An error
    /// is a failure on that event, like a handler's.
    fn partition<'e>(&mut self, event: &'e RecordedEvent) -> Result<Option<Cow<'e, str>>, HandlerError>;

    /// Folds `event` into `partition` (created from the initial state when
    /// new). On an error the partition is left exactly as it was.
    fn apply(&mut self, partition: &str, event: &RecordedEvent) -> Result<(), HandlerError>;

    /// Folds a run of events in order: Err((i, error)) when event `i`
    /// failed (left as it was); those before it are folded, those after
    /// it are not looked at. A fold that emits output and overrides this
    /// keeps the output of the events before `i` for `take_emitted`.
    fn apply_batch(&mut self, events: &[RecordedEvent]) -> Result<(), (usize, HandlerError)> {
        for (i, e) in events.iter().enumerate() {
            if let Some(key) = self.partition(e).map_err(|x| (i, x))? {
                self.apply(&key, e).map_err(|x| (i, x))?;
            }
        }
        Ok(())
    }

    /// A partition's state as JSON (what `apply` would start from: the
    /// initial state when the partition does not exist yet, if `or_init`).
    fn state(&mut self, partition: &str, or_init: bool) -> Option<serde_json::Value>;

    /// Partition keys after `after`, in order, at most `limit`.
    fn partitions(&self, after: Option<&str>, limit: usize) -> Vec<String>;

    fn partition_count(&self) -> usize;

    /// Every partition's state as one JSON object (for the checkpoint).
    fn save(&mut self) -> Result<Box<RawValue>, HandlerError>;

    /// Replaces every state with those of a JSON object written by `save`.
    fn load(&mut self, states: &RawValue) -> Result<(), HandlerError>;

    /// The derived events the last successful `apply` emitted.
    fn take_emitted(&mut self) -> Vec<Emitted> {
        Vec::new()
    }

    /// True when every event's partition is its stream (`foreachStream`):
    /// a partition's events are then that stream's.
    fn partitions_are_streams(&self) -> bool {
        false
    }
}

/// A fold chosen at run time (one sandbox or several).
impl Fold for Box<dyn Fold> {
    fn selects(&self) -> Filter {
        (**self).selects()
    }
    fn partition<'e>(&mut self, event: &'e RecordedEvent) -> Result<Option<Cow<'e, str>>, HandlerError> {
        (**self).partition(event)
    }
    fn apply(&mut self, partition: &str, event: &RecordedEvent) -> Result<(), HandlerError> {
        (**self).apply(partition, event)
    }
    fn apply_batch(&mut self, events: &[RecordedEvent]) -> Result<(), (usize, HandlerError)> {
        (**self).apply_batch(events)
    }
    fn state(&mut self, partition: &str, or_init: bool) -> Option<serde_json::Value> {
        (**self).state(partition, or_init)
    }
    fn partitions(&self, after: Option<&str>, limit: usize) -> Vec<String> {
        (**self).partitions(after, limit)
    }
    fn partition_count(&self) -> usize {
        (**self).partition_count()
    }
    fn save(&mut self) -> Result<Box<RawValue>, HandlerError> {
        (**self).save()
    }
    fn load(&mut self, states: &RawValue) -> Result<(), HandlerError> {
        (**self).load(states)
    }
    fn take_emitted(&mut self) -> Vec<Emitted> {
        (**self).take_emitted()
    }
    fn partitions_are_streams(&self) -> bool {
        (**self).partitions_are_streams()
    }
}

/// A derived event a projection emitted while folding the event at
/// `position` (its `index`-th for that event).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Emitted {
    pub position: u64,
    pub index: u32,
    pub stream: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
}

/// A Rust [`Projection`] with its states, as a [`Fold`].
pub struct RustFold<P: Projection> {
    pub projection: P,
    pub states: BTreeMap<String, P::State>,
}

impl<P: Projection> RustFold<P> {
    pub fn new(projection: P) -> Self {
        RustFold { projection, states: BTreeMap::new() }
    }
}

fn encoding(e: serde_json::Error) -> HandlerError {
    HandlerError::new(format!("encoding states: {e}"))
}

impl<P: Projection> Fold for RustFold<P> {
    fn partitions_are_streams(&self) -> bool {
        matches!(self.projection.partitioning(), Partitioning::ForEachStream)
    }

    fn selects(&self) -> Filter {
        self.projection.selects()
    }

    fn partition<'e>(&mut self, event: &'e RecordedEvent) -> Result<Option<Cow<'e, str>>, HandlerError> {
        Ok(match self.projection.partitioning() {
            Partitioning::Single => Some("".into()),
            Partitioning::ForEachStream => Some(event.stream.as_str().into()),
            Partitioning::ByKey => self.projection.partition_key(event).map(Cow::Owned),
        })
    }

    /// In place: the hot path copies nothing (a handler leaves the state
    /// as it was when it fails).
    fn apply(&mut self, partition: &str, event: &RecordedEvent) -> Result<(), HandlerError> {
        if let Some(state) = self.states.get_mut(partition) {
            return self.projection.apply(state, event);
        }
        let mut state = self.projection.init();
        self.projection.apply(&mut state, event)?;
        self.states.insert(partition.to_string(), state);
        Ok(())
    }

    fn state(&mut self, partition: &str, or_init: bool) -> Option<serde_json::Value> {
        match self.states.get(partition) {
            Some(s) => serde_json::to_value(s).ok(),
            None if or_init => serde_json::to_value(self.projection.init()).ok(),
            None => None,
        }
    }

    fn partitions(&self, after: Option<&str>, limit: usize) -> Vec<String> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        self.states.range((from, Bound::Unbounded)).take(limit).map(|(k, _)| k.clone()).collect()
    }

    fn partition_count(&self) -> usize {
        self.states.len()
    }

    fn save(&mut self) -> Result<Box<RawValue>, HandlerError> {
        serde_json::value::to_raw_value(&self.states).map_err(encoding)
    }

    fn load(&mut self, states: &RawValue) -> Result<(), HandlerError> {
        self.states = serde_json::from_str(states.get()).map_err(encoding)?;
        Ok(())
    }
}
