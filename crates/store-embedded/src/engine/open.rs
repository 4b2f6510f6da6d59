//! Opening a store: lock, segments, checkpoint, and replay of the log tail
//! past the checkpoint (truncating a torn tail, refusing corruption).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use tokio::sync::watch;

use super::flush::{compact_once, flush_frozen, freeze, remove_unlisted};
use super::state::{Dirs, FlushControl, Recovery, SegmentFile, Shared, State};
use crate::config::{Config, SEGMENT_BYTES_TARGET_MAX};
use crate::index::checkpoint::{Checkpoint, Head};
use crate::index::memtable::Memtable;
use crate::index::run::Run;
use crate::index::{id_key, stream_key, terms_of};
use crate::segment::header::{SegmentHeader, HEADER_BYTES};
use crate::segment::reader::{find_durable_claim, is_zero_tail, replay, ReplayEnd, ReplayError, ReplayedCommit};
use crate::segment::{parse_segment_name, Loc};
use crate::OpenError;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpenError {
    let context = context.into();
    move |source| OpenError::Io { context, cause: source }
}

/// Creates a segment file atomically: written and fsynced under a
/// temporary name, renamed, and the directory fsynced. When anything
/// after the rename fails, the new name is removed again (and the removal
/// synced), so the old segment stays the last one; should even that fail,
/// open recognises the leftover (a header that does not continue the log,
/// and nothing after it) and deletes it.
pub fn create_segment(config: &Config, dirs: &Dirs, header: SegmentHeader) -> std::io::Result<SegmentFile> {
    let fs = config.fs.as_ref();
    let path = dirs.segment(header.segment);
    let tmp = path.with_extension("seg.tmp");
    let file = fs.open(&tmp, true)?;
    let prepared = file
        .set_len(0)
        .and_then(|()| file.write_all_at(&header.encode(), 0))
        .and_then(|()| file.sync_data())
        .and_then(|()| fs.rename(&tmp, &path));
    if let Err(e) = prepared {
        let _ = fs.remove(&tmp);
        return Err(e);
    }
    if let Err(e) = fs.sync_dir(&dirs.log) {
        let undone = fs.remove(&path).and_then(|()| fs.sync_dir(&dirs.log));
        if let Err(e2) = undone {
            tracing::warn!(segment = %path.display(), error = %e2, "could not remove a half-created segment; the next open deletes it");
        }
        return Err(e);
    }
    Ok(SegmentFile { number: header.segment, header, file, path, end: AtomicU64::new(HEADER_BYTES as u64) })
}

/// Opens every segment and checks that their headers link up.
fn open_segments(config: &Config, dirs: &Dirs) -> Result<BTreeMap<u32, Arc<SegmentFile>>, OpenError> {
    let fs = config.fs.as_ref();
    let mut numbers = Vec::new();
    for path in fs.list(&dirs.log).map_err(io_err(format!("listing {}", dirs.log.display())))? {
        if path.extension().is_some_and(|e| e == "tmp") {
            // A segment whose creation a crash interrupted: it holds no commits.
            fs.remove(&path).map_err(io_err(format!("removing {}", path.display())))?;
        } else if let Some(n) = parse_segment_name(&path) {
            numbers.push(n);
        } else {
            tracing::warn!(file = %path.display(), "ignoring a file in log/ that is not a segment");
        }
    }
    let mut segments = BTreeMap::new();
    if numbers.is_empty() {
        let header = SegmentHeader { segment: 1, first_position: 0, prev_chain: [0; 32] };
        let seg = create_segment(config, dirs, header).map_err(io_err("creating the first segment"))?;
        segments.insert(1, Arc::new(seg));
        return Ok(segments);
    }
    let mut expected = numbers[0];
    for n in numbers {
        let path = dirs.segment(n);
        let corrupt = |detail: String| OpenError::Corrupt {
            segment: path.display().to_string(),
            offset: 0,
            position: None,
            detail,
        };
        if n != expected {
            return Err(corrupt(format!("segment {expected} is missing")));
        }
        expected = n + 1;
        let file = fs.open(&path, false).map_err(io_err(format!("opening {}", path.display())))?;
        let mut b = [0u8; HEADER_BYTES];
        let got = file.read_full_at(&mut b, 0).map_err(io_err(format!("reading {}", path.display())))?;
        let header = SegmentHeader::decode(&b[..got]).map_err(|e| corrupt(e.to_string()))?;
        if header.segment != n {
            return Err(corrupt(format!("header says segment {}", header.segment)));
        }
        let end = file.size().map_err(io_err(format!("reading {}", path.display())))?;
        if end > config.segment_offset_max {
            return Err(corrupt(format!(
                "segment is {end} bytes long; locations address at most {} bytes",
                config.segment_offset_max
            )));
        }
        segments.insert(n, Arc::new(SegmentFile { number: n, header, file, path, end: AtomicU64::new(end) }));
    }
    Ok(segments)
}

/// A checkpoint with its id runs and stream runs opened.
/// The checkpoint and its id, stream and posting runs.
type LoadedIndex = (Checkpoint, [Vec<Arc<Run>>; 3]);

/// What the index directory offers a start.
enum Loaded {
    /// No checkpoint yet: a new store, or one never checkpointed.
    Nothing,
    /// A checkpoint that fits the log, with its runs.
    Index(Box<LoadedIndex>),
    /// Rebuild the indexes from the log. `durable_to` is where an intact
    /// checkpoint (whose runs are unusable) says the log was durable.
    Rebuild { durable_to: Option<Loc> },
}

/// Loads the checkpoint and its runs, after proving it against the log:
/// the commit that ends at its tail must replay to its chain hash and next
/// position. A checkpoint only ever covers acknowledged commits, so an
/// intact checkpoint that the log does not bear out means acknowledged
/// data is damaged or gone: the start stops and says so, rather than
/// rebuilding over the hole.
fn load_checkpoint(
    config: &Config,
    dirs: &Dirs,
    segments: &BTreeMap<u32, Arc<SegmentFile>>,
) -> Result<Loaded, OpenError> {
    let fs = config.fs.as_ref();
    let ckpt = match Checkpoint::load(fs, &dirs.index) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(Loaded::Nothing),
        Err(e) => {
            tracing::warn!(error = %e, "index checkpoint unreadable; rebuilding the indexes from the log");
            return Ok(Loaded::Rebuild { durable_to: None });
        }
    };
    check_against_log(&ckpt, segments)?;
    let open = |refs: &[crate::index::checkpoint::RunRef]| -> std::io::Result<Vec<Arc<Run>>> {
        refs.iter().map(|r| Run::open(fs, &dirs.index, &r.file_name, r.count).map(Arc::new)).collect()
    };
    match (open(&ckpt.id_runs), open(&ckpt.stream_runs), open(&ckpt.posting_runs)) {
        (Ok(ids), Ok(streams), Ok(postings)) => Ok(Loaded::Index(Box::new((ckpt, [ids, streams, postings])))),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::warn!(error = %e, "index run unreadable; rebuilding the indexes from the log");
            Ok(Loaded::Rebuild { durable_to: ckpt.tail })
        }
    }
}

fn damaged_before(seg: &SegmentFile, offset: u64, position: Option<u64>, what: String) -> OpenError {
    OpenError::Corrupt {
        segment: seg.path.display().to_string(),
        offset,
        position,
        detail: format!(
            "{what}: acknowledged data is damaged or missing. `hindsight verify` reports the damage; `hindsight repair` cuts the log back to its last intact commit"
        ),
    }
}

/// Replays the commit ending at the checkpoint's tail (or checks the
/// segment header when the tail is a segment's start).
fn check_against_log(ckpt: &Checkpoint, segments: &BTreeMap<u32, Arc<SegmentFile>>) -> Result<(), OpenError> {
    let Some(tail) = ckpt.tail else {
        return Err(OpenError::Config("the index checkpoint has no tail; delete index/ to rebuild it".into()));
    };
    let Some(seg) = segments.get(&tail.segment) else {
        let any = segments.values().next_back().ok_or_else(|| OpenError::Config("no segments".into()))?;
        return Err(damaged_before(
            any,
            0,
            None,
            format!("the index checkpoint covers segment {}, which is missing", tail.segment),
        ));
    };
    let at = u64::from(tail.offset);
    let covers = ckpt.next_position.checked_sub(1);
    let says =
        format!("the index checkpoint records the log as durable up to byte {at} (position {})", ckpt.next_position);
    if at > seg.end() {
        return Err(damaged_before(
            seg,
            seg.end(),
            covers,
            format!("{says}, but the segment ends at byte {}", seg.end()),
        ));
    }
    let Some(tc) = ckpt.tail_commit else {
        if at == HEADER_BYTES as u64
            && seg.header.first_position == ckpt.next_position
            && seg.header.prev_chain == ckpt.chain
        {
            return Ok(());
        }
        return Err(damaged_before(seg, at, covers, format!("{says}, but the segment header does not start there")));
    };
    if tc.loc.segment != tail.segment || tc.loc.offset >= tail.offset {
        return Err(OpenError::Config(
            "the index checkpoint's tail commit is inconsistent; delete index/ to rebuild it".into(),
        ));
    }
    let replayed = replay(seg.file.clone(), u64::from(tc.loc.offset), at, tc.prev_chain, tc.first_position, |_| Ok(()));
    match replayed {
        Ok(end)
            if end.trailing.is_none()
                && end.end_offset == at
                && end.chain == ckpt.chain
                && end.next_position == ckpt.next_position =>
        {
            Ok(())
        }
        Ok(end) => {
            let (offset, why) = match end.trailing {
                Some(t) => (t.bad_offset.unwrap_or(end.end_offset), t.reason.to_string()),
                None => (end.end_offset, "the commit there does not end where it says".to_string()),
            };
            Err(damaged_before(seg, offset, covers, format!("{says}, but at byte {offset}: {why}")))
        }
        Err(ReplayError::Corrupt(c)) => {
            Err(damaged_before(seg, c.offset, c.position, format!("{says}, but {}", c.detail)))
        }
        Err(ReplayError::Io(e)) => Err(io_err(format!("reading {}", seg.path.display()))(e)),
    }
}

/// The checkpoint of nothing: replay starts at the first segment's start.
fn log_start(first: &SegmentFile) -> Checkpoint {
    Checkpoint {
        tail: Some(Loc { segment: first.number, offset: HEADER_BYTES as u32 }),
        chain: first.header.prev_chain,
        next_position: first.header.first_position,
        ..Checkpoint::default()
    }
}

/// Refuses settings the engine cannot work with.
fn check_config(config: &Config) -> Result<(), OpenError> {
    if config.segment_bytes_target > SEGMENT_BYTES_TARGET_MAX || config.segment_bytes_target < 4096 {
        return Err(OpenError::Config(format!(
            "segment size target must be between 4096 and {SEGMENT_BYTES_TARGET_MAX} bytes"
        )));
    }
    let l = &config.limits;
    if l.append_size_bytes_max > crate::config::COMMIT_BYTES_MAX
        || l.event_size_bytes_max > l.append_size_bytes_max
        || l.event_size_bytes_max == 0
        || l.append_events_max == 0
    {
        return Err(OpenError::Config(format!(
            "limits must satisfy 0 < event size ({}) <= append size ({}) <= {} bytes, and events per append ({}) > 0",
            l.event_size_bytes_max,
            l.append_size_bytes_max,
            crate::config::COMMIT_BYTES_MAX,
            l.append_events_max
        )));
    }
    Ok(())
}

/// Builds the shared state: segments, checkpointed indexes, then the log
/// tail replayed on top and fdatasynced before anything is published.
pub fn recover(config: Config) -> Result<Arc<Shared>, OpenError> {
    check_config(&config)?;
    let dirs = Dirs::new(config.data_dir.clone());
    let fs = config.fs.clone();
    for d in [&dirs.log, &dirs.index] {
        fs.create_dir_durable(d).map_err(io_err(format!("creating {}", d.display())))?;
    }
    super::cut_back::apply_marker(&config, &dirs.log).map_err(io_err("applying the cut-back marker".to_string()))?;
    let segments = open_segments(&config, &dirs)?;
    let first = segments.values().next().cloned().ok_or_else(|| OpenError::Config("no segments".into()))?;
    let (loaded, rebuilding, durable_to) = match load_checkpoint(&config, &dirs, &segments)? {
        Loaded::Nothing => (None, false, None),
        Loaded::Index(index) => (Some(*index), false, None),
        Loaded::Rebuild { durable_to } => (None, true, durable_to),
    };
    let (ckpt, [id_runs, stream_runs, posting_runs]) =
        loaded.unwrap_or_else(|| (log_start(&first), Default::default()));
    let tail = ckpt.tail.unwrap_or(Loc { segment: first.number, offset: HEADER_BYTES as u32 });
    let live: HashSet<String> =
        ckpt.id_runs.iter().chain(&ckpt.stream_runs).chain(&ckpt.posting_runs).map(|r| r.file_name.clone()).collect();
    let state = State {
        segments: segments.clone(),
        next_position: ckpt.next_position,
        tail,
        tail_commit: ckpt.tail_commit,
        chain: ckpt.chain,
        last_timestamp_us: ckpt.last_timestamp_us,
        heads: ckpt.heads.iter().cloned().collect::<HashMap<_, _, _>>(),
        sparse: ckpt.sparse.clone(),
        active: Memtable::with_capacity(config.memtable_events_max),
        frozen: None,
        id_runs,
        stream_runs,
        posting_runs,
        last_checkpoint: ckpt.clone(),
    };
    let next_run = ckpt.next_run_number.max(1);
    let shared = Arc::new(Shared {
        config,
        dirs,
        state: RwLock::new(state),
        watch: watch::Sender::new(ckpt.next_position),
        poisoned: Mutex::new(None),
        sync_lock: Mutex::new(()),
        write_lock: Mutex::new(()),
        durable_end: AtomicU64::new(0),
        flush_lock: Mutex::new(FlushControl::default()),
        flush_cv: Condvar::new(),
        next_run_number: AtomicU64::new(next_run),
        publish_lock: Mutex::new(()),
        synced_seq: AtomicU64::new(0),
        handled: Mutex::new(0),
        handled_cv: Condvar::new(),
        cohort_target: AtomicU64::new(u64::MAX),
        unsynced_commits: AtomicU64::new(0),
        last_group_appends: AtomicU64::new(0),
        counters: Default::default(),
        recovery: Mutex::new(Recovery { rebuilt_index: rebuilding, ..Recovery::default() }),
        index_error: Mutex::new(None),
        full_need_bytes: AtomicU64::new(0),
    });
    remove_unlisted(&shared, &live);
    replay_tail(&shared, tail, &segments, durable_to)?;
    sync_replayed(&shared, tail)?;
    let next = shared.read().next_position;
    shared.watch.send_replace(next);
    Ok(shared)
}

/// fdatasyncs every segment the replay read, and `log/`, before anything
/// is published: what replay found may have been in the page cache only
/// (the process died between a write and its fdatasync), and a retry
/// answered from it, a reader or a checkpoint must never see bytes a
/// power cut could still take away.
fn sync_replayed(shared: &Shared, tail: Loc) -> Result<(), OpenError> {
    let segments: Vec<Arc<SegmentFile>> =
        shared.read().segments.range(tail.segment..).map(|(_, s)| s.clone()).collect();
    for seg in &segments {
        seg.file.sync_data().map_err(io_err(format!("syncing {}", seg.path.display())))?;
    }
    let log = &shared.dirs.log;
    shared.config.fs.sync_dir(log).map_err(io_err(format!("syncing {}", log.display())))?;
    if let Some(last) = segments.last() {
        shared.note_durable(Loc { segment: last.number, offset: last.end() as u32 });
    }
    Ok(())
}

/// Deletes a last segment that a rotation left half-made: its header does
/// not continue the log and nothing but zeros follows it. Returns false
/// (and touches nothing) when the segment holds anything else.
fn remove_orphan(shared: &Shared, seg: &SegmentFile) -> Result<bool, OpenError> {
    let at = seg.path.display().to_string();
    if !is_zero_tail(seg.file.as_ref(), HEADER_BYTES as u64, seg.end()).map_err(io_err(format!("reading {at}")))? {
        return Ok(false);
    }
    let fs = shared.config.fs.as_ref();
    fs.remove(&seg.path).map_err(io_err(format!("removing {at}")))?;
    fs.sync_dir(&shared.dirs.log).map_err(io_err(format!("syncing {}", shared.dirs.log.display())))?;
    shared.write().segments.remove(&seg.number);
    shared.recovery.lock().unwrap_or_else(|p| p.into_inner()).removed_orphan_segments += 1;
    tracing::warn!(segment = %at, "deleted a segment a failed rotation left behind (a header that does not continue the log, and no commits)");
    Ok(true)
}

fn replay_tail(
    shared: &Arc<Shared>,
    tail: Loc,
    segments: &BTreeMap<u32, Arc<SegmentFile>>,
    durable_to: Option<Loc>,
) -> Result<(), OpenError> {
    let last_number = *segments.keys().next_back().unwrap_or(&tail.segment);
    let mut replayed = 0u64;
    let total_bytes: u64 = segments.range(tail.segment..).map(|(_, s)| s.end()).sum::<u64>() - u64::from(tail.offset);
    let mut done_bytes = 0u64;
    let progress = shared.config.replay_progress.clone();
    for (&number, seg) in segments.range(tail.segment..) {
        let (chain, next_position) = {
            let st = shared.read();
            (st.chain, st.next_position)
        };
        let corrupt = |offset, position, detail: String| OpenError::Corrupt {
            segment: seg.path.display().to_string(),
            offset,
            position,
            detail,
        };
        let start = if number == tail.segment {
            u64::from(tail.offset)
        } else {
            if seg.header.first_position != next_position || seg.header.prev_chain != chain {
                if number == last_number && remove_orphan(shared, seg)? {
                    break;
                }
                return Err(corrupt(
                    0,
                    Some(next_position),
                    "segment header does not continue the previous segment".into(),
                ));
            }
            HEADER_BYTES as u64
        };
        let file_end = seg.end();
        let result = replay(seg.file.clone(), start, file_end, chain, next_position, |commit| {
            replayed += commit.events.len() as u64;
            if let Some(p) = &progress {
                p(done_bytes + commit.end_offset - start, total_bytes);
            }
            apply_replayed(shared, seg.number, commit)
        });
        let end = match result {
            Ok(end) => end,
            Err(ReplayError::Io(e)) => return Err(io_err(format!("reading {}", seg.path.display()))(e)),
            Err(ReplayError::Corrupt(c)) => return Err(corrupt(c.offset, c.position, c.detail)),
        };
        settle_end(shared, seg, &end, number == last_number, durable_to)?;
        seg.end.store(end.end_offset, Ordering::Release);
        done_bytes += file_end - start;
        // The tail stays at the last commit's end (set as each commit was
        // applied), even when a later segment holds none yet: a checkpoint
        // names the commit that ends there.
    }
    if replayed > 0 {
        tracing::info!(events = replayed, "replayed the log past the index checkpoint");
    }
    shared.recovery.lock().unwrap_or_else(|p| p.into_inner()).replayed_events = replayed;
    Ok(())
}

/// Decides what follows the last whole commit of a replayed segment:
/// preallocated zeros (a clean end), an unfinished write at the end of the
/// last segment (cut off, with a warning), or damage (the start stops):
/// bytes that a sealed segment ends in, that an intact later commit
/// records as durable, or that the checkpoint covers.
fn settle_end(
    shared: &Shared,
    seg: &SegmentFile,
    end: &ReplayEnd,
    last: bool,
    durable_to: Option<Loc>,
) -> Result<(), OpenError> {
    let at = seg.path.display().to_string();
    let file_end = seg.end();
    let corrupt =
        |offset, position, detail: String| OpenError::Corrupt { segment: at.clone(), offset, position, detail };
    let zero_tail = match end.trailing {
        // Zeros right after the last commit: preallocated space.
        Some(t) if t.bad_offset == Some(end.end_offset) => {
            is_zero_tail(seg.file.as_ref(), end.end_offset, file_end).map_err(io_err(format!("reading {at}")))?
        }
        _ => false,
    };
    let stopped = Loc { segment: seg.number, offset: end.end_offset as u32 };
    if let Some(d) = durable_to.filter(|d| last && stopped < *d) {
        return Err(damaged_before(
            seg,
            end.end_offset,
            Some(end.next_position),
            format!(
                "the log holds whole commits only up to byte {}, yet the index checkpoint records it as durable up to byte {} of segment {}",
                end.end_offset, d.offset, d.segment
            ),
        ));
    }
    let Some(trailing) = end.trailing.filter(|_| !zero_tail) else { return Ok(()) };
    let reason = trailing.reason;
    let bad_offset = trailing.bad_offset.unwrap_or(end.end_offset);
    if !last {
        let detail = format!("sealed segment ends inside a commit: {reason}");
        return Err(corrupt(bad_offset, Some(end.next_position), detail));
    }
    // Bytes after the last whole commit are an unfinished write, unless a
    // later intact commit records them as durable.
    let claim =
        find_durable_claim(seg.file.as_ref(), end.end_offset, file_end).map_err(io_err(format!("reading {at}")))?;
    if let Some((claim_at, durable)) = claim {
        return Err(damaged_before(
            seg,
            bad_offset,
            Some(end.next_position),
            format!(
                "{reason} at byte {bad_offset}, yet the intact commit at byte {claim_at} records the log as durable up to byte {durable}"
            ),
        ));
    }
    let dropped = file_end - end.end_offset;
    shared.recovery.lock().unwrap_or_else(|p| p.into_inner()).truncated_bytes += dropped;
    seg.file.set_len(end.end_offset).map_err(io_err(format!("truncating {at}")))?;
    seg.file.sync_data().map_err(io_err(format!("syncing {at}")))?;
    tracing::warn!(segment = %at, bytes = dropped, offset = end.end_offset, "dropped the unfinished commit at the end of the log (it was never acknowledged)");
    Ok(())
}

/// Applies one replayed commit to heads, memtable and sparse index,
/// flushing synchronously when the memtable fills (during a rebuild).
fn apply_replayed(shared: &Arc<Shared>, segment: u32, commit: ReplayedCommit) -> Result<(), ReplayError> {
    let full = {
        let mut st = shared.write();
        if let Some(e) = commit.events.first() {
            st.note_commit_start(e.position, Loc { segment, offset: commit.offset as u32 }, e.timestamp_us);
        }
        for e in &commit.events {
            let head = st.heads.get(&e.stream).copied();
            let want = head.map_or(0, |h| h.last_version + 1);
            if e.version != want {
                return Err(ReplayError::Corrupt(crate::segment::reader::ReplayCorruption {
                    offset: e.offset,
                    position: Some(e.position),
                    detail: format!("stream {:?} jumps to version {} where {want} was due", e.stream, e.version),
                }));
            }
            let key = head.map_or_else(|| stream_key(&e.stream), |h| h.key);
            let first_position = head.map_or(e.position, |h| h.first_position);
            st.heads.insert(
                e.stream.clone(),
                Head { key, last_version: e.version, first_position, last_position: e.position },
            );
            let loc = Loc { segment, offset: e.offset as u32 };
            st.active.insert(id_key(&e.id), key, e.version, loc.pack());
            st.active.insert_postings(terms_of(&e.stream, &e.event_type), e.position, loc.pack());
            st.next_position = e.position + 1;
            st.last_timestamp_us = st.last_timestamp_us.max(e.timestamp_us);
        }
        let first_position = commit.events.first().map_or(0, |e| e.position);
        st.note_commit_end(
            Loc { segment, offset: commit.offset as u32 },
            Loc { segment, offset: commit.end_offset as u32 },
            first_position,
            commit.chain,
        );
        st.active.len() >= shared.config.memtable_events_max
    };
    if full {
        freeze(shared);
        flush_frozen(shared)?;
        compact_once(shared)?;
    }
    Ok(())
}
