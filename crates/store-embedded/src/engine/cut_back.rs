//! Cutting the log back to its durable end after a failed fdatasync.
//!
//! When an fdatasync fails, Linux drops the dirty pages' writeback and
//! marks them clean while their new content stays in the page cache: a
//! process that opens the log later in the same boot reads those bytes
//! back, and its own fdatasync succeeds without writing them. So the store
//! truncates every segment to what was durable. If a truncation fails
//! too, it leaves a marker file (`log/cut-back`: the durable end, packed,
//! and its CRC32C) that the next open applies before it reads the log.
//! Found by the seeded simulation: without it, a same-boot restart built
//! acknowledged commits on top of bytes a later power cut took away.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::state::{SegmentFile, Shared};
use crate::config::Config;
use crate::fs::Fs;
use crate::segment::header::HEADER_BYTES;
use crate::segment::Loc;

const MARKER: &str = "cut-back";

/// What the store says when it could neither cut the log back nor leave
/// the marker: only a reboot clears the page cache of the unsynced bytes.
pub const REBOOT_FIRST: &str = "the log could not be cut back to its durable end (nor a marker left for the next start): reboot the machine before restarting the store, or the restart may read unsynced commits back from the page cache";

/// Truncates every segment from the durable end on (the durable one to
/// that offset, later ones to their header). Callers hold `write_lock`,
/// with the store poisoned.
pub fn cut_back_to_durable(shared: &Shared) {
    let durable = Loc::unpack(shared.durable_end.load(Ordering::Acquire));
    let segments: Vec<Arc<SegmentFile>> =
        shared.read().segments.range(durable.segment..).map(|(_, s)| s.clone()).collect();
    let mut failed = false;
    for seg in segments {
        let keep = if seg.number == durable.segment { u64::from(durable.offset) } else { HEADER_BYTES as u64 };
        if seg.file.size().is_ok_and(|size| size <= keep) {
            continue;
        }
        match seg.file.set_len(keep).and_then(|()| seg.file.sync_data()) {
            Ok(()) => {
                tracing::warn!(segment = %seg.path.display(), offset = keep, "cut the log back to its durable end after a failed fdatasync")
            }
            Err(e) => {
                tracing::error!(segment = %seg.path.display(), error = %e, "could not cut the log back after a failed fdatasync; leaving a marker for the next start");
                failed = true;
            }
        }
    }
    if failed {
        if let Err(e) = write_marker(shared.config.fs.as_ref(), &shared.dirs.log, durable) {
            tracing::error!(error = %e, "could not leave the cut-back marker either");
            shared.poison_note(REBOOT_FIRST);
        }
    }
}

fn write_marker(fs: &dyn Fs, log: &Path, durable: Loc) -> std::io::Result<()> {
    let mut bytes = durable.pack().to_le_bytes().to_vec();
    bytes.extend_from_slice(&crc32c::crc32c(&bytes).to_le_bytes());
    let file = fs.open(&log.join(MARKER), true)?;
    file.set_len(0)?;
    file.write_all_at(&bytes, 0)?;
    file.sync_data()?;
    fs.sync_dir(log)
}

/// At open, before the log is read: applies a marker an earlier process
/// left, then removes it. A marker that does not check out was never
/// finished (its process died writing it) and is dropped.
pub fn apply_marker(config: &Config, log: &Path) -> std::io::Result<()> {
    let fs = config.fs.as_ref();
    let path = log.join(MARKER);
    let file = match fs.open(&path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut b = [0u8; 12];
    let whole = file.read_full_at(&mut b, 0)? == b.len() && crc32c::crc32c(&b[..8]).to_le_bytes() == b[8..];
    if whole {
        let durable = Loc::unpack(u64::from_le_bytes(b[..8].try_into().unwrap_or_default()));
        for seg_path in fs.list(log)? {
            let number = seg_path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u32>().ok());
            let Some(number) =
                number.filter(|n| *n >= durable.segment && seg_path.extension().is_some_and(|e| e == "seg"))
            else {
                continue;
            };
            let keep = if number == durable.segment { u64::from(durable.offset) } else { HEADER_BYTES as u64 };
            let seg = fs.open(&seg_path, false)?;
            if seg.size()? > keep {
                seg.set_len(keep)?;
                seg.sync_data()?;
                tracing::warn!(segment = %seg_path.display(), offset = keep, "cut the log back to the durable end an earlier failed fdatasync left");
            }
        }
    }
    fs.remove(&path)?;
    fs.sync_dir(log)
}
