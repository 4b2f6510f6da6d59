//! Writing frozen memtables out as runs, merging runs, and checkpointing.
//! Runs off the acknowledgement path, on its own thread.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::state::{Frozen, Shared};
use crate::index::checkpoint::RunRef;
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
        let memtable = std::mem::take(&mut st.active);
        st.frozen = Some(Arc::new(Frozen { memtable, checkpoint }));
    }
    shared.flush_cv.notify_all();
    drop(ctl);
    Ok(())
}

/// The flusher thread: flushes each frozen memtable until told to stop.
pub fn run_flusher(shared: Arc<Shared>) {
    let mut ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if shared.read().frozen.is_some() && ctl.failed.is_none() {
            drop(ctl);
            let result = flush_frozen(&shared);
            ctl = shared.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = result {
                let reason = format!("writing the index failed: {e}");
                shared.poison(reason.clone());
                ctl.failed = Some(reason);
            }
            shared.flush_cv.notify_all();
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

/// Merges the newest runs while the one before the newest is at most twice
/// its size, so the number of runs stays logarithmic in the event count.
fn compact(shared: &Shared, kind: &str, mut runs: Vec<Arc<Run>>) -> io::Result<Vec<Arc<Run>>> {
    let fs = shared.config.fs.as_ref();
    while runs.len() >= 2 && runs[runs.len() - 2].count <= 2 * runs[runs.len() - 1].count {
        let inputs = runs.split_off(runs.len() - 2);
        let n = shared.next_run_number.fetch_add(1, Ordering::SeqCst);
        let merged = merge(fs, &shared.dirs.index, &run_name(kind, n), &inputs)?;
        runs.push(Arc::new(merged));
    }
    Ok(runs)
}

/// Writes the frozen memtable as runs, compacts, stores the checkpoint,
/// then swaps the runs in and drops the memtable. Readers see every entry
/// in the memtable or in a run at every moment.
pub fn flush_frozen(shared: &Shared) -> io::Result<()> {
    let (frozen, id_runs, stream_runs) = {
        let st = shared.read();
        let Some(frozen) = st.frozen.clone() else { return Ok(()) };
        (frozen, st.id_runs.clone(), st.stream_runs.clone())
    };
    let fs = shared.config.fs.as_ref();
    let dir = &shared.dirs.index;
    let n = shared.next_run_number.fetch_add(1, Ordering::SeqCst);
    let ids = Run::write(fs, dir, &run_name("ids", n), frozen.memtable.sorted_ids())?;
    let streams = Run::write(fs, dir, &run_name("streams", n), frozen.memtable.sorted_streams())?;
    let id_runs = compact(shared, "ids", id_runs.into_iter().chain([Arc::new(ids)]).collect())?;
    let stream_runs = compact(shared, "streams", stream_runs.into_iter().chain([Arc::new(streams)]).collect())?;
    let mut checkpoint = frozen.checkpoint.clone();
    let refs =
        |runs: &[Arc<Run>]| runs.iter().map(|r| RunRef { file_name: r.file_name.clone(), count: r.count }).collect();
    checkpoint.id_runs = refs(&id_runs);
    checkpoint.stream_runs = refs(&stream_runs);
    checkpoint.next_run_number = shared.next_run_number.load(Ordering::SeqCst);
    checkpoint.store(fs, dir)?;
    let live: HashSet<String> = id_runs.iter().chain(&stream_runs).map(|r| r.file_name.clone()).collect();
    {
        let mut st = shared.write();
        st.id_runs = id_runs;
        st.stream_runs = stream_runs;
        st.frozen = None;
    }
    remove_unlisted(shared, &live);
    tracing::debug!(position = checkpoint.next_position, "index checkpoint stored");
    Ok(())
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
