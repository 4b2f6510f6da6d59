//! Running a projection over the log: pages of `$all` through any
//! [`EventReader`], each event folded into its partition's state, failures
//! retried then parked or stopped at, and the states checkpointed with
//! their position in one atomic write.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hindsight_store::{EventReader, ReadAll, RecordedEvent, StoreError};
use serde::{Deserialize, Serialize};

use crate::breaker::{Breaker, Circuit};
use crate::checkpoint::{CheckpointError, DirSlot, Saved, Slot};
use crate::fold::{Fold, RustFold};
use crate::{HandlerError, Projection};

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
    /// Where the error was thrown (JavaScript).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
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
    #[error("the projection's states: {0}")]
    States(HandlerError),
}

/// Events read per page.
const PAGE_EVENTS: usize = 1_000;

/// One projection, its states and where its checkpoint lives.
pub struct Runner<F: Fold> {
    fold: F,
    slot: Box<dyn Slot>,
    policy: FailurePolicy,
    /// Attempts per event before the policy applies.
    attempts: u32,
    /// A checkpoint is written after at least this many positions.
    checkpoint_every: u64,
    /// Events read per page.
    page_events: usize,
    /// The last position of `$all` taken into account.
    position: Option<u64>,
    parked: Vec<Parked>,
    status: Status,
    /// The position of the last checkpoint written or loaded.
    checkpointed: Option<u64>,
    /// Derived events emitted since the last `take_outbox`.
    outbox: Vec<crate::Emitted>,
    /// Output held for a live version, as the checkpoint had it.
    held_output: Vec<crate::Emitted>,
    /// Pause between attempts at a failing event (doubling).
    retry_backoff: std::time::Duration,
    breaker: Option<Breaker>,
}

impl<P: Projection> Runner<RustFold<P>> {
    /// A Rust projection's runner (see [`Runner::open_fold`]).
    pub fn open(projection: P, dir: impl Into<PathBuf>, policy: FailurePolicy) -> Result<Self, RunnerError> {
        Runner::open_fold(RustFold::new(projection), dir, policy)
    }

    pub fn states(&self) -> &BTreeMap<String, P::State> {
        &self.fold.states
    }
}

impl<F: Fold> Runner<F> {
    /// Opens the fold's checkpoint in `dir` (none: from the start;
    /// damaged: reported, and rebuilt from the start, since the states
    /// are derived from the log).
    pub fn open_fold(fold: F, dir: impl Into<PathBuf>, policy: FailurePolicy) -> Result<Self, RunnerError> {
        Runner::open_in(fold, Box::new(DirSlot(dir.into())), policy)
    }

    /// The same with the checkpoint in `slot`.
    pub fn open_in(mut fold: F, slot: Box<dyn Slot>, policy: FailurePolicy) -> Result<Self, RunnerError> {
        let saved = match slot.load() {
            Ok(saved) => saved,
            Err(e @ CheckpointError::Damaged { .. }) => {
                tracing::warn!(error = %e, "rebuilding the projection from the start");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let (position, parked, status, held_output) = match saved {
            Some(saved) => {
                fold.load(&saved.states).map_err(RunnerError::States)?;
                (saved.position, saved.parked, saved.status, saved.held_output)
            }
            None => (None, Vec::new(), Status::Running, Vec::new()),
        };
        Ok(Runner {
            fold,
            slot,
            policy,
            attempts: 3,
            checkpoint_every: 10_000,
            page_events: PAGE_EVENTS,
            position,
            parked,
            status,
            checkpointed: position,
            outbox: Vec::new(),
            held_output,
            retry_backoff: std::time::Duration::ZERO,
            breaker: None,
        })
    }

    /// Starts after `position` instead of where the checkpoint says (a
    /// fold of part of history).
    pub fn starting_after(mut self, position: Option<u64>) -> Self {
        self.position = position;
        self.checkpointed = position;
        self
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

    /// Pause this long before the second attempt at a failing event,
    /// twice as long before the third, and so on (default: none).
    pub fn retry_backoff(mut self, backoff: std::time::Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// Stop folding for a while after too many failures (see [`Breaker`]).
    pub fn breaker(mut self, config: crate::breaker::BreakerConfig) -> Self {
        self.breaker = Some(Breaker::new(config));
        self
    }

    /// Attempts per failing event, the back-off between them, and the
    /// circuit breaker, changed in place (a breaker's count restarts).
    pub fn tune(&mut self, attempts: u32, backoff: std::time::Duration, breaker: crate::breaker::BreakerConfig) {
        self.attempts = attempts.max(1);
        self.retry_backoff = backoff;
        self.breaker = Some(Breaker::new(breaker));
    }

    /// Where the circuit breaker is (closed when there is none).
    pub fn circuit(&mut self) -> Circuit {
        self.breaker.as_mut().map_or(Circuit::Closed, Breaker::circuit)
    }

    /// What a failing event does from now on.
    pub fn set_policy(&mut self, policy: FailurePolicy) {
        self.policy = policy;
    }

    /// Attempts per failing event before the policy applies (default 3).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The output the checkpoint held for a live version (once).
    pub fn take_held_output(&mut self) -> Vec<crate::Emitted> {
        std::mem::take(&mut self.held_output)
    }

    pub fn position(&self) -> Option<u64> {
        self.position
    }

    /// The derived events emitted since the last call, in the order of
    /// the events that emitted them (a parallel fold may hand them back
    /// out of order when it fails mid-page).
    pub fn take_outbox(&mut self) -> Vec<crate::Emitted> {
        let mut out = std::mem::take(&mut self.outbox);
        out.sort_by_key(|e| (e.position, e.index));
        out
    }

    /// The position of the last checkpoint written or loaded.
    pub fn checkpointed(&self) -> Option<u64> {
        self.checkpointed
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    pub fn parked(&self) -> &[Parked] {
        &self.parked
    }

    pub fn fold(&self) -> &F {
        &self.fold
    }

    pub fn fold_mut(&mut self) -> &mut F {
        &mut self.fold
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
        let read = ReadAll::forward(0).limit(self.page_events).filter(self.fold.selects());
        let from = self.position.map_or(0, |p| p + 1);
        if self.breaker.as_mut().is_some_and(Breaker::is_open) {
            return Ok(false);
        }
        if pages == 0 || from >= end || self.status != Status::Running {
            return Ok(from >= end || self.status != Status::Running);
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
            if self.status != Status::Running || self.position.map_or(0, |p| p + 1) >= end {
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
        let below = page.events.partition_point(|e| e.position < end);
        self.fold_events(&page.events[..below]);
        if self.status == Status::Running && !self.breaker.as_mut().is_some_and(Breaker::is_open) {
            // Unselected events count as taken into account.
            let done = page.next_position.min(end);
            self.position = done.checked_sub(1).or(self.position);
        }
        let due = self.checkpointed.map_or(0, |p| p + 1) + self.checkpoint_every;
        if self.position.map_or(0, |p| p + 1) >= due {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Applies a parked event again (after the code was fixed), to its
    /// partition's current state. Ok(true): it folded and is no longer
    /// parked; Ok(false): it failed again (its error is updated).
    pub fn replay_parked(&mut self, event: &RecordedEvent) -> Result<bool, HandlerError> {
        let Some(at) = self.parked.iter().position(|p| p.position == event.position) else {
            return Err(HandlerError::new(format!("no event is parked at position {}", event.position)));
        };
        let outcome = match self.fold.partition(event) {
            Ok(None) => Ok(()),
            Ok(Some(key)) => {
                let key = key.into_owned();
                self.fold.apply(&key, event)
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                self.outbox.extend(self.fold.take_emitted());
                self.parked.remove(at);
                Ok(true)
            }
            Err(e) => {
                self.parked[at].error = e.message;
                self.parked[at].stack = e.stack;
                Ok(false)
            }
        }
    }

    /// Drops a parked event for good; false when none is parked there.
    pub fn discard_parked(&mut self, position: u64) -> bool {
        let before = self.parked.len();
        self.parked.retain(|p| p.position != position);
        self.parked.len() < before
    }

    /// Writes the checkpoint now.
    pub fn checkpoint(&mut self) -> Result<(), RunnerError> {
        self.checkpoint_holding(Vec::new())
    }

    /// Writes the checkpoint now, with output held for the live version
    /// (published or dropped by the caller later; see `outbox`).
    pub fn checkpoint_holding(&mut self, held_output: Vec<crate::Emitted>) -> Result<(), RunnerError> {
        let states = self.fold.save().map_err(RunnerError::States)?;
        let (parked, status) = (self.parked.clone(), self.status.clone());
        let saved = Saved { position: self.position, states, parked, status, held_output };
        self.slot.store(&saved)?;
        self.checkpointed = self.position;
        Ok(())
    }

    /// Folds a run of events a batch at a time (one call into a sandbox
    /// per page); an event the batch fails on goes the one-event way
    /// (retries, then parked or stopped at) and the batch goes on after
    /// it. Stops when the projection faults or its breaker opens.
    fn fold_events(&mut self, events: &[RecordedEvent]) {
        let mut start = 0;
        while start < events.len() {
            if self.breaker.as_mut().is_some_and(Breaker::is_open) {
                return;
            }
            let batch = &events[start..];
            match self.fold.apply_batch(batch) {
                Ok(()) => {
                    self.outbox.extend(self.fold.take_emitted());
                    self.position = batch.last().map(|e| e.position).or(self.position);
                    if let Some(b) = self.breaker.as_mut() {
                        b.on_success();
                    }
                    return;
                }
                Err((at, _)) => {
                    self.outbox.extend(self.fold.take_emitted());
                    if at > 0 {
                        self.position = Some(batch[at - 1].position);
                    }
                    if !self.fold_event(&batch[at]) {
                        return;
                    }
                    start += at + 1;
                }
            }
        }
    }

    /// Folds one event into its partition; false when the projection
    /// faulted on it.
    fn fold_event(&mut self, event: &RecordedEvent) -> bool {
        let mut last_error = HandlerError::new("");
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 && !self.retry_backoff.is_zero() {
                std::thread::sleep(self.retry_backoff * (1 << (attempt - 1).min(10)));
            }
            let key = match self.fold.partition(event) {
                Ok(None) => {
                    self.position = Some(event.position);
                    return true;
                }
                Ok(Some(key)) => key,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            match self.fold.apply(&key, event) {
                Ok(()) => {
                    self.outbox.extend(self.fold.take_emitted());
                    self.position = Some(event.position);
                    if let Some(b) = self.breaker.as_mut() {
                        b.on_success();
                    }
                    return true;
                }
                Err(e) => last_error = e,
            }
        }
        let go_on = self.fail(event, last_error);
        let tripped = self.breaker.as_mut().is_some_and(Breaker::on_failure);
        if tripped {
            tracing::warn!(position = event.position, "circuit breaker open: the projection pauses");
        }
        go_on && !tripped
    }

    /// Parks the event or stops at it, by the policy.
    fn fail(&mut self, event: &RecordedEvent, error: HandlerError) -> bool {
        let partition = self.fold.partition(event).ok().flatten().map(|k| k.into_owned()).unwrap_or_default();
        let state_before = self.fold.state(&partition, true).unwrap_or(serde_json::Value::Null);
        let HandlerError { message: error, stack } = error;
        match self.policy {
            FailurePolicy::Park => {
                tracing::warn!(position = event.position, %error, "parked an event the projection fails on");
                self.parked.push(Parked {
                    position: event.position,
                    stream: event.stream.clone(),
                    event_type: event.event_type.clone(),
                    partition,
                    error,
                    stack,
                    state_before,
                });
                self.position = Some(event.position);
                true
            }
            FailurePolicy::Stop => {
                tracing::error!(position = event.position, %error, "projection faulted");
                self.status = Status::Faulted { position: event.position, error };
                false
            }
        }
    }
}
