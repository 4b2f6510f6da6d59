//! Writing frozen memtables out as runs, merging runs, and checkpointing.
//! Runs off the acknowledgement path, on its own thread.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::state::{Frozen, Shared};
use crate::index::checkpoint::{Checkpoint, RunRef};
use crate::index::memtable::Memtable;
use crate::index::run::{merge, Run};

/// Freezes the active memtable (waiting while an earlier one is still
/// being flushed) and hands it to the flusher. Called by the writer.
pub fn freeze(shared: &Shared) -> Result<(), String> {
    let mut ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(reason) = &ctl.failed {
            return Err(reason.clone());
        }
        if shared.read().frozen.is_none() {
            break;
        }
        ctl = shared.flush_cv.wait(ctl).unwrap_or_else(|p| p.into_inner());
    }
    {
        let mut st = shared.write();
        if st.active.is_empty() {
            return Ok(());
        }
        let checkpoint = st.checkpoint_now();
        let memtable = std::mem::replace(&mut st.active, Memtable::with_capacity(shared.config.memtable_events_max));
        st.frozen = Some(Arc::new(Frozen { memtable, checkpoint }));
    }
    shared.flush_cv.notify_all();
    drop(ctl);
    Ok(())
}

/// The flusher thread: flushes each frozen memtable, and merges runs when
/// nothing waits to be flushed, until told to stop.
pub fn run_flusher(shared: Arc<Shared>) {
    let mut ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if shared.read().frozen.is_some() && ctl.failed.is_none() {
            drop(ctl);
            let flushed = flush_frozen(&shared);
            ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
            // Notified with the lock held: a writer waiting in `freeze` cannot miss it.
            shared.flush_cv.notify_all();
            let result = match flushed {
                Ok(()) if shared.read().frozen.is_none() => {
                    drop(ctl);
                    let merged = compact(&shared);
                    ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
                    merged
                }
                other => other,
            };
            if let Err(e) = result {
                let reason = format!("writing the index failed: {e}");
                shared.poison(reason.clone());
                ctl.failed = Some(reason);
                shared.flush_cv.notify_all();
            }
            continue;
        }
        if ctl.stop {
            return;
        }
        ctl = shared.flush_cv.wait(ctl).unwrap_or_else(|p| p.into_inner());
    }
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

fn merge_newest(shared: &Shared, kind: &str, runs: &mut Vec<Arc<Run>>) -> io::Result<()> {
    let inputs = runs.split_off(runs.len() - MERGE_FAN_IN);
    let n = shared.next_run_number.fetch_add(1, Ordering::SeqCst);
    runs.push(Arc::new(merge(shared.config.fs.as_ref(), &shared.dirs.index, &run_name(kind, n), &inputs)?));
    Ok(())
}

fn refs(runs: &[Arc<Run>]) -> Vec<RunRef> {
    runs.iter().map(|r| RunRef { file_name: r.file_name.clone(), count: r.count }).collect()
}

/// Stores a checkpoint listing these runs, swaps them in, and deletes the
/// runs it no longer lists.
fn publish(
    shared: &Shared,
    mut checkpoint: Checkpoint,
    id_runs: Vec<Arc<Run>>,
    stream_runs: Vec<Arc<Run>>,
    frozen_done: bool,
) -> io::Result<()> {
    checkpoint.id_runs = refs(&id_runs);
    checkpoint.stream_runs = refs(&stream_runs);
    checkpoint.next_run_number = shared.next_run_number.load(Ordering::SeqCst);
    checkpoint.store(shared.config.fs.as_ref(), &shared.dirs.index)?;
    let live: HashSet<String> = id_runs.iter().chain(&stream_runs).map(|r| r.file_name.clone()).collect();
    {
        let mut st = shared.write();
        st.id_runs = id_runs;
        st.stream_runs = stream_runs;
        if frozen_done {
            st.frozen = None;
        }
        st.last_checkpoint = checkpoint;
    }
    remove_unlisted(shared, &live);
    Ok(())
}

/// Writes the frozen memtable as runs, stores the checkpoint, then swaps
/// the runs in and drops the memtable, so the writer can freeze the next
/// one. Readers see every entry in the memtable or in a run at every
/// moment. Merging happens afterwards, in [`compact`].
pub fn flush_frozen(shared: &Shared) -> io::Result<()> {
    let (frozen, mut id_runs, mut stream_runs) = {
        let st = shared.read();
        let Some(frozen) = st.frozen.clone() else { return Ok(()) };
        (frozen, st.id_runs.clone(), st.stream_runs.clone())
    };
    let fs = shared.config.fs.as_ref();
    let dir = &shared.dirs.index;
    let n = shared.next_run_number.fetch_add(1, Ordering::SeqCst);
    id_runs.push(Arc::new(Run::write(fs, dir, &run_name("ids", n), frozen.memtable.sorted_ids())?));
    stream_runs.push(Arc::new(Run::write(fs, dir, &run_name("streams", n), frozen.memtable.sorted_streams())?));
    publish(shared, frozen.checkpoint.clone(), id_runs, stream_runs, true)?;
    tracing::debug!(position = frozen.checkpoint.next_position, "index checkpoint stored");
    Ok(())
}

/// Merges runs of the same size tier. The writer waits only for flushes,
/// never for merges.
pub fn compact(shared: &Shared) -> io::Result<()> {
    let (mut id_runs, mut stream_runs, checkpoint) = {
        let st = shared.read();
        (st.id_runs.clone(), st.stream_runs.clone(), st.last_checkpoint.clone())
    };
    if !merge_due(&id_runs) && !merge_due(&stream_runs) {
        return Ok(());
    }
    while merge_due(&id_runs) {
        merge_newest(shared, "ids", &mut id_runs)?;
    }
    while merge_due(&stream_runs) {
        merge_newest(shared, "streams", &mut stream_runs)?;
    }
    publish(shared, checkpoint, id_runs, stream_runs, false)
}

/// Deletes run files the checkpoint does not list: retired inputs of a
/// merge, or leftovers of a flush a crash interrupted. (A reader still
/// holding one keeps reading it: the file lives until its last handle
/// closes.)
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
