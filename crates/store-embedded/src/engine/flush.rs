//! Writing frozen memtables out as runs, merging runs, and checkpointing.
//! Runs off the acknowledgement path, on its own thread.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::state::{FlushControl, Frozen, Shared, State};
use crate::index::checkpoint::{Checkpoint, RunRef};
use crate::index::memtable::Memtable;
use crate::index::run::{merge, Run};

/// Freezes the active memtable (waiting while an earlier one is still
/// being flushed) and hands it to the flusher. Called by the syncer. While
/// index writes are failing it does not wait: the active memtable grows
/// on (acknowledgements must not stall on derived data) until the flusher
/// recovers.
pub fn freeze(shared: &Shared) {
    let mut ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if shared.read().frozen.is_none() {
            break;
        }
        if ctl.retry_at.is_some() || ctl.stop {
            return;
        }
        ctl = shared.flush_cv.wait(ctl).unwrap_or_else(|p| p.into_inner());
    }
    {
        let mut st = shared.write();
        if st.active.is_empty() {
            return;
        }
        let checkpoint = st.checkpoint_now();
        let memtable = std::mem::replace(&mut st.active, Memtable::with_capacity(shared.config.memtable_events_max));
        st.frozen = Some(Arc::new(Frozen { memtable, checkpoint }));
    }
    shared.flush_cv.notify_all();
    drop(ctl);
}

/// The first wait after a failed index write; it doubles up to the max.
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(100);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The flusher thread: writes each frozen memtable out, until told to
/// stop. Merging is the compactor's job, so a flush never waits for one.
/// A failed flush (out of file descriptors, memory or space: the index is
/// derived, nothing acknowledged is at risk) is reported and retried with
/// back-off, never turned into a refusal of writes.
pub fn run_flusher(shared: Arc<Shared>) {
    let mut backoff = RETRY_BACKOFF_MIN;
    let mut ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let due = ctl.retry_at.is_none_or(|t| Instant::now() >= t);
        if shared.read().frozen.is_some() && due {
            drop(ctl);
            let flushed = flush_frozen(&shared);
            ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
            match flushed {
                Ok(()) => {
                    shared.index_recovered();
                    ctl.retry_at = None;
                    backoff = RETRY_BACKOFF_MIN;
                }
                Err(e) => {
                    shared.index_failed(format!("writing the index failed (retrying in {backoff:?}): {e}"));
                    ctl.retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                }
            }
            // Notified with the lock held: a writer waiting in `freeze`
            // (or the compactor) cannot miss it.
            shared.flush_cv.notify_all();
            continue;
        }
        if ctl.stop {
            return;
        }
        let until = ctl.retry_at;
        ctl = wait_until(&shared, ctl, until);
    }
}

/// The compactor thread: merges runs of the same size tier whenever a
/// flush has made a merge due, until told to stop. A failed merge is
/// reported and retried with back-off.
pub fn run_compactor(shared: Arc<Shared>) {
    let mut backoff = RETRY_BACKOFF_MIN;
    let mut retry_at: Option<Instant> = None;
    let mut ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if ctl.stop {
            return;
        }
        let due = retry_at.is_none_or(|t| Instant::now() >= t) && {
            let st = shared.read();
            Kind::ALL.iter().any(|k| merge_due(k.runs(&st)))
        };
        if due {
            drop(ctl);
            let merged = compact_once(&shared);
            ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
            match merged {
                Ok(()) => {
                    retry_at = None;
                    backoff = RETRY_BACKOFF_MIN;
                }
                Err(e) => {
                    shared.index_failed(format!("merging index runs failed (retrying in {backoff:?}): {e}"));
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                }
            }
            continue;
        }
        let until = retry_at;
        ctl = wait_until(&shared, ctl, until);
    }
}

/// Waits on the flush condvar, until `until` when given.
fn wait_until<'a>(
    shared: &'a Shared,
    ctl: MutexGuard<'a, FlushControl>,
    until: Option<Instant>,
) -> MutexGuard<'a, FlushControl> {
    match until {
        Some(t) => match shared.flush_cv.wait_timeout(ctl, t.saturating_duration_since(Instant::now())) {
            Ok((guard, _)) => guard,
            Err(p) => p.into_inner().0,
        },
        None => shared.flush_cv.wait(ctl).unwrap_or_else(|p| p.into_inner()),
    }
}

/// The three index families, each its own list of runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ids,
    Streams,
    Postings,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Ids, Kind::Streams, Kind::Postings];

    fn name(self) -> &'static str {
        match self {
            Kind::Ids => "ids",
            Kind::Streams => "streams",
            Kind::Postings => "postings",
        }
    }

    fn runs(self, st: &State) -> &Vec<Arc<Run>> {
        match self {
            Kind::Ids => &st.id_runs,
            Kind::Streams => &st.stream_runs,
            Kind::Postings => &st.posting_runs,
        }
    }

    fn runs_mut(self, st: &mut State) -> &mut Vec<Arc<Run>> {
        match self {
            Kind::Ids => &mut st.id_runs,
            Kind::Streams => &mut st.stream_runs,
            Kind::Postings => &mut st.posting_runs,
        }
    }
}

/// The runs of every family, in [`Kind::ALL`] order.
type AllRuns = [Vec<Arc<Run>>; 3];

fn current_runs(shared: &Shared) -> AllRuns {
    let st = shared.read();
    Kind::ALL.map(|k| k.runs(&st).clone())
}

fn run_name(kind: &str, n: u64) -> String {
    format!("{kind}-{n:010}.run")
}

/// Runs merged at once; the number of runs stays about
/// `MERGE_FAN_IN - 1` per size tier, logarithmic in the event count.
const MERGE_FAN_IN: usize = 4;

/// A merge is due when the newest `MERGE_FAN_IN` runs are of about the
/// same size.
fn merge_due(runs: &[Arc<Run>]) -> bool {
    runs.len() >= MERGE_FAN_IN && runs[runs.len() - MERGE_FAN_IN].count <= 2 * runs[runs.len() - 1].count
}

fn refs(runs: &[Arc<Run>]) -> Vec<RunRef> {
    runs.iter().map(|r| RunRef { file_name: r.file_name.clone(), count: r.count }).collect()
}

/// Stores a checkpoint listing these runs, swaps them in, and deletes the
/// runs it no longer lists. Callers hold `publish_lock`.
fn publish(shared: &Shared, mut checkpoint: Checkpoint, runs: AllRuns, frozen_done: bool) -> io::Result<()> {
    let [ids, streams, postings] = &runs;
    checkpoint.id_runs = refs(ids);
    checkpoint.stream_runs = refs(streams);
    checkpoint.posting_runs = refs(postings);
    checkpoint.next_run_number = shared.next_run_number.load(Ordering::SeqCst);
    checkpoint.store(shared.config.fs.as_ref(), &shared.dirs.index)?;
    let live: HashSet<String> = runs.iter().flatten().map(|r| r.file_name.clone()).collect();
    let retired: Vec<String> = {
        let mut st = shared.write();
        let mut retired = Vec::new();
        for (kind, new) in Kind::ALL.into_iter().zip(runs) {
            let old = std::mem::replace(kind.runs_mut(&mut st), new);
            retired.extend(old.iter().map(|r| r.file_name.clone()).filter(|name| !live.contains(name)));
        }
        if frozen_done {
            st.frozen = None;
        }
        st.last_checkpoint = checkpoint;
        retired
    };
    // Only runs this publish retired: another thread may have written a run
    // it has not published yet.
    for name in retired {
        if let Err(e) = shared.config.fs.remove(&shared.dirs.index.join(&name)) {
            tracing::warn!(run = %name, error = %e, "could not delete a retired index run");
        }
    }
    Ok(())
}

/// Writes the frozen memtable as runs, stores the checkpoint, then swaps
/// the runs in and drops the memtable, so the writer can freeze the next
/// one. Readers see every entry in the memtable or in a run at every
/// moment.
pub fn flush_frozen(shared: &Shared) -> io::Result<()> {
    let Some(frozen) = shared.read().frozen.clone() else { return Ok(()) };
    let fs = shared.config.fs.as_ref();
    let dir = &shared.dirs.index;
    let n = shared.next_run_number.fetch_add(1, Ordering::SeqCst);
    let m = &frozen.memtable;
    let written = [
        Run::write(fs, dir, &run_name(Kind::Ids.name(), n), m.sorted_ids())?,
        Run::write(fs, dir, &run_name(Kind::Streams.name(), n), m.sorted_streams())?,
        Run::write(fs, dir, &run_name(Kind::Postings.name(), n), m.sorted_postings())?,
    ];
    let bytes: u64 = written.iter().map(|r| crate::index::run::run_bytes(r.count)).sum();
    shared.counters.index_bytes.fetch_add(bytes, Ordering::Relaxed);
    let _publishing = shared.publish_lock.lock().unwrap_or_else(|p| p.into_inner());
    let mut runs = current_runs(shared);
    for (list, run) in runs.iter_mut().zip(written) {
        list.push(Arc::new(run));
    }
    publish(shared, frozen.checkpoint.clone(), runs, true)?;
    tracing::debug!(position = frozen.checkpoint.next_position, "index checkpoint stored");
    Ok(())
}

/// Merges the newest `MERGE_FAN_IN` runs of one kind if they are due, and
/// swaps the result in place of exactly those runs (a flush may have added
/// newer ones meanwhile). Returns whether it merged.
fn merge_kind(shared: &Shared, kind: Kind) -> io::Result<bool> {
    let runs = kind.runs(&shared.read()).clone();
    if !merge_due(&runs) {
        return Ok(false);
    }
    let inputs = runs[runs.len() - MERGE_FAN_IN..].to_vec();
    let n = shared.next_run_number.fetch_add(1, Ordering::SeqCst);
    let merged = Arc::new(merge(shared.config.fs.as_ref(), &shared.dirs.index, &run_name(kind.name(), n), &inputs)?);
    shared.counters.index_bytes.fetch_add(crate::index::run::run_bytes(merged.count), Ordering::Relaxed);
    let _publishing = shared.publish_lock.lock().unwrap_or_else(|p| p.into_inner());
    let mut all = current_runs(shared);
    let checkpoint = shared.read().last_checkpoint.clone();
    let list = &mut all[kind as usize];
    let at = list
        .iter()
        .position(|r| r.file_name == inputs[0].file_name)
        .filter(|&at| list[at..].iter().zip(&inputs).all(|(a, b)| a.file_name == b.file_name))
        .ok_or_else(|| io::Error::other("index runs changed under a merge"))?;
    list.splice(at..at + MERGE_FAN_IN, [merged]);
    publish(shared, checkpoint, all, false)?;
    Ok(true)
}

/// Merges until no merge is due.
pub fn compact_once(shared: &Shared) -> io::Result<()> {
    while merge_kind(shared, Kind::Ids)? || merge_kind(shared, Kind::Streams)? || merge_kind(shared, Kind::Postings)? {}
    Ok(())
}
/// Deletes run files the checkpoint does not list: leftovers of a flush or
/// merge a crash interrupted. Only at open, before any thread writes runs.
/// (A reader still holding a retired run keeps reading it: the file lives
/// until its last handle closes.)
pub fn remove_unlisted(shared: &Shared, live: &HashSet<String>) {
    let Ok(paths) = shared.config.fs.list(&shared.dirs.index) else { return };
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if name.ends_with(".run") && !live.contains(name) {
            if let Err(e) = shared.config.fs.remove(&path) {
                tracing::warn!(run = %name, error = %e, "could not delete a retired index run");
            }
        }
    }
}
