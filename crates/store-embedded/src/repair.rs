//! `repair`: the way out when the start refuses a damaged log. It finds
//! the first byte of the log that is not part of an intact commit; when
//! that is in the last segment it cuts the log back to the last intact
//! commit before it (and drops the index checkpoint if that covers more,
//! so the next start rebuilds the indexes from what is left). It reports
//! what the cut drops, intact commits included, and changes nothing
//! unless told to apply. Damage in a sealed segment is not cut: that would
//! drop whole later segments, and a backup is the better way out.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::fs::FileHandle;
use crate::index::checkpoint::{Checkpoint, FILE_NAME};
use crate::lock::DirLock;
use crate::segment::frame::KIND_COMMIT;
use crate::segment::header::{SegmentHeader, HEADER_BYTES};
use crate::segment::reader::{find_frame, is_zero_tail, replay, ReplayError};
use crate::segment::record::decode_commit;
use crate::segment::Loc;
use crate::verify::{list_segments, LogFile};
use crate::OpenError;

/// What repair found, and what it did (or would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The segment to cut, the offset to cut it at, and why.
    pub cut: Option<Cut>,
    /// Damage repair will not cut (in a sealed segment), described.
    pub refused: Option<String>,
    /// The index checkpoint does not describe the log as it is (after the
    /// cut): it covers more, or another log (an older backup of `log/`
    /// restored beside a newer `index/`). It is (or would be) removed, and
    /// the next start rebuilds the indexes.
    pub checkpoint_removed: bool,
    /// Whether the changes were made.
    pub applied: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub segment: String,
    pub offset: u64,
    /// The next position after the cut: events from here on are dropped.
    pub next_position: u64,
    pub dropped_bytes: u64,
    /// Intact commit records (and the events they count) found in the
    /// dropped bytes: acknowledged data the cut gives up.
    pub dropped_commits: u64,
    pub dropped_events: u64,
    pub reason: String,
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> OpenError {
    move |source| OpenError::Io { context, cause: source }
}

/// Finds the damage and, with `apply`, cuts it off.
pub fn repair(config: &Config, apply: bool) -> Result<RepairReport, OpenError> {
    let _lock = DirLock::acquire(&config.data_dir)?;
    let fs = config.fs.as_ref();
    let segments = list_segments(config)?;
    let index = config.data_dir.join("index");
    // An unreadable checkpoint is rebuilt by the start itself.
    let ckpt = Checkpoint::load(fs, &index).ok().flatten();
    let mut fits = false;
    let mut note_boundary = |at: Loc, chain: [u8; 32], next_position: u64| {
        fits |=
            ckpt.as_ref().is_some_and(|c| c.tail == Some(at) && c.chain == chain && c.next_position == next_position);
    };
    let mut report = RepairReport::default();
    match first_damage(&segments, &mut note_boundary)? {
        Scan::Intact => {}
        Scan::Refused(why) => {
            report.refused = Some(why);
            return Ok(report);
        }
        Scan::Damaged { number, end, next_position, reason } => {
            let seg = &segments[&number];
            let (dropped_commits, dropped_events) = intact_commits_after(seg.file.as_ref(), end, seg.size)?;
            report.cut = Some(Cut {
                segment: seg.path.display().to_string(),
                offset: end,
                next_position,
                dropped_bytes: seg.size - end,
                dropped_commits,
                dropped_events,
                reason,
            });
            if apply {
                seg.file.set_len(end).map_err(io_err(format!("cutting {}", seg.path.display())))?;
                seg.file.sync_data().map_err(io_err(format!("syncing {}", seg.path.display())))?;
                report.applied = true;
            }
        }
    }
    report.checkpoint_removed = ckpt.is_some() && !fits;
    if apply && report.checkpoint_removed {
        fs.remove(&index.join(FILE_NAME)).map_err(io_err("removing the index checkpoint".into()))?;
        fs.sync_dir(&index).map_err(io_err(format!("syncing {}", index.display())))?;
        report.applied = true;
    }
    Ok(report)
}

/// What a scan of the log found first.
enum Scan {
    Intact,
    /// Damage repair will not cut, described.
    Refused(String),
    /// Damage in the last segment: the last intact commit ends at `end`,
    /// before position `next_position`.
    Damaged {
        number: u32,
        end: u64,
        next_position: u64,
        reason: String,
    },
}

/// Replays the log segment by segment up to the first byte that is not
/// part of an intact commit, calling `note_boundary` at every commit
/// boundary it passes (a segment's start included).
fn first_damage(
    segments: &BTreeMap<u32, LogFile>,
    note_boundary: &mut impl FnMut(Loc, [u8; 32], u64),
) -> Result<Scan, OpenError> {
    let last = segments.keys().next_back().copied();
    let mut chain = [0u8; 32];
    let mut next_position = 0u64;
    for (i, (&number, seg)) in segments.iter().enumerate() {
        let name = seg.path.display().to_string();
        let mut b = [0u8; HEADER_BYTES];
        let got = seg.file.read_full_at(&mut b, 0).map_err(io_err(format!("reading {name}")))?;
        let header = match SegmentHeader::decode(&b[..got]) {
            Ok(h) => h,
            Err(e) => return Ok(Scan::Refused(format!("{name}: segment header: {e}"))),
        };
        if i == 0 {
            (chain, next_position) = (header.prev_chain, header.first_position);
        } else if header.first_position != next_position || header.prev_chain != chain {
            return Ok(Scan::Refused(format!(
                "{name}: the segment header does not continue the previous segment (a header-only leftover of a failed rotation is removed by the start itself)"
            )));
        }
        note_boundary(Loc { segment: number, offset: HEADER_BYTES as u32 }, chain, next_position);
        let mut at_end = (chain, next_position);
        let Some((end, boundary_position, reason)) =
            scan_segment(seg, number, chain, next_position, note_boundary, &mut at_end)?
        else {
            (chain, next_position) = at_end;
            continue;
        };
        if Some(number) != last {
            return Ok(Scan::Refused(format!(
                "{name} is sealed and damaged ({reason}); cutting it would drop every later segment: restore it from a backup"
            )));
        }
        return Ok(Scan::Damaged { number, end, next_position: boundary_position, reason });
    }
    Ok(Scan::Intact)
}

/// Replays one segment. None when it is intact (and `at_end` then holds
/// the chain hash and next position at its end); otherwise where its last
/// intact commit ends, the position after it, and what is wrong.
fn scan_segment(
    seg: &LogFile,
    number: u32,
    chain: [u8; 32],
    next_position: u64,
    note_boundary: &mut impl FnMut(Loc, [u8; 32], u64),
    at_end: &mut ([u8; 32], u64),
) -> Result<Option<(u64, u64, String)>, OpenError> {
    let name = seg.path.display().to_string();
    let on_commit = |c: crate::segment::reader::ReplayedCommit| {
        let next = c.events.last().map_or(0, |e| e.position + 1);
        note_boundary(Loc { segment: number, offset: c.end_offset as u32 }, c.chain, next);
        Ok(())
    };
    match replay(seg.file.clone(), HEADER_BYTES as u64, seg.size, chain, next_position, on_commit) {
        Ok(end) => {
            let zeros = end.trailing.is_some()
                && is_zero_tail(seg.file.as_ref(), end.end_offset, seg.size)
                    .map_err(io_err(format!("reading {name}")))?;
            match end.trailing.filter(|_| !zeros) {
                None => {
                    *at_end = (end.chain, end.next_position);
                    Ok(None)
                }
                Some(t) => Ok(Some((
                    end.end_offset,
                    end.next_position,
                    format!("{} at byte {}", t.reason, t.bad_offset.unwrap_or(end.end_offset)),
                ))),
            }
        }
        Err(ReplayError::Corrupt(c)) => {
            // Replay stopped inside a commit: find where it started.
            let (end, position) = last_boundary(seg, chain, next_position, c.offset);
            Ok(Some((end, position, format!("{} at byte {}", c.detail, c.offset))))
        }
        Err(ReplayError::Io(e)) => Err(io_err(format!("reading {name}"))(e)),
    }
}

/// The end of the last intact commit before `bad` in a segment, with its
/// next position.
fn last_boundary(seg: &LogFile, chain: [u8; 32], next_position: u64, bad: u64) -> (u64, u64) {
    let mut boundary = (HEADER_BYTES as u64, next_position);
    // It stops with an error at the damage; the commits before it count.
    let _ = replay(seg.file.clone(), HEADER_BYTES as u64, bad, chain, next_position, |c| {
        boundary = (c.end_offset, c.events.last().map_or(boundary.1, |e| e.position + 1));
        Ok(())
    });
    boundary
}

/// Intact commit records between `from` and `end`, and the events they count.
fn intact_commits_after(file: &dyn FileHandle, from: u64, end: u64) -> Result<(u64, u64), OpenError> {
    let (mut commits, mut events) = (0u64, 0u64);
    let mut at = from;
    while at < end {
        let found = find_frame(file, at, end, |_, kind, payload| {
            kind == KIND_COMMIT
                && decode_commit(payload).is_ok_and(|c| {
                    commits += 1;
                    events += u64::from(c.n_events);
                    true
                })
        })
        .map_err(io_err("reading the log".into()))?;
        match found {
            Some(next) => at = next,
            None => break,
        }
    }
    Ok((commits, events))
}
