//! `verify`: reads every byte of the log, checks every frame checksum,
//! every commit's chain hash, the links between segments, the gaplessness
//! of positions and of each stream's versions, that the index checkpoint
//! (tail, chain hash, heads, sparse index) describes the log as it is at
//! the position it covers, and that the index runs agree with the log. Read-only: unlike opening the store, it never
//! truncates anything, so a damaged tail is reported, not repaired.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::fs::FileHandle;
use crate::index::checkpoint::{note_sparse, Checkpoint, Head, Sparse, TailCommit};
use crate::index::run::Run;
use crate::index::{id_key, posting_key, stream_key, stream_version_key, terms_of};
use crate::lock::DirLock;
use crate::segment::header::{SegmentHeader, HEADER_BYTES};
use crate::segment::reader::{is_zero_tail, replay, ReplayError, ReplayedCommit};
use crate::segment::{parse_segment_name, Loc};
use crate::OpenError;

/// The first thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub segment: String,
    pub offset: u64,
    pub position: Option<u64>,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub segments: u64,
    pub commits: u64,
    pub events: u64,
    pub streams: u64,
    pub log_bytes: u64,
    /// Log positions the index runs were checked against.
    pub index_checked: u64,
    /// Another process (a server) had the store open: the log was checked
    /// up to what was written when verify looked, and bytes after the last
    /// whole commit of the last segment were taken as a write in progress.
    pub live: bool,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problem.is_none()
    }
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> OpenError {
    move |source| OpenError::Io { context, cause: source }
}

/// Verifies the store in `config.data_dir`; `progress(bytes_done,
/// bytes_total)` is called as the log is read.
pub fn verify(config: &Config, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport, OpenError> {
    // A server holding the store does not stop verify: it reads a
    // consistent prefix (the checkpoint and its runs first, then the log
    // as far as it was written), changing nothing.
    let (_lock, live) = match DirLock::acquire(&config.data_dir) {
        Ok(lock) => (Some(lock), false),
        Err(OpenError::Locked { .. }) => (None, true),
        Err(e) => return Err(e),
    };
    let mut report = VerifyReport { live, ..VerifyReport::default() };
    let index_dir = config.data_dir.join("index");
    let (checkpoint, runs) = match load_index(config, live) {
        Ok(loaded) => loaded,
        Err(detail) => {
            report.problem = Some(Problem {
                segment: index_dir.join(crate::index::checkpoint::FILE_NAME).display().to_string(),
                offset: 0,
                position: None,
                detail,
            });
            return Ok(report);
        }
    };
    let segments = list_segments(config)?;
    let total: u64 = segments.values().map(|s| s.size).sum();
    report.log_bytes = total;
    report.segments = segments.len() as u64;
    let covered = checkpoint.as_ref().map_or(0, |c| c.next_position);
    let mut walk = Walk { covered, has_checkpoint: checkpoint.is_some(), ..Walk::default() };
    let mut done = 0u64;
    let mut expected_number = segments.keys().next().copied().unwrap_or(1);
    let first_number = expected_number;
    let last_number = segments.keys().next_back().copied().unwrap_or(expected_number);
    for (&number, LogFile { path, file, size }) in &segments {
        let name = path.display().to_string();
        if number != expected_number {
            report.problem = Some(problem(&name, 0, None, format!("segment {expected_number} is missing")));
            break;
        }
        expected_number = number + 1;
        let segment = Segment { number, name: &name, file, size: *size, first: number == first_number };
        let in_progress_allowed = live && number == last_number;
        let mut report_progress = |offset: u64| progress(done + offset, total);
        if let Some(p) = walk.segment(&segment, in_progress_allowed, &mut report_progress)? {
            report.problem = Some(p);
            break;
        }
        done += size;
    }
    report.commits = walk.commits;
    report.events = walk.events;
    report.streams = walk.heads.len() as u64;
    if report.problem.is_some() {
        return Ok(report);
    }
    if let Some(c) = checkpoint {
        report.problem = check_checkpoint(&index_dir, &c, walk.at_checkpoint.as_ref(), walk.next_position);
        if report.problem.is_none() {
            report.problem = check_index(
                config,
                &c,
                &runs,
                walk.next_position,
                [walk.id_entries, walk.stream_entries, walk.posting_entries],
            );
        }
        report.index_checked = covered;
    }
    Ok(report)
}

/// A segment file as the offline tools (verify, repair) read it: its
/// path, an open handle, and its size when listed.
pub(crate) struct LogFile {
    pub path: PathBuf,
    pub file: Arc<dyn FileHandle>,
    pub size: u64,
}

/// Every segment file of the store, by number.
pub(crate) fn list_segments(config: &Config) -> Result<BTreeMap<u32, LogFile>, OpenError> {
    let fs = config.fs.as_ref();
    let log = config.data_dir.join("log");
    let mut segments = BTreeMap::new();
    for path in fs.list(&log).map_err(io_err(format!("listing {}", log.display())))? {
        if let Some(n) = parse_segment_name(&path) {
            let file = fs.open(&path, false).map_err(io_err(format!("opening {}", path.display())))?;
            let size = file.size().map_err(io_err(format!("reading {}", path.display())))?;
            segments.insert(n, LogFile { path, file, size });
        }
    }
    Ok(segments)
}

fn problem(segment: &str, offset: u64, position: Option<u64>, detail: String) -> Problem {
    Problem { segment: segment.to_string(), offset, position, detail }
}

/// One segment file as verify reads it.
struct Segment<'a> {
    number: u32,
    name: &'a str,
    file: &'a Arc<dyn FileHandle>,
    size: u64,
    first: bool,
}

/// What verify learns from the log as it reads it: where the chain and
/// the positions stand, what the checkpoint must say at the position it
/// covers, and the index entries the runs must hold.
#[derive(Default)]
struct Walk {
    covered: u64,
    has_checkpoint: bool,
    chain: [u8; 32],
    next_position: u64,
    heads: HashMap<String, Head>,
    sparse: Vec<Sparse>,
    last_timestamp_us: u64,
    at_checkpoint: Option<Checkpoint>,
    id_entries: Vec<(u128, u64)>,
    stream_entries: Vec<(u128, u64)>,
    posting_entries: Vec<(u128, u64)>,
    commits: u64,
    events: u64,
}

impl Walk {
    /// Checks a segment's header and replays its commits; the first
    /// problem found, if any.
    fn segment(
        &mut self,
        seg: &Segment<'_>,
        in_progress_allowed: bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Option<Problem>, OpenError> {
        let mut b = [0u8; HEADER_BYTES];
        let got = seg.file.read_full_at(&mut b, 0).map_err(io_err(format!("reading {}", seg.name)))?;
        let header = match SegmentHeader::decode(&b[..got]) {
            Ok(h) => h,
            Err(e) => return Ok(Some(problem(seg.name, 0, None, format!("segment header: {e}")))),
        };
        if seg.first {
            (self.chain, self.next_position) = (header.prev_chain, header.first_position);
            if self.covered == self.next_position {
                self.at_checkpoint = Some(Checkpoint {
                    next_position: self.next_position,
                    tail: Some(Loc { segment: seg.number, offset: HEADER_BYTES as u32 }),
                    chain: self.chain,
                    ..Checkpoint::default()
                });
            }
        }
        if header.segment != seg.number
            || header.first_position != self.next_position
            || header.prev_chain != self.chain
        {
            let detail = "segment header does not continue the previous segment".to_string();
            return Ok(Some(problem(seg.name, 0, Some(self.next_position), detail)));
        }
        let mut bad = None;
        let mut chain_before = self.chain;
        let result =
            replay(seg.file.clone(), HEADER_BYTES as u64, seg.size, self.chain, self.next_position, |commit| {
                if let Some(p) = self.commit(seg, &commit, chain_before) {
                    bad.get_or_insert(p);
                }
                chain_before = commit.chain;
                progress(commit.end_offset);
                Ok(())
            });
        if bad.is_some() {
            return Ok(bad);
        }
        let end = match result {
            Ok(end) => end,
            Err(ReplayError::Corrupt(c)) => return Ok(Some(problem(seg.name, c.offset, c.position, c.detail))),
            Err(ReplayError::Io(e)) => return Err(io_err(format!("reading {}", seg.name))(e)),
        };
        let zero_tail = match end.trailing {
            Some(t) if t.bad_offset == Some(end.end_offset) => {
                is_zero_tail(seg.file.as_ref(), end.end_offset, seg.size)
                    .map_err(io_err(format!("reading {}", seg.name)))?
            }
            _ => false,
        };
        // Bytes after the last whole commit of a live store's last segment
        // are the write in progress.
        if let Some(t) = end.trailing.filter(|_| !(zero_tail || in_progress_allowed)) {
            let (offset, reason) = (t.bad_offset.unwrap_or(end.end_offset), t.reason);
            let detail = format!("{reason} (an unfinished commit that opening the store would drop, or damage)");
            return Ok(Some(problem(seg.name, offset, Some(end.next_position), detail)));
        }
        (self.chain, self.next_position) = (end.chain, end.next_position);
        Ok(None)
    }

    /// Takes one replayed commit: versions, heads, the sparse index, the
    /// index entries below the checkpoint, and the checkpoint's picture.
    fn commit(&mut self, seg: &Segment<'_>, commit: &ReplayedCommit, chain_before: [u8; 32]) -> Option<Problem> {
        self.commits += 1;
        let start = Loc { segment: seg.number, offset: commit.offset as u32 };
        let first_position = commit.events.first().map_or(0, |e| e.position);
        if let Some(e) = commit.events.first() {
            note_sparse(&mut self.sparse, e.position, start, e.timestamp_us);
        }
        let mut bad = None;
        for e in &commit.events {
            let head = self.heads.get(&e.stream).copied();
            let want = head.map_or(0, |h| h.last_version + 1);
            if e.version != want {
                let detail = format!("stream {:?} jumps to version {} where {want} was due", e.stream, e.version);
                bad.get_or_insert(problem(seg.name, e.offset, Some(e.position), detail));
            }
            let head = Head {
                key: head.map_or_else(|| stream_key(&e.stream), |h| h.key),
                last_version: e.version,
                first_position: head.map_or(e.position, |h| h.first_position),
                last_position: e.position,
            };
            self.heads.insert(e.stream.clone(), head);
            self.last_timestamp_us = self.last_timestamp_us.max(e.timestamp_us);
            if e.position < self.covered {
                let loc = Loc { segment: seg.number, offset: e.offset as u32 }.pack();
                self.id_entries.push((id_key(&e.id), loc));
                self.stream_entries.push((stream_version_key(head.key, e.version), loc));
                for term in terms_of(&e.stream, &e.event_type) {
                    self.posting_entries.push((posting_key(term, e.position), loc));
                }
            }
        }
        self.events += commit.events.len() as u64;
        let next = first_position + commit.events.len() as u64;
        if self.has_checkpoint && next == self.covered {
            let mut heads: Vec<(String, Head)> = self.heads.iter().map(|(k, v)| (k.clone(), *v)).collect();
            heads.sort_by(|a, b| a.0.cmp(&b.0));
            self.at_checkpoint = Some(Checkpoint {
                next_position: next,
                tail: Some(Loc { segment: seg.number, offset: commit.end_offset as u32 }),
                tail_commit: Some(TailCommit { loc: start, first_position, prev_chain: chain_before }),
                chain: commit.chain,
                last_timestamp_us: self.last_timestamp_us,
                heads,
                sparse: self.sparse.clone(),
                ..Checkpoint::default()
            });
        }
        bad
    }
}

/// The id, stream and posting runs a checkpoint lists, opened.
type OpenRuns = (Vec<Run>, Vec<Run>, Vec<Run>);

/// Loads the checkpoint and opens its runs (an open run stays readable
/// even if a server's merge deletes it meanwhile). A live store may
/// replace the checkpoint and delete runs between the two steps: then it
/// tries again. Err: what is wrong with the checkpoint or a run.
fn load_index(config: &Config, live: bool) -> Result<(Option<Checkpoint>, OpenRuns), String> {
    let dir = config.data_dir.join("index");
    let fs = config.fs.as_ref();
    let mut tries = if live { 20 } else { 1 };
    loop {
        tries -= 1;
        let c = match Checkpoint::load(fs, &dir) {
            Ok(Some(c)) => c,
            Ok(None) => return Ok((None, Default::default())),
            Err(e) if tries > 0 => {
                tracing::debug!(error = %e, "checkpoint changed under verify; again");
                continue;
            }
            Err(e) => {
                return Err(format!(
                    "index checkpoint unreadable ({e}); the next open rebuilds the indexes from the log"
                ))
            }
        };
        let open = |refs: &[crate::index::checkpoint::RunRef], label: &str| -> Result<Vec<Run>, String> {
            refs.iter()
                .map(|r| {
                    Run::open(fs, &dir, &r.file_name, r.count)
                        .map_err(|e| format!("{label} index run {}: {e}", r.file_name))
                })
                .collect()
        };
        match (open(&c.id_runs, "id"), open(&c.stream_runs, "stream"), open(&c.posting_runs, "posting")) {
            (Ok(ids), Ok(streams), Ok(postings)) => return Ok((Some(c), (ids, streams, postings))),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) if tries == 0 => return Err(e),
            _ => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

/// Compares what the checkpoint records with the log as it was at the
/// position the checkpoint covers (`log`, None when that position is not
/// a commit boundary of the log).
fn check_checkpoint(dir: &std::path::Path, c: &Checkpoint, log: Option<&Checkpoint>, log_end: u64) -> Option<Problem> {
    let problem = |detail: String| {
        Some(Problem {
            segment: dir.join(crate::index::checkpoint::FILE_NAME).display().to_string(),
            offset: 0,
            position: Some(c.next_position),
            detail: format!("index checkpoint disagrees with the log: {detail}"),
        })
    };
    let Some(log) = log else {
        return problem(format!(
            "it covers the log up to position {}, which is not where a commit of the log ends (the log ends at {log_end})",
            c.next_position
        ));
    };
    if c.tail != log.tail {
        return problem(format!("its tail is {:?}, the log's commit boundary is {:?}", c.tail, log.tail));
    }
    if c.tail_commit != log.tail_commit {
        return problem(format!("its tail commit is {:?}, the log's is {:?}", c.tail_commit, log.tail_commit));
    }
    if c.chain != log.chain {
        return problem("its chain hash is not the log's there".into());
    }
    if c.last_timestamp_us != log.last_timestamp_us {
        return problem(format!("its last timestamp is {}, the log's {}", c.last_timestamp_us, log.last_timestamp_us));
    }
    let mut heads = c.heads.clone();
    heads.sort_by(|a, b| a.0.cmp(&b.0));
    if heads.len() != log.heads.len() {
        return problem(format!("it records {} streams, the log {}", heads.len(), log.heads.len()));
    }
    if heads != log.heads {
        let differs = heads.iter().zip(&log.heads).find(|(a, b)| a != b);
        return problem(match differs {
            Some((a, b)) => format!("it records stream {:?} as {:?}, the log says {:?} as {:?}", a.0, a.1, b.0, b.1),
            None => format!("it records {} streams, the log {}", heads.len(), log.heads.len()),
        });
    }
    if c.sparse != log.sparse {
        let i =
            c.sparse.iter().zip(&log.sparse).position(|(a, b)| a != b).unwrap_or(c.sparse.len().min(log.sparse.len()));
        return problem(format!(
            "its sparse position index differs from the log's at entry {i} ({} entries, the log implies {})",
            c.sparse.len(),
            log.sparse.len()
        ));
    }
    None
}

/// Compares the index runs with the entries the log says they must hold.
fn check_index(
    config: &Config,
    c: &Checkpoint,
    runs: &OpenRuns,
    log_end: u64,
    mut want: [Vec<(u128, u64)>; 3],
) -> Option<Problem> {
    let dir = config.data_dir.join("index");
    let problem =
        |detail: String| Some(Problem { segment: dir.display().to_string(), offset: 0, position: None, detail });
    if c.next_position > log_end {
        return problem(format!("index checkpoint covers position {} but the log ends at {log_end}", c.next_position));
    }
    want.iter_mut().for_each(|w| w.sort_unstable());
    let [ids, streams, postings] = want;
    for (label, runs, want) in [("id", &runs.0, ids), ("stream", &runs.1, streams), ("posting", &runs.2, postings)] {
        let mut got = Vec::with_capacity(want.len());
        for run in runs {
            let mut cursor = run.cursor_at(0);
            loop {
                match cursor.next_entry() {
                    Ok(Some(entry)) => got.push(entry),
                    Ok(None) => break,
                    Err(e) => return problem(format!("{label} index run {}: {e}", run.file_name)),
                }
            }
        }
        got.sort_unstable();
        if got != want {
            let first_diff = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            return problem(format!(
                "{label} index disagrees with the log ({} entries, log implies {}; first difference at entry {first_diff})",
                got.len(),
                want.len()
            ));
        }
    }
    None
}
