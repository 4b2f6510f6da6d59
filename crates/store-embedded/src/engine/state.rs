//! The engine's shared, in-memory state.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::watch;

use crate::config::Config;
use crate::fs::FileHandle;
use crate::index::checkpoint::{note_sparse, Checkpoint, Head, Sparse, TailCommit};
use crate::index::memtable::Memtable;
use crate::index::run::Run;
use crate::segment::header::{SegmentHeader, HEADER_BYTES};
use crate::segment::{segment_path, Loc};

/// An open segment file. Only `end` changes, and only for the last one.
pub struct SegmentFile {
    pub number: u32,
    pub header: SegmentHeader,
    pub file: Arc<dyn FileHandle>,
    pub path: PathBuf,
    /// Just past the last durable commit.
    pub end: AtomicU64,
}

impl SegmentFile {
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }
}

/// A memtable waiting to be written out, with the checkpoint that will
/// describe the store once it is.
pub struct Frozen {
    pub memtable: Memtable,
    pub checkpoint: Checkpoint,
}

/// Everything readers see. The writer thread changes it after each
/// durable commit; the flusher swaps in runs.
pub struct State {
    pub segments: BTreeMap<u32, Arc<SegmentFile>>,
    pub next_position: u64,
    pub tail: Loc,
    /// The commit that ends at `tail` (None before the first).
    pub tail_commit: Option<TailCommit>,
    pub chain: [u8; 32],
    pub last_timestamp_us: u64,
    pub heads: HashMap<String, Head, foldhash::fast::RandomState>,
    pub sparse: Vec<Sparse>,
    pub active: Memtable,
    pub frozen: Option<Arc<Frozen>>,
    pub id_runs: Vec<Arc<Run>>,
    pub stream_runs: Vec<Arc<Run>>,
    pub posting_runs: Vec<Arc<Run>>,
    /// The checkpoint last stored (merges store it again with new runs).
    pub last_checkpoint: Checkpoint,
}

impl State {
    /// Records where a commit starts in the sparse position index when it
    /// is at least `SPARSE_STRIDE` positions past the last entry, or opens a
    /// segment (so a scan never has to cross into a segment from a stale
    /// entry). The writer's syncer and replay on open both use this rule.
    pub fn note_commit_start(&mut self, position: u64, loc: Loc, timestamp_us: u64) {
        note_sparse(&mut self.sparse, position, loc, timestamp_us);
    }

    /// Moves the published end past one more durable commit.
    pub fn note_commit_end(&mut self, start: Loc, end: Loc, first_position: u64, chain: [u8; 32]) {
        self.tail_commit = Some(TailCommit { loc: start, first_position, prev_chain: self.chain });
        self.tail = end;
        self.chain = chain;
    }

    /// The checkpoint describing the current state, minus the runs (which
    /// the flusher fills in once it has written them).
    pub fn checkpoint_now(&self) -> Checkpoint {
        Checkpoint {
            next_position: self.next_position,
            tail: Some(self.tail),
            tail_commit: self.tail_commit,
            chain: self.chain,
            last_timestamp_us: self.last_timestamp_us,
            next_run_number: 0,
            id_runs: Vec::new(),
            stream_runs: Vec::new(),
            posting_runs: Vec::new(),
            heads: self.heads.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            sparse: self.sparse.clone(),
        }
    }
}

/// Directories of a store.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub log: PathBuf,
    pub index: PathBuf,
}

impl Dirs {
    pub fn new(root: PathBuf) -> Self {
        Dirs { log: root.join("log"), index: root.join("index") }
    }
    pub fn segment(&self, number: u32) -> PathBuf {
        segment_path(&self.log, number)
    }
}

/// State shared by the store handle, the writer thread and the flusher.
pub struct Shared {
    pub config: Config,
    pub dirs: Dirs,
    pub state: RwLock<State>,
    pub watch: watch::Sender<u64>,
    /// Set after a failure that makes further writes unsafe.
    pub poisoned: Mutex<Option<String>>,
    /// Held around every fdatasync of a segment together with the poison
    /// decision that follows it. Linux reports a writeback error once per
    /// open file, so of two fsyncs on one file (the syncer's and a
    /// rotation's) only the first to look sees it; the other must learn of
    /// it from the poison, which this lock orders before its own check.
    pub sync_lock: Mutex<()>,
    /// Held by the writer around each write to the log (after checking
    /// the poison), and by the cut-back after a failed fdatasync, so no
    /// write lands after the cut.
    pub write_lock: Mutex<()>,
    /// The log is fdatasynced up to here (a packed [`Loc`]; only grows).
    pub durable_end: AtomicU64,
    /// Guards the hand-off of frozen memtables between writer and flusher.
    pub flush_lock: Mutex<FlushControl>,
    pub flush_cv: Condvar,
    pub next_run_number: AtomicU64,
    /// Serializes checkpoint stores and run-list swaps (flusher, compactor).
    pub publish_lock: Mutex<()>,
    /// The last commit the syncer has made durable and published.
    pub synced_seq: AtomicU64,
    /// Appends the writer has handled (written or refused), with a condvar
    /// the syncer waits on for acknowledged writers to come back.
    pub handled: Mutex<u64>,
    pub handled_cv: Condvar,
    /// The `handled` count the syncer waits for (u64::MAX: none), so the
    /// writer wakes it once, not after every commit.
    pub cohort_target: AtomicU64,
    /// Commits handed to the syncer and not yet published.
    pub unsynced_commits: AtomicU64,
    /// Appends answered by the last fdatasync: 1 (or 0) means one writer
    /// at a time, and the writer syncs inline instead of handing over.
    pub last_group_appends: AtomicU64,
    pub counters: Counters,
    pub recovery: Mutex<Recovery>,
    /// Why writing the derived index last failed, while it keeps failing
    /// (it is retried; appends go on).
    pub index_error: Mutex<Option<String>>,
    /// Bytes a write needed when it last failed with ENOSPC (0: none
    /// failed since the last successful write).
    pub full_need_bytes: AtomicU64,
}

/// Free space that ends a full-disk state (with at least what the failed
/// write needed).
const FREE_BYTES_TO_RECOVER: u64 = 1 << 20;

/// What opening the store had to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The index checkpoint was missing or unusable and was rebuilt.
    pub rebuilt_index: bool,
    /// Events replayed from the log past the checkpoint.
    pub replayed_events: u64,
    /// Bytes of an unfinished commit cut off the end of the log.
    pub truncated_bytes: u64,
    /// Segments left behind by a rotation that failed half-way (a header
    /// and nothing else, not continuing the log), deleted.
    pub removed_orphan_segments: u64,
}

/// A fixed-bucket histogram of atomics: cheap enough for every fsync.
#[derive(Debug)]
pub struct AtomicHistogram {
    pub bounds: &'static [u64],
    pub counts: Vec<AtomicU64>,
    pub sum: AtomicU64,
}

impl AtomicHistogram {
    pub fn new(bounds: &'static [u64]) -> Self {
        AtomicHistogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }
    pub fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }
    /// As a cumulative histogram, values scaled by `scale`.
    pub fn export(&self, name: &'static str, help: &'static str, scale: f64) -> hindsight_store::Histogram {
        let mut acc = 0;
        let cumulative_counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| {
                acc += c.load(Ordering::Relaxed);
                acc
            })
            .collect();
        let mut bounds: Vec<f64> = self.bounds.iter().map(|b| *b as f64 * scale).collect();
        bounds.push(f64::INFINITY);
        hindsight_store::Histogram {
            name,
            help,
            bounds,
            count: acc,
            cumulative_counts,
            sum: self.sum.load(Ordering::Relaxed) as f64 * scale,
        }
    }
}

pub const FSYNC_EVENTS_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
pub const FSYNC_MICROS_BOUNDS: &[u64] = &[50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10_000, 50_000, 250_000];

/// Running totals for metrics and benchmarks.
#[derive(Debug)]
pub struct Counters {
    /// Events made durable by each fdatasync.
    pub fsync_events: AtomicHistogram,
    /// Duration of each fdatasync, in microseconds.
    pub fsync_latency: AtomicHistogram,
    pub fsyncs: AtomicU64,
    pub fsync_micros: AtomicU64,
    pub commits: AtomicU64,
    pub events: AtomicU64,
    pub bytes: AtomicU64,
    pub appends: AtomicU64,
    pub index_errors: AtomicU64,
    /// Bytes of index runs written (flushes and merges).
    pub index_bytes: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            fsync_events: AtomicHistogram::new(FSYNC_EVENTS_BOUNDS),
            fsync_latency: AtomicHistogram::new(FSYNC_MICROS_BOUNDS),
            fsyncs: AtomicU64::new(0),
            fsync_micros: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            index_errors: AtomicU64::new(0),
            index_bytes: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Default)]
pub struct FlushControl {
    pub stop: bool,
    /// Set while flushes fail: when the flusher tries again.
    pub retry_at: Option<std::time::Instant>,
}

impl Shared {
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
    pub fn poison(&self, reason: String) {
        tracing::error!(%reason, "store refuses further writes until restarted");
        let mut p = self.poisoned.lock().unwrap_or_else(|p| p.into_inner());
        p.get_or_insert(reason);
    }

    /// Adds to the reason the store refuses writes (what an operator must
    /// know before restarting it).
    pub fn poison_note(&self, note: &str) {
        let mut p = self.poisoned.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = p.as_mut() {
            reason.push_str("; ");
            reason.push_str(note);
        }
    }
    pub fn poisoned(&self) -> Option<String> {
        self.poisoned.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A transient failure writing the index: reported, then retried.
    pub fn index_failed(&self, reason: String) {
        tracing::warn!(%reason, "index write failed; appends go on, the index catches up once it succeeds");
        self.counters.index_errors.fetch_add(1, Ordering::Relaxed);
        *self.index_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    pub fn index_recovered(&self) {
        if self.index_error.lock().unwrap_or_else(|p| p.into_inner()).take().is_some() {
            tracing::info!("index writes succeed again");
        }
    }

    /// Why the store is not fully healthy although it accepts writes: the
    /// disk is full, or index writes are failing.
    pub fn degraded(&self) -> Option<String> {
        let need = self.full_need_bytes.load(Ordering::Acquire);
        if need > 0 {
            let free = self.config.fs.available_bytes(&self.dirs.log).unwrap_or(0);
            if free >= need.max(FREE_BYTES_TO_RECOVER) {
                self.full_need_bytes.store(0, Ordering::Release);
            } else {
                return Some(format!("the disk is full ({free} bytes free); appends fail with storage_full"));
            }
        }
        self.index_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records that the log is fdatasynced up to `loc`.
    pub fn note_durable(&self, loc: Loc) {
        self.durable_end.fetch_max(loc.pack(), Ordering::AcqRel);
    }

    /// How far segment `number` is known to be durable: a segment the
    /// durable end has not reached yet is durable up to its header (it is
    /// created synced).
    pub fn durable_offset_in(&self, number: u32) -> u64 {
        let d = Loc::unpack(self.durable_end.load(Ordering::Acquire));
        if d.segment == number {
            u64::from(d.offset)
        } else {
            HEADER_BYTES as u64
        }
    }

    /// fdatasyncs a segment and, when that succeeds and nothing has
    /// poisoned the store meanwhile, records it durable up to `synced_to`
    /// (bytes written before the call). On failure the store is poisoned
    /// and the log cut back to its durable end: the pages of a failed
    /// writeback may be gone from the disk yet still in the page cache, and
    /// a restart must not read them back as if they were stored.
    pub fn sync_segment(&self, seg: &SegmentFile, synced_to: u64) -> Result<(), String> {
        let _syncing = self.sync_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = self.poisoned() {
            return Err(reason);
        }
        let started = std::time::Instant::now();
        let result = seg.file.sync_data();
        let micros = started.elapsed().as_micros() as u64;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.counters.fsync_micros.fetch_add(micros, Ordering::Relaxed);
        self.counters.fsync_latency.observe(micros);
        if let Err(e) = result {
            self.poison(format!("fdatasync of {} failed: {e}", seg.path.display()));
            self.cut_back_to_durable();
            return Err(self.poisoned().unwrap_or_default());
        }
        // Another fsync of this file may have collected the error first and
        // poisoned the store: then this one's success proves nothing.
        if let Some(reason) = self.poisoned() {
            return Err(reason);
        }
        let offset = u32::try_from(synced_to).map_err(|_| format!("offset {synced_to} beyond the segment range"))?;
        self.note_durable(Loc { segment: seg.number, offset });
        Ok(())
    }

    /// After a failed fdatasync (the store is already poisoned): cuts the
    /// last segment back to where it is known durable, with the writer
    /// shut out, and tries to sync the cut.
    fn cut_back_to_durable(&self) {
        let _writing = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        super::cut_back::cut_back_to_durable(self);
    }
}
