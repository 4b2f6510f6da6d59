//! Group commit, stage two: the syncer fdatasyncs every commit the writer
//! has written so far with one call, then publishes them to readers (heads,
//! memtable, sparse index, next position) and acknowledges their appends.
//! A failed fdatasync poisons the store and fails every unsynced append:
//! after it the kernel may have dropped the pages, and acknowledging them
//! would be a lie.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hindsight_store::StoreError;

use super::flush::freeze;
use super::state::{SegmentFile, Shared};
use super::writer::{Outcome, Placed, Reply};
use crate::index::checkpoint::Head;
use crate::index::id_key;
use crate::segment::Loc;

/// Clears the cohort target when the wait ends, however it ends.
struct ResetTarget<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for ResetTarget<'_> {
    fn drop(&mut self) {
        self.0.store(u64::MAX, Ordering::Release);
    }
}

/// A commit written to the log and not yet synced, with the appends it
/// answers. A commit with no events carries only refusals.
pub struct Written {
    pub seq: u64,
    pub segment: Arc<SegmentFile>,
    pub commit_start: u64,
    pub end: u64,
    pub first_position: u64,
    pub next_position: u64,
    pub chain: [u8; 32],
    pub timestamp_us: u64,
    pub heads: HashMap<String, Head>,
    pub placed: Vec<Placed>,
    pub outcomes: Vec<(Reply, Outcome)>,
}

/// Commits that may be written ahead of the fdatasync in progress.
pub const UNSYNCED_COMMITS_MAX: usize = 8;

/// The longest the syncer waits for the writers it just acknowledged to
/// come back, as a fraction of the last fdatasync's duration. Half an
/// fdatasync gathers nearly the whole cohort (60 of 64 writers) and keeps
/// the disk idle for less: 0.70-0.73 of the raw rate against 0.66-0.69
/// waiting a whole one (`bench append --writers 64`, same runs).
const COHORT_WAIT_FRACTION: u32 = 2;
/// And never longer than this.
const COHORT_WAIT_MAX: Duration = Duration::from_millis(1);

/// Every fdatasync covers what was written while the previous one ran,
/// plus, when the previous one acknowledged several appends, those of
/// their writers that come straight back: the syncer waits for them, but
/// no longer than half an fdatasync takes (and never when it acknowledged one
/// append or none, so a lone writer never waits). Without this, 64
/// writers split into two cohorts that take turns, each fdatasync carrying
/// half of them.
pub fn run_syncer(shared: Arc<Shared>, rx: Receiver<Written>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(w) = rx.try_recv() {
            group.push(w);
        }
        let acknowledged: u64 = group.iter().map(|w| w.outcomes.len() as u64).sum();
        let commits = group.len() as u64;
        let started = Instant::now();
        sync_group(&shared, group);
        // Only now may the writer sync inline: everything handed over is published.
        shared.unsynced_commits.fetch_sub(commits, Ordering::AcqRel);
        let last_sync = started.elapsed();
        if acknowledged > 1 {
            // Counted after the acknowledgements went out: whatever the
            // writer handles from here on is their writers coming back.
            let handled_at_ack = *shared.handled.lock().unwrap_or_else(|p| p.into_inner());
            wait_for_cohort(&shared, handled_at_ack + acknowledged, last_sync / COHORT_WAIT_FRACTION);
        }
    }
}

fn wait_for_cohort(shared: &Shared, target: u64, wait: Duration) {
    let deadline = Instant::now() + wait.min(COHORT_WAIT_MAX);
    let mut handled = shared.handled.lock().unwrap_or_else(|p| p.into_inner());
    // Set under the lock the writer takes to count, so it cannot miss it.
    shared.cohort_target.store(target, Ordering::Release);
    let _reset = ResetTarget(&shared.cohort_target);
    while *handled < target {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        handled = match shared.handled_cv.wait_timeout(handled, deadline - now) {
            Ok((h, _)) => h,
            Err(p) => p.into_inner().0,
        };
    }
}

fn fail_all(group: Vec<Written>, reason: &str) {
    for w in group {
        for (reply, outcome) in w.outcomes {
            let _ = reply.send(outcome.and_then(|_| Err(StoreError::Poisoned { reason: reason.to_string() })));
        }
    }
}

/// Syncs, publishes and answers a group of written commits (on the
/// syncer, or inline on the writer when it is alone).
pub fn sync_group(shared: &Shared, group: Vec<Written>) {
    let appends: u64 = group.iter().map(|w| w.outcomes.len() as u64).sum();
    shared.last_group_appends.store(appends, Ordering::Release);
    sync_and_publish(shared, group);
}

fn sync_and_publish(shared: &Shared, group: Vec<Written>) {
    if let Some(reason) = shared.poisoned() {
        return fail_all(group, &reason);
    }
    // One fdatasync per segment written to (two only across a rotation),
    // each through the sync lock that orders it with a rotation's.
    let mut synced: Vec<u32> = Vec::new();
    for w in group.iter().rev().filter(|w| w.end > w.commit_start) {
        if synced.contains(&w.segment.number) {
            continue;
        }
        synced.push(w.segment.number);
        if let Err(reason) = shared.sync_segment(&w.segment, w.end) {
            return fail_all(group, &reason);
        }
    }
    let (memtable_full, next) = {
        let mut st = shared.write();
        for w in &group {
            if w.end == w.commit_start {
                continue;
            }
            st.heads.extend(w.heads.iter().map(|(k, v)| (k.clone(), *v)));
            for p in &w.placed {
                st.active.insert(id_key(&p.id), p.stream_key, p.version, p.loc.pack());
                st.active.insert_postings(p.terms, p.position, p.loc.pack());
            }
            st.note_commit_start(
                w.first_position,
                Loc { segment: w.segment.number, offset: w.commit_start as u32 },
                w.timestamp_us,
            );
            st.next_position = w.next_position;
            st.note_commit_end(
                Loc { segment: w.segment.number, offset: w.commit_start as u32 },
                Loc { segment: w.segment.number, offset: w.end as u32 },
                w.first_position,
                w.chain,
            );
            st.last_timestamp_us = w.timestamp_us;
            w.segment.end.store(w.end, Ordering::Release);
        }
        if let Some(last) = group.last() {
            shared.synced_seq.store(last.seq, Ordering::Release);
        }
        let c = &shared.counters;
        for w in group.iter().filter(|w| w.end > w.commit_start) {
            c.commits.fetch_add(1, Ordering::Relaxed);
            c.events.fetch_add(w.placed.len() as u64, Ordering::Relaxed);
            c.bytes.fetch_add(w.end - w.commit_start, Ordering::Relaxed);
        }
        c.appends.fetch_add(group.iter().map(|w| w.outcomes.len() as u64).sum(), Ordering::Relaxed);
        let events: u64 = group.iter().map(|w| w.placed.len() as u64).sum();
        if events > 0 {
            c.fsync_events.observe(events);
        }
        (st.active.len() >= shared.config.memtable_events_max, st.next_position)
    };
    shared.watch.send_replace(next);
    for w in group {
        for (reply, outcome) in w.outcomes {
            let _ = reply.send(outcome);
        }
    }
    if memtable_full {
        freeze(shared);
    }
}
