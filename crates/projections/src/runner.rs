//! Running a projection over the log: pages of `$all` through any
//! [`EventReader`], each event folded into its partition's state, failures
//! retried then parked or stopped at, and the states checkpointed with
//! their position in one atomic write.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hindsight_store::{EventReader, ReadAll, RecordedEvent, StoreError};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError, Saved};
use crate::{Partitioning, Projection};

/// What happens to an event a handler keeps failing on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Set it aside (with its error and the state before it) and go on.
    Park,
    /// Stop at it: the projection is faulted until it is reset or fixed.
    Stop,
}

/// An event a handler failed on, set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parked {
    pub position: u64,
    pub stream: String,
    pub event_type: String,
    pub partition: String,
    pub error: String,
    /// The partition's state before the event, as JSON.
    pub state_before: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Running,
    /// Stopped at `position` (not applied) by `error`.
    Faulted {
        position: u64,
        error: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("reading the log: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Events read per page.
const PAGE_EVENTS: usize = 1_000;

/// One projection, its states and its checkpoint directory.
pub struct Runner<P: Projection> {
    projection: P,
    dir: PathBuf,
    policy: FailurePolicy,
    /// Attempts per event before the policy applies.
    attempts: u32,
    /// A checkpoint is written after at least this many positions.
    checkpoint_every: u64,
    /// Events read per page.
    page_events: usize,
    saved: Saved<P::State>,
    /// The position of the last checkpoint written or loaded.
    checkpointed: Option<u64>,
}

impl<P: Projection> Runner<P> {
    /// Opens the projection's checkpoint in `dir` (none: from the start;
    /// damaged: reported, and rebuilt from the start, since the states
    /// are derived from the log).
    pub fn open(projection: P, dir: impl Into<PathBuf>, policy: FailurePolicy) -> Result<Self, RunnerError> {
        let dir = dir.into();
        let saved = match checkpoint::load(&dir) {
            Ok(Some(saved)) => saved,
            Ok(None) => Saved { position: None, states: BTreeMap::new(), parked: Vec::new(), status: Status::Running },
            Err(e @ CheckpointError::Damaged { .. }) => {
                tracing::warn!(error = %e, "rebuilding the projection from the start");
                Saved { position: None, states: BTreeMap::new(), parked: Vec::new(), status: Status::Running }
            }
            Err(e) => return Err(e.into()),
        };
        let checkpointed = saved.position;
        Ok(Runner {
            projection,
            dir,
            policy,
            attempts: 3,
            checkpoint_every: 10_000,
            page_events: PAGE_EVENTS,
            saved,
            checkpointed,
        })
    }

    /// Checkpoint at least every `positions` positions (default 10,000).
    pub fn checkpoint_every(mut self, positions: u64) -> Self {
        self.checkpoint_every = positions.max(1);
        self
    }

    /// Events per page read (default 1,000).
    pub fn page_events(mut self, events: usize) -> Self {
        self.page_events = events.max(1);
        self
    }

    pub fn position(&self) -> Option<u64> {
        self.saved.position
    }

    pub fn status(&self) -> &Status {
        &self.saved.status
    }

    pub fn parked(&self) -> &[Parked] {
        &self.saved.parked
    }

    pub fn states(&self) -> &BTreeMap<String, P::State> {
        &self.saved.states
    }

    pub fn state(&self, partition: &str) -> Option<&P::State> {
        self.saved.states.get(partition)
    }

    /// Folds everything below position `end` (exclusive) that it has not
    /// yet, page by page, checkpointing on the way and at the end. Stops
    /// early when the projection faults.
    pub async fn run_to<R: EventReader + ?Sized>(&mut self, reader: &R, end: u64) -> Result<(), RunnerError> {
        self.advance(reader, end, usize::MAX).await?;
        self.checkpoint()
    }

    /// Folds at most `pages` pages below `end`, checkpointing only on the
    /// regular cadence (a test that drops the runner after it has what a
    /// crash leaves). Returns whether it reached `end` (or faulted).
    pub async fn advance<R: EventReader + ?Sized>(
        &mut self,
        reader: &R,
        end: u64,
        pages: usize,
    ) -> Result<bool, RunnerError> {
        let read = ReadAll::forward(0).limit(self.page_events).filter(self.projection.selects());
        let from = self.saved.position.map_or(0, |p| p + 1);
        if pages == 0 || from >= end || self.saved.status != Status::Running {
            return Ok(from >= end || self.saved.status != Status::Running);
        }
        let mut page = reader.read_all(&ReadAll { from: Some(from), ..read.clone() }).await?;
        for left in (0..pages).rev() {
            // The next page is read while this one is folded (the store
            // reads on its own threads): reading and folding overlap.
            let next = page.next_position;
            let more = left > 0 && next < end && !(page.events.is_empty() && page.end_of_log);
            let next_read = ReadAll { from: Some(next), ..read.clone() };
            // Polled first, so the read is under way before the fold runs.
            let prefetch = async {
                if more {
                    Some(reader.read_all(&next_read).await)
                } else {
                    None
                }
            };
            let (prefetched, folded) = futures::join!(prefetch, async { self.fold_page(&page, end) });
            folded?;
            if self.saved.status != Status::Running || self.saved.position.map_or(0, |p| p + 1) >= end {
                return Ok(true);
            }
            match prefetched {
                Some(p) => page = p?,
                None => return Ok(page.events.is_empty() && page.end_of_log),
            }
        }
        Ok(false)
    }

    /// Folds one page's events below `end`, moves the position past what
    /// the page examined, and checkpoints when one is due.
    fn fold_page(&mut self, page: &hindsight_store::AllSlice, end: u64) -> Result<(), RunnerError> {
        for event in page.events.iter().filter(|e| e.position < end) {
            if !self.fold(event) {
                break;
            }
        }
        if self.saved.status == Status::Running {
            // Unselected events count as taken into account.
            let done = page.next_position.min(end);
            self.saved.position = done.checked_sub(1).or(self.saved.position);
        }
        let due = self.checkpointed.map_or(0, |p| p + 1) + self.checkpoint_every;
        if self.saved.position.map_or(0, |p| p + 1) >= due {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Writes the checkpoint now.
    pub fn checkpoint(&mut self) -> Result<(), RunnerError> {
        checkpoint::store(&self.dir, &self.saved)?;
        self.checkpointed = self.saved.position;
        Ok(())
    }

    /// Folds one event into its partition; false when the projection
    /// faulted on it. The state is folded in place (a handler leaves it
    /// as it was when it fails), so the hot path copies nothing.
    fn fold(&mut self, event: &RecordedEvent) -> bool {
        let key: std::borrow::Cow<'_, str> = match self.projection.partitioning() {
            Partitioning::Single => "".into(),
            Partitioning::ForEachStream => event.stream.as_str().into(),
            Partitioning::ByKey => match self.projection.partition_key(event) {
                Some(key) => key.into(),
                None => {
                    self.saved.position = Some(event.position);
                    return true;
                }
            },
        };
        let mut fresh = None;
        let state = match self.saved.states.get_mut(key.as_ref()) {
            Some(state) => state,
            None => fresh.insert(self.projection.init()),
        };
        let mut last_error = String::new();
        for _ in 0..self.attempts.max(1) {
            match self.projection.apply(state, event) {
                Ok(()) => {
                    if let Some(state) = fresh {
                        self.saved.states.insert(key.into_owned(), state);
                    }
                    self.saved.position = Some(event.position);
                    return true;
                }
                Err(e) => last_error = e.message,
            }
        }
        let state_before = serde_json::to_value(&*state).unwrap_or(serde_json::Value::Null);
        match self.policy {
            FailurePolicy::Park => {
                tracing::warn!(position = event.position, error = %last_error, "parked an event the projection fails on");
                self.saved.parked.push(Parked {
                    position: event.position,
                    stream: event.stream.clone(),
                    event_type: event.event_type.clone(),
                    partition: key.into_owned(),
                    error: last_error,
                    state_before,
                });
                self.saved.position = Some(event.position);
                true
            }
            FailurePolicy::Stop => {
                tracing::error!(position = event.position, error = %last_error, "projection faulted");
                self.saved.status = Status::Faulted { position: event.position, error: last_error };
                false
            }
        }
    }
}
