//! Built-in projections, written in Rust, and choosing a fold for a
//! definition's source: `builtin:<name>` names one of these, anything
//! else is JavaScript (folded on several sandboxes when it partitions per
//! stream and `shards` > 1).

use hindsight_store::{Filter, RecordedEvent};

use crate::js::parallel::ParallelJsFold;
use crate::js::{JsFold, Limits};
use crate::{Fold, HandlerError, Partitioning, Projection, RustFold};

/// The prefix of a source that names a built-in projection.
pub const PREFIX: &str = "builtin:";

/// The built-in projections, by name.
pub const NAMES: &[&str] = &["stream_counts", "type_counts"];

/// A built-in projection's fold.
pub fn named(name: &str) -> Option<Box<dyn Fold>> {
    match name {
        "stream_counts" => Some(Box::new(RustFold::new(StreamCounts { filter: Filter::default() }))),
        "type_counts" => Some(Box::new(RustFold::new(TypeCounts))),
        _ => None,
    }
}

/// The fold for a definition's source; an error says what is wrong with it.
pub fn fold_for(source: &str, limits: Limits, shards: usize) -> Result<Box<dyn Fold>, String> {
    if let Some(name) = source.trim().strip_prefix(PREFIX) {
        return named(name.trim())
            .ok_or_else(|| format!("no built-in projection {name:?}; there are: {}", NAMES.join(", ")));
    }
    if let Some(parallel) = ParallelJsFold::new(source, limits, shards).map_err(|e| e.message.clone())? {
        return Ok(Box::new(parallel));
    }
    Ok(Box::new(JsFold::new(source, limits).map_err(|e| e.message)?))
}

/// Events per type, across the whole log: one partition per type.
pub struct TypeCounts;

impl Projection for TypeCounts {
    type State = u64;

    fn selects(&self) -> Filter {
        Filter::default()
    }

    fn partitioning(&self) -> Partitioning {
        Partitioning::ByKey
    }

    fn partition_key(&self, event: &RecordedEvent) -> Option<String> {
        Some(event.event_type.clone())
    }

    fn init(&self) -> u64 {
        0
    }

    fn apply(&self, state: &mut u64, _event: &RecordedEvent) -> Result<(), HandlerError> {
        *state += 1;
        Ok(())
    }
}

/// Per stream of a selection: how many events it holds and the bytes of
/// their data. A fold that reads no JSON: what the runner itself costs.
pub struct StreamCounts {
    pub filter: Filter,
}

impl Projection for StreamCounts {
    type State = (u64, u64);

    fn selects(&self) -> Filter {
        self.filter.clone()
    }

    fn partitioning(&self) -> Partitioning {
        Partitioning::ForEachStream
    }

    fn init(&self) -> (u64, u64) {
        (0, 0)
    }

    fn apply(&self, state: &mut (u64, u64), event: &RecordedEvent) -> Result<(), HandlerError> {
        state.0 += 1;
        state.1 += event.data.len() as u64;
        Ok(())
    }
}
