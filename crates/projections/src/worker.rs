//! One live projection on a thread of its own: it follows the log page by
//! page, answers queries between pages, and publishes what it is doing
//! ([`Info`]) for the status API without being asked. A slow, failing or
//! rebuilding projection only ever occupies its own thread; the sandbox
//! never runs on the server's async workers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hindsight_store::{EventReader, ReadAll, StoreError};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::js::{JsFold, Limits};
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
    /// The worker cannot run (its checkpoint cannot be read or written,
    /// or the log cannot be read); None when it can.
    pub error: Option<String>,
    #[serde(skip)]
    pub last_progress: Instant,
    /// When it last had taken every event of the log into account.
    #[serde(skip)]
    pub caught_up_at: Instant,
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
    SetPolicy(FailurePolicy),
    /// Checkpoints and ends the thread.
    Stop {
        reply: oneshot::Sender<()>,
    },
}

/// How a worker is set up.
pub struct Spec {
    pub source: String,
    pub policy: FailurePolicy,
    pub dir: PathBuf,
    pub limits: Limits,
    pub paused: bool,
}

/// A worker's handle: its orders channel and its published info.
pub struct Handle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub info: Arc<Mutex<Info>>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

/// Checkpoint when caught up, but not more often than this.
const CAUGHT_UP_CHECKPOINT_EVERY: Duration = Duration::from_millis(20);

/// Starts a worker for a definition already checked by [`JsFold::new`].
pub fn start(
    name: &str,
    spec: Spec,
    reader: Arc<dyn EventReader>,
    rt: tokio::runtime::Handle,
) -> std::io::Result<Handle> {
    let info = Arc::new(Mutex::new(Info {
        paused: spec.paused,
        position: None,
        checkpointed: None,
        status: Status::Running,
        partitions: 0,
        parked: 0,
        events_done: 0,
        events_per_sec: 0.0,
        error: None,
        last_progress: Instant::now(),
        caught_up_at: Instant::now(),
    }));
    let (tx, rx) = mpsc::unbounded_channel();
    let published = info.clone();
    let thread = std::thread::Builder::new()
        .name(format!("projection-{}", name.chars().take(4).collect::<String>()))
        .stack_size(8 << 20)
        .spawn(move || {
            if let Err(e) = run(spec, &*reader, &rt, rx, &published) {
                tracing::error!(error = %e, "projection worker stopped");
                lock(&published).error = Some(e.to_string());
            }
        })?;
    Ok(Handle { commands: tx, info, thread: Some(thread) })
}

pub fn lock(info: &Mutex<Info>) -> std::sync::MutexGuard<'_, Info> {
    info.lock().unwrap_or_else(|p| p.into_inner())
}

fn run(
    spec: Spec,
    reader: &dyn EventReader,
    rt: &tokio::runtime::Handle,
    mut rx: mpsc::UnboundedReceiver<Command>,
    info: &Mutex<Info>,
) -> Result<(), RunnerError> {
    let fold =
        JsFold::new(&spec.source, spec.limits).map_err(|e| RunnerError::States(crate::HandlerError::new(e.message)))?;
    let mut runner = Runner::open_fold(fold, &spec.dir, spec.policy)?;
    let mut paused = spec.paused;
    let mut watch = reader.watch_next_position();
    let mut last_checkpoint = Instant::now();
    publish(&mut runner, info, paused, None, reader);
    loop {
        while let Ok(cmd) = rx.try_recv() {
            if !obey(cmd, &mut runner, &mut paused, reader, rt)? {
                return Ok(());
            }
        }
        let head = reader.next_position();
        let from = runner.position().map_or(0, |p| p + 1);
        if !paused && runner.status() == &Status::Running && from < head {
            let started = Instant::now();
            rt.block_on(runner.advance(reader, head, 1))?;
            let done = runner.position().map_or(0, |p| p + 1).saturating_sub(from);
            let caught_up = runner.position().map_or(0, |p| p + 1) >= reader.next_position();
            if caught_up && last_checkpoint.elapsed() >= CAUGHT_UP_CHECKPOINT_EVERY {
                runner.checkpoint()?;
                last_checkpoint = Instant::now();
            }
            publish(&mut runner, info, paused, Some((done, started.elapsed())), reader);
            continue;
        }
        if runner.position().map_or(0, |p| p + 1) > 0 && last_checkpoint.elapsed() >= CAUGHT_UP_CHECKPOINT_EVERY {
            runner.checkpoint()?;
            last_checkpoint = Instant::now();
        }
        publish(&mut runner, info, paused, None, reader);
        let cmd = rt.block_on(async {
            tokio::select! {
                cmd = rx.recv() => Some(cmd),
                _ = watch.changed() => None,
                _ = tokio::time::sleep(Duration::from_secs(1)) => None,
            }
        });
        let go_on = match cmd {
            Some(Some(cmd)) => obey(cmd, &mut runner, &mut paused, reader, rt)?,
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
fn publish(
    runner: &mut Runner<JsFold>,
    info: &Mutex<Info>,
    paused: bool,
    page: Option<(u64, Duration)>,
    reader: &dyn EventReader,
) {
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
    i.status = runner.status().clone();
    i.partitions = partitions;
    i.parked = runner.parked().len();
}

/// Carries out one command; false when the worker is to stop.
fn obey(
    cmd: Command,
    runner: &mut Runner<JsFold>,
    paused: &mut bool,
    reader: &dyn EventReader,
    rt: &tokio::runtime::Handle,
) -> Result<bool, RunnerError> {
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
            let read = rt.block_on(reader.read_all(&ReadAll::forward(position).limit(1)));
            let _ = reply.send(replay(runner, position, read));
            runner.checkpoint()?;
        }
        Command::Discard { position, reply } => {
            let _ = reply.send(runner.discard_parked(position));
            runner.checkpoint()?;
        }
        Command::Pause => *paused = true,
        Command::SetPolicy(policy) => runner.set_policy(policy),
        Command::Resume => *paused = false,
        Command::Stop { reply } => {
            runner.checkpoint()?;
            let _ = reply.send(());
            return Ok(false);
        }
    }
    Ok(true)
}

fn replay(
    runner: &mut Runner<JsFold>,
    position: u64,
    read: Result<hindsight_store::AllSlice, StoreError>,
) -> Result<bool, String> {
    let page = read.map_err(|e| e.to_string())?;
    let event = page.events.into_iter().find(|e| e.position == position).ok_or("no event at that position")?;
    runner.replay_parked(&event).map_err(|e| e.message)
}
