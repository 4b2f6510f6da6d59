//! Engine configuration and the clock seam.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hindsight_store::Limits;

use crate::fs::{Fs, StdFs};

/// A new segment is started once the current one reaches this size.
pub const SEGMENT_BYTES_TARGET: u64 = 256 << 20;
/// The largest segment size target an operator may set.
pub const SEGMENT_BYTES_TARGET_MAX: u64 = 1 << 30;
/// No byte of a segment lies past this offset: locations hold 32-bit
/// offsets. A segment grows past its target only while rotation fails; the
/// writer then refuses a commit that would cross this rather than wrap.
pub const SEGMENT_OFFSET_MAX: u64 = u32::MAX as u64;
/// Index entries kept in memory before they are written out as runs.
pub const MEMTABLE_EVENTS_MAX: usize = 256 * 1024;
/// Appends waiting for the writer; senders wait (or, over HTTP, are told
/// to retry) when it is full.
pub const APPEND_QUEUE_DEPTH: usize = 4096;
/// Bytes of appends one group commit gathers at most.
pub const COMMIT_BYTES_MAX: usize = 32 << 20;
/// Zeros written ahead of the log's end, so that most fdatasyncs find the
/// file's size unchanged and skip the metadata journal commit (measured
/// here: 1.2x to 1.5x more fdatasyncs per second). 0 turns it off.
pub const PREALLOCATE_BYTES: u64 = 4 << 20;
/// Positions between entries of the sparse position index.
pub const SPARSE_STRIDE: u64 = 256;

const _: () = assert!(SEGMENT_BYTES_TARGET <= SEGMENT_BYTES_TARGET_MAX);
const _: () = assert!(SEGMENT_BYTES_TARGET_MAX + 2 * COMMIT_BYTES_MAX as u64 <= SEGMENT_OFFSET_MAX);

/// Time as the engine sees it: microseconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync + 'static {
    fn now_us(&self) -> u64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
    }
}

/// Called with (bytes done, bytes total) while the log is replayed on
/// open; a rebuild of the indexes replays all of it.
pub type ReplayProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How to open an embedded store.
#[derive(Clone)]
pub struct Config {
    pub replay_progress: Option<ReplayProgress>,
    pub data_dir: PathBuf,
    pub limits: Limits,
    pub segment_bytes_target: u64,
    /// [`SEGMENT_OFFSET_MAX`]; tests lower it to reach the limit quickly.
    pub segment_offset_max: u64,
    pub preallocate_bytes: u64,
    pub memtable_events_max: usize,
    pub append_queue_depth: usize,
    pub fs: Arc<dyn Fs>,
    pub clock: Arc<dyn Clock>,
}

impl Config {
    /// The defaults, with the overrides operators may set in the
    /// environment: `HINDSIGHT_SEGMENT_BYTES`, `HINDSIGHT_MEMTABLE_EVENTS`,
    /// `HINDSIGHT_PREALLOCATE_BYTES`,
    /// `HINDSIGHT_EVENT_SIZE_BYTES_MAX`, `HINDSIGHT_APPEND_EVENTS_MAX`,
    /// `HINDSIGHT_APPEND_SIZE_BYTES_MAX`. A value that is not a number is
    /// an error, never silently ignored.
    pub fn from_env(data_dir: impl Into<PathBuf>) -> Result<Self, String> {
        fn var<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
            match std::env::var(name) {
                Ok(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v:?} is not a valid number")),
                Err(_) => Ok(None),
            }
        }
        let mut c = Config::new(data_dir);
        if let Some(v) = var("HINDSIGHT_SEGMENT_BYTES")? {
            c.segment_bytes_target = v;
        }
        if let Some(v) = var("HINDSIGHT_PREALLOCATE_BYTES")? {
            c.preallocate_bytes = v;
        }
        if let Some(v) = var("HINDSIGHT_MEMTABLE_EVENTS")? {
            c.memtable_events_max = v;
        }
        if let Some(v) = var("HINDSIGHT_EVENT_SIZE_BYTES_MAX")? {
            c.limits.event_size_bytes_max = v;
        }
        if let Some(v) = var("HINDSIGHT_APPEND_EVENTS_MAX")? {
            c.limits.append_events_max = v;
        }
        if let Some(v) = var("HINDSIGHT_APPEND_SIZE_BYTES_MAX")? {
            c.limits.append_size_bytes_max = v;
        }
        if c.memtable_events_max == 0 {
            return Err("HINDSIGHT_MEMTABLE_EVENTS must be at least 1".into());
        }
        Ok(c)
    }

    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            replay_progress: None,
            data_dir: data_dir.into(),
            limits: Limits::default(),
            segment_bytes_target: SEGMENT_BYTES_TARGET,
            segment_offset_max: SEGMENT_OFFSET_MAX,
            preallocate_bytes: PREALLOCATE_BYTES,
            memtable_events_max: MEMTABLE_EVENTS_MAX,
            append_queue_depth: APPEND_QUEUE_DEPTH,
            fs: Arc::new(StdFs),
            clock: Arc::new(SystemClock),
        }
    }
}
