//! Built-in projections, written in Rust.

use hindsight_store::{Filter, RecordedEvent};

use crate::{HandlerError, Partitioning, Projection};

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
