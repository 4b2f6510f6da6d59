//! One live projection on a thread of its own: it follows the log page by
//! page, answers queries between pages, and publishes what it is doing
//! ([`Info`]) for the status API without being asked. A slow, failing or
//! rebuilding projection only ever occupies its own thread; the sandbox
//! never runs on the server's async workers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hindsight_store::{EventReader, ReadAll, StoreError};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::js::Limits;
use crate::outbox::Outbox;
use crate::registry::Tuning;
use crate::{FailurePolicy, Fold, Parked, Runner, RunnerError, Status};

/// What a worker last published about itself.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub paused: bool,
    /// The last position of `$all` taken into account; None before the first.
    pub position: Option<u64>,
    /// The position of the last checkpoint: what a crash now would keep.
    pub checkpointed: Option<u64>,
    pub status: Status,
    pub partitions: usize,
    pub parked: usize,
    /// Events taken into account since the worker started.
    pub events_done: u64,
    /// Recent rate (a moving average over pages).
    pub events_per_sec: f64,
    /// The circuit breaker: "open" or "half_open"; None when closed.
    pub circuit: Option<&'static str>,
    /// Emitted events a rebuild holds for the live version to reach.
    pub held_output: usize,
    /// The worker cannot run (its checkpoint cannot be read or written,
    /// or the log cannot be read); None when it can.
    pub error: Option<String>,
    #[serde(skip)]
    pub last_progress: Instant,
    /// When it last had taken every event of the log into account.
    #[serde(skip)]
    pub caught_up_at: Instant,
}

impl Info {
    /// A worker's info before it has folded anything.
    pub fn new(paused: bool) -> Self {
        Info {
            paused,
            position: None,
            checkpointed: None,
            status: Status::Running,
            partitions: 0,
            parked: 0,
            events_done: 0,
            events_per_sec: 0.0,
            error: None,
            circuit: None,
            held_output: 0,
            last_progress: Instant::now(),
            caught_up_at: Instant::now(),
        }
    }
}

/// A query or order for a worker, answered between pages.
pub enum Command {
    State {
        partition: String,
        reply: oneshot::Sender<(Option<serde_json::Value>, Option<u64>)>,
    },
    Partitions {
        after: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Vec<String>>,
    },
    Parked {
        reply: oneshot::Sender<Vec<Parked>>,
    },
    /// Every state as a JSON object, and the position they reflect.
    Snapshot {
        reply: oneshot::Sender<Result<(String, Option<u64>), String>>,
    },
    /// Applies a parked event again (after a fix); true when it now folds.
    Replay {
        position: u64,
        reply: oneshot::Sender<Result<bool, String>>,
    },
    Discard {
        position: u64,
        reply: oneshot::Sender<bool>,
    },
    Pause,
    Resume,
    /// What a failing event does from now on.
    Configure(FailurePolicy, Tuning),
    /// This version now answers: it publishes its output from here on,
    /// and what it kept for input events after `after`.
    Activate {
        after: Option<u64>,
        reply: oneshot::Sender<()>,
    },
    /// Checkpoints and ends the thread.
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// How a worker is set up.
pub struct Spec {
    pub name: String,
    /// The live version (publishes its output), or a rebuild beside it.
    pub active: bool,
    /// Where emitted events are published (None: nowhere).
    pub store: Option<Arc<dyn hindsight_store::EventStore>>,
    pub tuning: Tuning,
    /// Sandboxes a per-stream projection is folded on.
    pub shards: usize,
    pub source: String,
    pub policy: FailurePolicy,
    /// Where its checkpoint lives.
    pub slot: Box<dyn crate::checkpoint::Slot>,
    pub limits: Limits,
    pub paused: bool,
    /// A rebuild's view of the live version it is to replace.
    pub live: Option<Arc<Mutex<Info>>>,
}

/// A worker's handle: its orders channel and its published info.
pub struct Handle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub info: Arc<Mutex<Info>>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

/// Checkpoint when caught up, but not more often than this.
const CAUGHT_UP_CHECKPOINT_EVERY: Duration = Duration::from_millis(20);

/// Starts a worker for a definition already checked by [`crate::builtin::fold_for`].
pub fn start(
    name: &str,
    spec: Spec,
    reader: Arc<dyn EventReader>,
    rt: tokio::runtime::Handle,
) -> std::io::Result<Handle> {
    let info = Arc::new(Mutex::new(Info::new(spec.paused)));
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let published = info.clone();
    let thread = std::thread::Builder::new()
        .name(format!("projection-{}", name.chars().take(4).collect::<String>()))
        .stack_size(8 << 20)
        .spawn(move || {
            if let Err(e) = run(spec, &*reader, &rt, rx, &published, &ready_tx) {
                tracing::error!(error = %e, "projection worker stopped");
                lock(&published).error = Some(e.to_string());
            }
            let _ = ready_tx.send(());
        })?;
    // Answer for it only once it has loaded its checkpoint.
    let _ = ready_rx.recv();
    Ok(Handle { commands: tx, info, thread: Some(thread) })
}

pub fn lock(info: &Mutex<Info>) -> std::sync::MutexGuard<'_, Info> {
    info.lock().unwrap_or_else(|p| p.into_inner())
}

/// A worker's moving parts.
struct Worker<'a> {
    runner: Runner<Box<dyn crate::Fold>>,
    outbox: Outbox,
    paused: bool,
    last_checkpoint: Instant,
    reader: &'a dyn EventReader,
    rt: &'a tokio::runtime::Handle,
    info: &'a Mutex<Info>,
    live: Option<Arc<Mutex<Info>>>,
}

impl Worker<'_> {
    fn done(&self) -> u64 {
        self.runner.position().map_or(0, |p| p + 1)
    }

    /// Publishes what the fold emitted (a rebuild: holds what the live
    /// version has not passed), then checkpoints when one is due (never
    /// before the output is out: a crash folds it again).
    fn settle(&mut self, force: bool) -> Result<(), RunnerError> {
        let out = self.runner.take_outbox();
        self.rt.block_on(self.outbox.take(out))?;
        self.release_held();
        let behind_checkpoint = self.done().saturating_sub(self.runner.checkpointed().map_or(0, |p| p + 1));
        let caught_up = self.done() >= self.reader.next_position();
        let due = behind_checkpoint >= CHECKPOINT_EVERY_EVENTS
            || (behind_checkpoint > 0 && caught_up && self.last_checkpoint.elapsed() >= CAUGHT_UP_CHECKPOINT_EVERY);
        if due || (force && behind_checkpoint > 0) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Checkpoints with the output a rebuild holds.
    fn checkpoint(&mut self) -> Result<(), RunnerError> {
        self.runner.checkpoint_holding(self.outbox.held())?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// A rebuild lets go of output for what the live version has passed.
    fn release_held(&mut self) {
        if let (false, Some(live)) = (self.outbox.is_active(), &self.live) {
            let through = lock(live).position;
            self.outbox.release_through(through);
        }
    }

    /// Folds one page when there is something to fold; false when idle.
    fn step(&mut self) -> Result<bool, RunnerError> {
        let (head, from) = (self.reader.next_position(), self.done());
        let open = matches!(self.runner.circuit(), crate::breaker::Circuit::Open { .. });
        if self.paused || open || self.runner.status() != &Status::Running || from >= head {
            return Ok(false);
        }
        if self.outbox.is_full() {
            // A rebuild as far ahead of the live version as it may be.
            self.release_held();
            if self.outbox.is_full() {
                return Ok(false);
            }
        }
        let started = Instant::now();
        self.rt.block_on(self.runner.advance(self.reader, head, 1))?;
        self.settle(false)?;
        let page = (self.done().saturating_sub(from), started.elapsed());
        publish(self, Some(page));
        Ok(true)
    }
}

/// Positions folded without a checkpoint at most (while catching up).
const CHECKPOINT_EVERY_EVENTS: u64 = 10_000;

fn run(
    spec: Spec,
    reader: &dyn EventReader,
    rt: &tokio::runtime::Handle,
    mut rx: mpsc::UnboundedReceiver<Command>,
    info: &Mutex<Info>,
    ready: &std::sync::mpsc::Sender<()>,
) -> Result<(), RunnerError> {
    let fold = crate::builtin::fold_for(&spec.source, spec.limits, spec.shards)
        .map_err(|e| RunnerError::States(crate::HandlerError::new(e)))?;
    // The worker checkpoints itself, after publishing (see `settle`).
    let mut runner = Runner::open_in(fold, spec.slot, spec.policy)?.checkpoint_every(1 << 62);
    let t = spec.tuning;
    runner.tune(t.retries + 1, Duration::from_millis(t.retry_backoff_ms), t.breaker());
    let mut outbox = Outbox::new(&spec.name, spec.store.clone(), spec.active);
    outbox.hold(runner.take_held_output());
    let (paused, live) = (spec.paused, spec.live);
    let mut w = Worker { runner, outbox, paused, last_checkpoint: Instant::now(), reader, rt, info, live };
    let mut watch = reader.watch_next_position();
    publish(&mut w, None);
    let _ = ready.send(());
    loop {
        while let Ok(cmd) = rx.try_recv() {
            if !obey(cmd, &mut w)? {
                return Ok(());
            }
        }
        if w.step()? {
            continue;
        }
        w.settle(true)?;
        publish(&mut w, None);
        let cmd = rt.block_on(async {
            tokio::select! {
                cmd = rx.recv() => Some(cmd),
                _ = watch.changed() => None,
                _ = tokio::time::sleep(Duration::from_secs(1)) => None,
            }
        });
        let go_on = match cmd {
            Some(Some(cmd)) => obey(cmd, &mut w)?,
            Some(None) => false, // the registry is gone
            None => true,
        };
        if !go_on {
            return Ok(());
        }
    }
}

/// Publishes the runner's figures; `page` is (events, time) of the page
/// just folded.
fn publish(w: &mut Worker<'_>, page: Option<(u64, Duration)>) {
    let (runner, info, paused, reader) = (&mut w.runner, w.info, w.paused, w.reader);
    let partitions = runner.fold().partition_count();
    let caught_up = runner.position().map_or(0, |p| p + 1) >= reader.next_position();
    let mut i = lock(info);
    if caught_up {
        i.caught_up_at = Instant::now();
    }
    if let Some((done, took)) = page {
        if done > 0 {
            i.last_progress = Instant::now();
            i.events_done += done;
            let rate = done as f64 / took.as_secs_f64().max(1e-6);
            i.events_per_sec = if i.events_per_sec == 0.0 { rate } else { 0.8 * i.events_per_sec + 0.2 * rate };
        }
    }
    if i.position != runner.position() && page.is_none() {
        i.last_progress = Instant::now();
    }
    i.paused = paused;
    i.position = runner.position();
    i.checkpointed = runner.checkpointed();
    i.circuit = match runner.circuit() {
        crate::breaker::Circuit::Closed => None,
        crate::breaker::Circuit::Open { .. } => Some("open"),
        crate::breaker::Circuit::HalfOpen => Some("half_open"),
    };
    i.status = runner.status().clone();
    i.partitions = partitions;
    i.parked = runner.parked().len();
    i.held_output = w.outbox.held_len();
}

/// Carries out one command; false when the worker is to stop.
fn obey(cmd: Command, w: &mut Worker<'_>) -> Result<bool, RunnerError> {
    let runner = &mut w.runner;
    match cmd {
        Command::State { partition, reply } => {
            let _ = reply.send((runner.fold_mut().state(&partition, false), runner.position()));
        }
        Command::Partitions { after, limit, reply } => {
            let _ = reply.send(runner.fold().partitions(after.as_deref(), limit));
        }
        Command::Parked { reply } => {
            let _ = reply.send(runner.parked().to_vec());
        }
        Command::Snapshot { reply } => {
            let position = runner.position();
            let saved = runner.fold_mut().save().map(|s| (s.get().to_string(), position)).map_err(|e| e.message);
            let _ = reply.send(saved);
        }
        Command::Replay { position, reply } => {
            let read = w.rt.block_on(w.reader.read_all(&ReadAll::forward(position).limit(1)));
            let _ = reply.send(replay(runner, position, read));
            w.settle(true)?;
        }
        Command::Discard { position, reply } => {
            let _ = reply.send(runner.discard_parked(position));
            w.checkpoint()?;
        }
        Command::Pause => w.paused = true,
        Command::Resume => w.paused = false,
        Command::Configure(policy, tuning) => {
            runner.set_policy(policy);
            runner.tune(tuning.retries + 1, Duration::from_millis(tuning.retry_backoff_ms), tuning.breaker());
        }
        Command::Activate { after, reply } => {
            w.rt.block_on(w.outbox.activate(after))?;
            let _ = reply.send(());
        }
        Command::Stop { reply } => {
            w.settle(true)?;
            let _ = reply.send(());
            return Ok(false);
        }
    }
    Ok(true)
}

fn replay(
    runner: &mut Runner<Box<dyn crate::Fold>>,
    position: u64,
    read: Result<hindsight_store::AllSlice, StoreError>,
) -> Result<bool, String> {
    let page = read.map_err(|e| e.to_string())?;
    let event = page.events.into_iter().find(|e| e.position == position).ok_or("no event at that position")?;
    runner.replay_parked(&event).map_err(|e| e.message)
}
