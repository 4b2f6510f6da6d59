//! `verify`: reads every byte of the log, checks every frame checksum,
//! every commit's chain hash, the links between segments, the gaplessness
//! of positions and of each stream's versions, and that the index runs
//! agree with the log. Read-only: unlike opening the store, it never
//! truncates anything, so a damaged tail is reported, not repaired.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::fs::FileHandle;
use crate::index::checkpoint::Checkpoint;
use crate::index::run::Run;
use crate::index::{id_key, stream_key, stream_version_key};
use crate::lock::DirLock;
use crate::segment::header::{SegmentHeader, HEADER_BYTES};
use crate::segment::reader::{is_zero_tail, replay, ReplayError};
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
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problem.is_none()
    }
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> OpenError {
    move |source| OpenError::Io { context, source }
}

/// Verifies the store in `config.data_dir`; `progress(bytes_done,
/// bytes_total)` is called as the log is read.
pub fn verify(config: &Config, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport, OpenError> {
    let _lock = DirLock::acquire(&config.data_dir)?;
    let fs = config.fs.as_ref();
    let log = config.data_dir.join("log");
    let mut report = VerifyReport::default();
    let mut segments: BTreeMap<u32, (PathBuf, Arc<dyn FileHandle>, u64)> = BTreeMap::new();
    for path in fs.list(&log).map_err(io_err(format!("listing {}", log.display())))? {
        if let Some(n) = parse_segment_name(&path) {
            let file = fs.open(&path, false).map_err(io_err(format!("opening {}", path.display())))?;
            let size = file.size().map_err(io_err(format!("reading {}", path.display())))?;
            segments.insert(n, (path, file, size));
        }
    }
    let total: u64 = segments.values().map(|s| s.2).sum();
    report.log_bytes = total;
    report.segments = segments.len() as u64;
    let checkpoint = Checkpoint::load(fs, &config.data_dir.join("index")).ok().flatten();
    let covered = checkpoint.as_ref().map_or(0, |c| c.next_position);
    let mut id_entries: Vec<(u128, u64)> = Vec::new();
    let mut stream_entries: Vec<(u128, u64)> = Vec::new();
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut chain = [0u8; 32];
    let mut next_position = 0u64;
    let mut done = 0u64;
    let mut expected_number = segments.keys().next().copied().unwrap_or(1);
    for (&number, (path, file, size)) in &segments {
        let name = path.display().to_string();
        let problem = |offset, position, detail: String| Problem { segment: name.clone(), offset, position, detail };
        if number != expected_number {
            report.problem = Some(problem(0, None, format!("segment {expected_number} is missing")));
            return Ok(report);
        }
        expected_number = number + 1;
        let mut b = [0u8; HEADER_BYTES];
        let got = file.read_full_at(&mut b, 0).map_err(io_err(format!("reading {name}")))?;
        let header = match SegmentHeader::decode(&b[..got]) {
            Ok(h) => h,
            Err(e) => {
                report.problem = Some(problem(0, None, format!("segment header: {e}")));
                return Ok(report);
            }
        };
        let first = number == *segments.keys().next().unwrap_or(&number);
        if first {
            chain = header.prev_chain;
            next_position = header.first_position;
        }
        if header.segment != number || header.first_position != next_position || header.prev_chain != chain {
            report.problem =
                Some(problem(0, Some(next_position), "segment header does not continue the previous segment".into()));
            return Ok(report);
        }
        let mut bad = None;
        let result = replay(file.clone(), HEADER_BYTES as u64, *size, chain, next_position, |commit| {
            report.commits += 1;
            for e in &commit.events {
                let want = versions.get(&e.stream).map_or(0, |v| v + 1);
                if e.version != want {
                    bad.get_or_insert(problem(
                        e.offset,
                        Some(e.position),
                        format!("stream {:?} jumps to version {} where {want} was due", e.stream, e.version),
                    ));
                }
                versions.insert(e.stream.clone(), e.version);
                if e.position < covered {
                    let loc = Loc { segment: number, offset: e.offset as u32 }.pack();
                    id_entries.push((id_key(&e.id), loc));
                    stream_entries.push((stream_version_key(stream_key(&e.stream), e.version), loc));
                }
            }
            report.events += commit.events.len() as u64;
            progress(done + commit.end_offset, total);
            Ok(())
        });
        if let Some(p) = bad {
            report.problem = Some(p);
            return Ok(report);
        }
        match result {
            Ok(end) => {
                let zero_tail = match end.trailing {
                    Some(t) if t.bad_offset == Some(end.end_offset) => {
                        is_zero_tail(file.as_ref(), end.end_offset, *size).map_err(io_err(format!("reading {name}")))?
                    }
                    _ => false,
                };
                if let Some(t) = end.trailing.filter(|_| !zero_tail) {
                    let (offset, reason) = (t.bad_offset.unwrap_or(end.end_offset), t.reason);
                    report.problem = Some(problem(
                        offset,
                        Some(end.next_position),
                        format!("{reason} (an unfinished commit that opening the store would drop, or damage)"),
                    ));
                    return Ok(report);
                }
                chain = end.chain;
                next_position = end.next_position;
            }
            Err(ReplayError::Corrupt(c)) => {
                report.problem = Some(problem(c.offset, c.position, c.detail));
                return Ok(report);
            }
            Err(ReplayError::Io(e)) => return Err(io_err(format!("reading {name}"))(e)),
        }
        done += size;
    }
    report.streams = versions.len() as u64;
    if let Some(c) = checkpoint {
        report.problem = check_index(config, &c, next_position, id_entries, stream_entries)?;
        report.index_checked = covered;
    }
    Ok(report)
}

/// Compares the index runs with the entries the log says they must hold.
fn check_index(
    config: &Config,
    c: &Checkpoint,
    log_end: u64,
    mut ids: Vec<(u128, u64)>,
    mut streams: Vec<(u128, u64)>,
) -> Result<Option<Problem>, OpenError> {
    let dir = config.data_dir.join("index");
    let problem =
        |detail: String| Some(Problem { segment: dir.display().to_string(), offset: 0, position: None, detail });
    if c.next_position > log_end {
        return Ok(problem(format!(
            "index checkpoint covers position {} but the log ends at {log_end}",
            c.next_position
        )));
    }
    ids.sort_unstable();
    streams.sort_unstable();
    for (label, refs, want) in [("id", &c.id_runs, ids), ("stream", &c.stream_runs, streams)] {
        let mut got = Vec::with_capacity(want.len());
        for r in refs {
            let run = match Run::open(config.fs.as_ref(), &dir, &r.file_name, r.count) {
                Ok(run) => run,
                Err(e) => return Ok(problem(format!("{label} index run {}: {e}", r.file_name))),
            };
            let mut cursor = run.cursor_at(0);
            while let Some(entry) = cursor.next_entry().map_err(io_err(format!("reading {}", r.file_name)))? {
                got.push(entry);
            }
        }
        got.sort_unstable();
        if got != want {
            let first_diff = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            return Ok(problem(format!(
                "{label} index disagrees with the log ({} entries, log implies {}; first difference at entry {first_diff})",
                got.len(),
                want.len()
            )));
        }
    }
    Ok(None)
}
