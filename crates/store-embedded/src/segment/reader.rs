//! Reading frames and commits back: a buffered frame scanner, commit
//! replay with chain verification, and the scan-ahead that tells a torn
//! tail from damage (a later intact commit recording that the bad bytes
//! were durable).

use std::sync::Arc;

use super::frame::{parse_frame, Parsed, KIND_COMMIT, KIND_EVENT};
use super::header::HEADER_BYTES;
use super::record::{decode_commit, decode_event, ChainHasher, EventView};
use crate::fs::FileHandle;

const READ_CHUNK_BYTES: usize = 1 << 20;

/// One step of a [`FrameScanner`].
#[derive(Debug)]
pub enum Step<'a> {
    Frame {
        offset: u64,
        kind: u8,
        payload: &'a [u8],
        bytes: &'a [u8],
    },
    /// Exactly at the end of the scanned range.
    End,
    /// At `offset` the bytes are not a whole valid frame.
    Bad {
        offset: u64,
        reason: &'static str,
    },
}

/// Reads frames sequentially from `offset` up to `end`, in large chunks.
pub struct FrameScanner {
    file: Arc<dyn FileHandle>,
    end: u64,
    buf: Vec<u8>,
    buf_offset: u64,
    at: usize,
}

impl FrameScanner {
    pub fn new(file: Arc<dyn FileHandle>, offset: u64, end: u64) -> Self {
        FrameScanner { file, end, buf: Vec::new(), buf_offset: offset, at: 0 }
    }

    /// The file offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.buf_offset + self.at as u64
    }

    /// Makes at least `want` bytes from the current offset available (fewer
    /// only at `end`).
    fn fill(&mut self, want: usize) -> std::io::Result<()> {
        let have = self.buf.len() - self.at;
        if have >= want {
            return Ok(());
        }
        let offset = self.offset();
        let left = self.end.saturating_sub(offset) as usize;
        let size = want.max(READ_CHUNK_BYTES).min(left);
        if size <= have {
            return Ok(());
        }
        self.buf.drain(..self.at);
        self.buf_offset = offset;
        self.at = 0;
        let old = self.buf.len();
        self.buf.resize(size, 0);
        let n = self.file.read_full_at(&mut self.buf[old..], offset + old as u64)?;
        self.buf.truncate(old + n);
        Ok(())
    }

    pub fn next_frame(&mut self) -> std::io::Result<Step<'_>> {
        let offset = self.offset();
        if offset >= self.end {
            return Ok(Step::End);
        }
        self.fill(64 << 10)?;
        let needed = match parse_frame(&self.buf[self.at..]) {
            Parsed::Truncated { needed_bytes } => needed_bytes,
            _ => 0,
        };
        if needed > 0 {
            self.fill(needed)?;
        }
        match parse_frame(&self.buf[self.at..]) {
            Parsed::Frame { kind, total_bytes, .. } => {
                let start = self.at;
                self.at += total_bytes;
                let bytes = &self.buf[start..start + total_bytes];
                Ok(Step::Frame { offset, kind, payload: &bytes[5..total_bytes - 4], bytes })
            }
            Parsed::Truncated { .. } => Ok(Step::Bad { offset, reason: "frame cut short by the end of the file" }),
            Parsed::Invalid(reason) => Ok(Step::Bad { offset, reason }),
        }
    }
}

/// What replay learned about one event (enough to index it).
#[derive(Debug, Clone)]
pub struct ReplayedEvent {
    pub position: u64,
    pub version: u64,
    pub timestamp_us: u64,
    pub id: uuid::Uuid,
    pub stream: String,
    pub event_type: String,
    pub offset: u64,
}

/// A commit whose frames and chain hash all check out.
#[derive(Debug)]
pub struct ReplayedCommit {
    pub offset: u64,
    pub end_offset: u64,
    pub durable_end: u64,
    pub events: Vec<ReplayedEvent>,
    pub chain: [u8; 32],
}

/// Where replay of a segment stopped.
#[derive(Debug, Clone)]
pub struct ReplayEnd {
    /// Just past the last complete commit.
    pub end_offset: u64,
    pub chain: [u8; 32],
    pub next_position: u64,
    /// Bytes after the last complete commit that are not a complete
    /// commit: a torn tail, or damage (see [`find_durable_claim`]).
    pub trailing: Option<Trailing>,
}

/// What follows the last complete commit.
#[derive(Debug, Clone, Copy)]
pub struct Trailing {
    /// The first byte that is not part of a whole, valid frame; None when
    /// the bytes are whole frames that simply lack their commit record.
    pub bad_offset: Option<u64>,
    pub reason: &'static str,
}

/// A problem inside a complete, checksummed commit: never a torn write.
#[derive(Debug, Clone)]
pub struct ReplayCorruption {
    pub offset: u64,
    pub position: Option<u64>,
    pub detail: String,
}

#[derive(Debug)]
pub enum ReplayError {
    Io(std::io::Error),
    Corrupt(ReplayCorruption),
}

impl From<std::io::Error> for ReplayError {
    fn from(e: std::io::Error) -> Self {
        ReplayError::Io(e)
    }
}

/// Replays the commits of one segment from `offset` (a commit boundary)
/// to `end`, checking each frame's checksum, the positions' continuity and
/// the chain hash, and hands each complete commit to `on_commit`.
pub fn replay(
    file: Arc<dyn FileHandle>,
    offset: u64,
    end: u64,
    mut chain: [u8; 32],
    mut next_position: u64,
    mut on_commit: impl FnMut(ReplayedCommit) -> Result<(), ReplayError>,
) -> Result<ReplayEnd, ReplayError> {
    let mut scanner = FrameScanner::new(file, offset, end);
    let mut commit_start = offset;
    let mut hasher = ChainHasher::new(&chain);
    let mut pending: Vec<ReplayedEvent> = Vec::new();
    let corrupt =
        |offset, position, detail: String| ReplayError::Corrupt(ReplayCorruption { offset, position, detail });
    loop {
        match scanner.next_frame()? {
            Step::End => {
                let trailing = (!pending.is_empty())
                    .then_some(Trailing { bad_offset: None, reason: "commit without its closing record" });
                return Ok(ReplayEnd { end_offset: commit_start, chain, next_position, trailing });
            }
            Step::Bad { offset, reason } => {
                return Ok(ReplayEnd {
                    end_offset: commit_start,
                    chain,
                    next_position,
                    trailing: Some(Trailing { bad_offset: Some(offset), reason }),
                });
            }
            Step::Frame { offset, kind: KIND_EVENT, payload, bytes } => {
                let e = decode_event(payload).map_err(|d| corrupt(offset, None, d.to_string()))?;
                let expected = next_position + pending.len() as u64;
                if e.position != expected {
                    return Err(corrupt(
                        offset,
                        Some(e.position),
                        format!("event has position {} where {expected} was due", e.position),
                    ));
                }
                hasher.event_frame(bytes);
                pending.push(replayed(&e, offset));
            }
            Step::Frame { offset, kind: KIND_COMMIT, payload, .. } => {
                let c = decode_commit(payload).map_err(|d| corrupt(offset, None, d.to_string()))?;
                if c.first_position != next_position || c.n_events as usize != pending.len() || pending.is_empty() {
                    return Err(corrupt(
                        offset,
                        Some(next_position),
                        format!(
                            "commit record claims {} events from position {}, but {} events from {next_position} precede it",
                            c.n_events,
                            c.first_position,
                            pending.len()
                        ),
                    ));
                }
                if c.durable_end > commit_start || c.durable_end < HEADER_BYTES as u64 {
                    return Err(corrupt(
                        offset,
                        Some(next_position),
                        format!(
                            "commit record says the log was durable up to byte {}, outside the segment before the commit (bytes {HEADER_BYTES}..={commit_start})",
                            c.durable_end
                        ),
                    ));
                }
                let hasher_done = std::mem::replace(&mut hasher, ChainHasher::new(&[0; 32]));
                let computed = hasher_done.finish(c.first_position, c.n_events, c.durable_end);
                if computed != c.chain {
                    return Err(corrupt(offset, Some(next_position), "chain hash mismatch".to_string()));
                }
                chain = computed;
                hasher = ChainHasher::new(&chain);
                next_position += pending.len() as u64;
                let end_offset = scanner.offset();
                on_commit(ReplayedCommit {
                    offset: commit_start,
                    end_offset,
                    durable_end: c.durable_end,
                    events: std::mem::take(&mut pending),
                    chain,
                })?;
                commit_start = end_offset;
            }
            Step::Frame { offset, .. } => return Err(corrupt(offset, None, "unknown frame kind".into())),
        }
    }
}

fn replayed(e: &EventView<'_>, offset: u64) -> ReplayedEvent {
    ReplayedEvent {
        position: e.position,
        version: e.version,
        timestamp_us: e.timestamp_us,
        id: e.id,
        stream: e.stream.to_string(),
        event_type: e.event_type.to_string(),
        offset,
    }
}

/// True when every byte from `from` to `end` is zero: preallocated space
/// past the last commit, not data.
pub fn is_zero_tail(file: &dyn FileHandle, from: u64, end: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 1 << 20];
    let mut at = from;
    while at < end {
        let want = ((end - at) as usize).min(buf.len());
        let n = file.read_full_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// The first intact commit frame after `bad` (exclusive) and before `end`
/// that records the log as durable past `bad`: proof that the bytes at
/// `bad` were acknowledged, so they are damage, not an unfinished write.
/// Returns its offset and the durable end it records.
pub fn find_durable_claim(file: &dyn FileHandle, bad: u64, end: u64) -> std::io::Result<Option<(u64, u64)>> {
    let mut claim = None;
    find_frame(file, bad, end, |offset, kind, payload| {
        let Ok(c) = decode_commit(payload).map_err(|_| ()).and_then(|c| (kind == KIND_COMMIT).then_some(c).ok_or(()))
        else {
            return false;
        };
        if c.durable_end > bad {
            claim = Some((offset, c.durable_end));
            return true;
        }
        false
    })?;
    Ok(claim)
}

/// The first offset after `from` (exclusive) and before `end` where a
/// whole, checksummed frame starts whose kind and payload `accept` takes.
pub fn find_frame(
    file: &dyn FileHandle,
    from: u64,
    end: u64,
    mut accept: impl FnMut(u64, u8, &[u8]) -> bool,
) -> std::io::Result<Option<u64>> {
    let mut offset = from + 1;
    let mut buf = vec![0u8; 4 << 20];
    while offset < end {
        let want = ((end - offset) as usize).min(buf.len());
        let n = file.read_full_at(&mut buf[..want], offset)?;
        if n == 0 {
            break;
        }
        let mut i = 0;
        let mut grow_to = 0;
        while i < n {
            match parse_frame(&buf[i..n]) {
                Parsed::Frame { kind, payload, .. } if accept(offset + i as u64, kind, payload) => {
                    return Ok(Some(offset + i as u64));
                }
                Parsed::Truncated { needed_bytes }
                    if offset + (i + needed_bytes) as u64 <= end && i + needed_bytes > n =>
                {
                    // The frame may be whole on disk: re-read from here,
                    // with a buffer large enough to hold it.
                    grow_to = needed_bytes;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        if grow_to > 0 && i == 0 {
            if grow_to <= buf.len() {
                // Already as large as it can be read; move on.
                i = 1;
            } else {
                buf.resize(grow_to, 0);
            }
        }
        offset += i as u64;
    }
    Ok(None)
}
