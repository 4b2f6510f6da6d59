//! Runs: immutable files of index entries sorted by key, checksummed in
//! blocks so that a changed byte is an error, never a wrong answer.
//!
//! ```text
//! header (32 bytes): magic "HSRUN002" | count u64 LE | 12 zero bytes | crc32c(bytes 0..28) u32 LE
//! blocks: up to 170 entries, then crc32c(those entries) u32 LE; all but the last are full
//! entry: key u128 big-endian | value u64 little-endian   (24 bytes)
//! ```
//! Keys are big-endian so that byte order is key order. A block is 4,084
//! bytes, read and checked whole.

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::fs::{FileHandle, Fs};

/// 002 added the block checksums.
const MAGIC: [u8; 8] = *b"HSRUN002";
pub const RUN_HEADER_BYTES: u64 = 32;
pub const ENTRY_BYTES: usize = 24;
/// Entries per checksummed block.
pub const BLOCK_ENTRIES: u64 = 170;
const BLOCK_BYTES: u64 = BLOCK_ENTRIES * ENTRY_BYTES as u64 + 4;
const WRITE_CHUNK_BYTES: usize = 1 << 20;
/// A run being written is fdatasynced every this many bytes.
const SYNC_EVERY_BYTES: usize = 8 << 20;
/// Blocks a cursor reads at once.
const CURSOR_BLOCKS: u64 = 24;

/// An open run file.
pub struct Run {
    pub file_name: String,
    pub count: u64,
    file: Arc<dyn FileHandle>,
}

fn decode_entry(b: &[u8]) -> (u128, u64) {
    let mut k = [0u8; 16];
    k.copy_from_slice(&b[..16]);
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[16..24]);
    (u128::from_be_bytes(k), u64::from_le_bytes(v))
}

fn encode_header(count: u64) -> [u8; RUN_HEADER_BYTES as usize] {
    let mut h = [0u8; RUN_HEADER_BYTES as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..16].copy_from_slice(&count.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The size of a run file holding `count` entries.
pub fn run_bytes(count: u64) -> u64 {
    let (full, rest) = (count / BLOCK_ENTRIES, count % BLOCK_ENTRIES);
    RUN_HEADER_BYTES + full * BLOCK_BYTES + if rest > 0 { rest * ENTRY_BYTES as u64 + 4 } else { 0 }
}

/// Reads blocks `first..first + n` (clipped to the run) and checks each
/// block's checksum; returns their entries' bytes, back to back.
fn read_blocks(file: &dyn FileHandle, name: &str, count: u64, first: u64, n: u64) -> io::Result<Vec<u8>> {
    let entries_from = first * BLOCK_ENTRIES;
    let entries_to = ((first + n) * BLOCK_ENTRIES).min(count);
    if entries_from >= entries_to {
        return Ok(Vec::new());
    }
    let start = RUN_HEADER_BYTES + first * BLOCK_BYTES;
    let len = run_bytes(entries_to) - start;
    let mut raw = vec![0u8; len as usize];
    if file.read_full_at(&mut raw, start)? != raw.len() {
        return Err(invalid(format!("run {name}: cut short at block {first}")));
    }
    let mut out = Vec::with_capacity(((entries_to - entries_from) as usize) * ENTRY_BYTES);
    for (i, block) in raw.chunks(BLOCK_BYTES as usize).enumerate() {
        let (entries, crc) = block.split_at(block.len() - 4);
        if crc32c::crc32c(entries).to_le_bytes() != crc {
            return Err(invalid(format!("run {name}: block {} checksum mismatch", first + i as u64)));
        }
        out.extend_from_slice(entries);
    }
    Ok(out)
}

impl Run {
    /// Writes sorted `entries` to `dir/file_name` and fsyncs it.
    pub fn write(
        fs: &dyn Fs,
        dir: &Path,
        file_name: &str,
        entries: impl IntoIterator<Item = (u128, u64)>,
    ) -> io::Result<Run> {
        let file = fs.open(&dir.join(file_name), true)?;
        file.set_len(0)?;
        let mut buf = Vec::with_capacity(WRITE_CHUNK_BYTES + BLOCK_BYTES as usize);
        let mut block_start = 0;
        let mut offset = RUN_HEADER_BYTES;
        let mut count = 0u64;
        let mut unsynced = 0usize;
        let mut last: Option<u128> = None;
        for (k, v) in entries {
            if last.is_some_and(|l| l >= k) {
                return Err(invalid(format!("run {file_name}: keys out of order")));
            }
            last = Some(k);
            buf.extend_from_slice(&k.to_be_bytes());
            buf.extend_from_slice(&v.to_le_bytes());
            count += 1;
            if count.is_multiple_of(BLOCK_ENTRIES) {
                let crc = crc32c::crc32c(&buf[block_start..]);
                buf.extend_from_slice(&crc.to_le_bytes());
                block_start = buf.len();
                if buf.len() >= WRITE_CHUNK_BYTES {
                    file.write_all_at(&buf, offset)?;
                    offset += buf.len() as u64;
                    unsynced += buf.len();
                    buf.clear();
                    block_start = 0;
                    // Written back a few MiB at a time, so the log's
                    // fdatasync never queues behind a whole merged run.
                    if unsynced >= SYNC_EVERY_BYTES {
                        file.sync_data()?;
                        unsynced = 0;
                    }
                }
            }
        }
        if block_start < buf.len() {
            let crc = crc32c::crc32c(&buf[block_start..]);
            buf.extend_from_slice(&crc.to_le_bytes());
        }
        file.write_all_at(&buf, offset)?;
        file.write_all_at(&encode_header(count), 0)?;
        file.sync_data()?;
        Ok(Run { file_name: file_name.to_string(), count, file })
    }

    /// Opens a run and checks its header and size against the count the
    /// checkpoint recorded (blocks are checked as they are read).
    pub fn open(fs: &dyn Fs, dir: &Path, file_name: &str, count: u64) -> io::Result<Run> {
        let file = fs.open(&dir.join(file_name), false)?;
        let mut h = [0u8; RUN_HEADER_BYTES as usize];
        if file.read_full_at(&mut h, 0)? != h.len() || h != encode_header(count) {
            return Err(invalid(format!("run {file_name}: header does not match the checkpoint")));
        }
        let want = run_bytes(count);
        if file.size()? != want {
            return Err(invalid(format!("run {file_name}: {} bytes, expected {want}", file.size()?)));
        }
        Ok(Run { file_name: file_name.to_string(), count, file })
    }

    fn blocks(&self) -> u64 {
        self.count.div_ceil(BLOCK_ENTRIES)
    }

    fn block(&self, b: u64) -> io::Result<Vec<u8>> {
        read_blocks(self.file.as_ref(), &self.file_name, self.count, b, 1)
    }

    /// The index of the first entry whose key is >= `key`: a binary search
    /// over blocks by their last key, then within the block.
    fn lower_bound(&self, key: u128) -> io::Result<(u64, Option<Vec<u8>>)> {
        let (mut lo, mut hi) = (0u64, self.blocks());
        let mut found = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let block = self.block(mid)?;
            let last = decode_entry(&block[block.len() - ENTRY_BYTES..]).0;
            if last < key {
                lo = mid + 1;
            } else {
                hi = mid;
                found = Some(block);
            }
        }
        let Some(block) = found.filter(|_| lo < self.blocks()) else { return Ok((self.count, None)) };
        let n = block.len() / ENTRY_BYTES;
        let i = (0..n).position(|i| decode_entry(&block[i * ENTRY_BYTES..]).0 >= key).unwrap_or(n);
        Ok((lo * BLOCK_ENTRIES + i as u64, Some(block)))
    }

    pub fn get(&self, key: u128) -> io::Result<Option<u64>> {
        let (i, block) = self.lower_bound(key)?;
        if let Some(block) = block {
            let at = (i % BLOCK_ENTRIES) as usize * ENTRY_BYTES;
            if at < block.len() {
                let (k, v) = decode_entry(&block[at..]);
                if k == key {
                    return Ok(Some(v));
                }
            }
        }
        Ok(None)
    }

    /// Appends the entries with keys in `lo..=hi` to `out`.
    pub fn range(&self, lo: u128, hi: u128, out: &mut Vec<(u128, u64)>) -> io::Result<()> {
        let mut cursor = self.cursor_at(self.lower_bound(lo)?.0);
        while let Some((k, v)) = cursor.next_entry()? {
            if k > hi {
                break;
            }
            out.push((k, v));
        }
        Ok(())
    }

    /// Appends the first `max` entries with keys in `lo..=hi` to `out`;
    /// true when more such entries follow.
    pub fn range_first(&self, lo: u128, hi: u128, max: usize, out: &mut Vec<(u128, u64)>) -> io::Result<bool> {
        let mut cursor = self.cursor_at(self.lower_bound(lo)?.0);
        cursor.blocks = (max as u64).div_ceil(BLOCK_ENTRIES).clamp(1, CURSOR_BLOCKS);
        let mut taken = 0;
        while let Some((k, v)) = cursor.next_entry()? {
            if k > hi {
                return Ok(false);
            }
            if taken == max {
                return Ok(true);
            }
            out.push((k, v));
            taken += 1;
        }
        Ok(false)
    }

    /// Appends the last `max` entries with keys in `lo..=hi` to `out`, in
    /// key order; true when more such entries precede them.
    pub fn range_last(&self, lo: u128, hi: u128, max: usize, out: &mut Vec<(u128, u64)>) -> io::Result<bool> {
        let first = self.lower_bound(lo)?.0;
        let end = match hi.checked_add(1) {
            Some(above) => self.lower_bound(above)?.0,
            None => self.count,
        };
        let start = end.saturating_sub(max as u64).max(first);
        let mut cursor = self.cursor_at(start);
        cursor.blocks = (end - start).div_ceil(BLOCK_ENTRIES).clamp(1, CURSOR_BLOCKS);
        for _ in start..end {
            match cursor.next_entry()? {
                Some(e) => out.push(e),
                None => return Err(invalid(format!("run {}: cut short", self.file_name))),
            }
        }
        Ok(start > first)
    }

    pub fn cursor_at(&self, index: u64) -> RunCursor {
        RunCursor {
            file: self.file.clone(),
            name: self.file_name.clone(),
            count: self.count,
            next: index,
            buf: Vec::new(),
            at: 0,
            blocks: CURSOR_BLOCKS,
        }
    }
}

/// Sequential reader over a run's entries, checking each block it reads.
pub struct RunCursor {
    file: Arc<dyn FileHandle>,
    name: String,
    count: u64,
    /// The index of the entry at `buf[at..]`, or of the next to read.
    next: u64,
    buf: Vec<u8>,
    at: usize,
    /// Blocks read at once.
    blocks: u64,
}

impl RunCursor {
    pub fn next_entry(&mut self) -> io::Result<Option<(u128, u64)>> {
        if self.at >= self.buf.len() {
            if self.next >= self.count {
                return Ok(None);
            }
            let block = self.next / BLOCK_ENTRIES;
            self.buf = read_blocks(self.file.as_ref(), &self.name, self.count, block, self.blocks)?;
            self.at = ((self.next - block * BLOCK_ENTRIES) as usize) * ENTRY_BYTES;
            if self.at >= self.buf.len() {
                return Err(invalid(format!("run {}: cut short", self.name)));
            }
        }
        let e = decode_entry(&self.buf[self.at..self.at + ENTRY_BYTES]);
        self.at += ENTRY_BYTES;
        self.next += 1;
        Ok(Some(e))
    }
}

/// Merges runs into one. A key in several runs (which only a crash between
/// writing a run and retiring its inputs could cause) keeps the newest
/// run's value; runs are given oldest first.
pub fn merge(fs: &dyn Fs, dir: &Path, file_name: &str, runs: &[Arc<Run>]) -> io::Result<Run> {
    let mut cursors: Vec<RunCursor> = runs.iter().map(|r| r.cursor_at(0)).collect();
    let mut heads: Vec<Option<(u128, u64)>> = cursors.iter_mut().map(|c| c.next_entry()).collect::<io::Result<_>>()?;
    let mut err = None;
    let iter = std::iter::from_fn(|| {
        let min = heads.iter().flatten().map(|(k, _)| *k).min()?;
        let mut value = None;
        for (i, h) in heads.iter_mut().enumerate() {
            if let Some((k, v)) = *h {
                if k == min {
                    value = Some(v);
                    match cursors[i].next_entry() {
                        Ok(next) => *h = next,
                        Err(e) => {
                            err = Some(e);
                            *h = None;
                        }
                    }
                }
            }
        }
        value.map(|v| (min, v))
    });
    let run = Run::write(fs, dir, file_name, iter)?;
    match err {
        Some(e) => Err(e),
        None => Ok(run),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::StdFs;

    #[test]
    fn write_open_get_range_and_merge() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(Run::write(&StdFs, dir.path(), "a.run", (0..1000u128).map(|k| (k * 2, k as u64))).unwrap());
        let b = Arc::new(Run::write(&StdFs, dir.path(), "b.run", (0..10u128).map(|k| (k * 2 + 1, 7))).unwrap());
        let a2 = Run::open(&StdFs, dir.path(), "a.run", 1000).unwrap();
        assert!(Run::open(&StdFs, dir.path(), "a.run", 999).is_err());
        assert_eq!(a2.get(10).unwrap(), Some(5));
        assert_eq!(a2.get(11).unwrap(), None);
        assert_eq!(a2.get(5000).unwrap(), None);
        let mut out = Vec::new();
        a2.range(5, 11, &mut out).unwrap();
        assert_eq!(out, [(6, 3), (8, 4), (10, 5)]);
        let m = merge(&StdFs, dir.path(), "m.run", &[a, b]).unwrap();
        assert_eq!(m.count, 1010);
        assert_eq!(m.get(3).unwrap(), Some(7));
        assert_eq!(m.get(1998).unwrap(), Some(999));
        assert!(Run::write(&StdFs, dir.path(), "bad.run", [(2, 0), (1, 0)]).is_err());
    }

    #[test]
    fn every_block_boundary_and_every_changed_byte() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0u64, 1, 169, 170, 171, 340, 341, 1000] {
            let name = format!("r{n}.run");
            let run = Run::write(&StdFs, dir.path(), &name, (0..n as u128).map(|k| (k * 3, k as u64))).unwrap();
            assert_eq!(std::fs::metadata(dir.path().join(&name)).unwrap().len(), run_bytes(n));
            for k in 0..n as u128 {
                assert_eq!(run.get(k * 3).unwrap(), Some(k as u64), "n {n} key {k}");
                assert_eq!(run.get(k * 3 + 1).unwrap(), None);
            }
            let mut all = Vec::new();
            run.range(0, u128::MAX, &mut all).unwrap();
            assert_eq!(all.len() as u64, n);
            let mut some = Vec::new();
            run.range(100, 520, &mut some).unwrap();
            assert!(some.iter().all(|(k, _)| (100..=520).contains(k)));
            assert_eq!(some.len() as u64, (0..n).filter(|k| (100..=520).contains(&(k * 3))).count() as u64);
        }
        let run = Run::write(&StdFs, dir.path(), "f.run", (0..400u128).map(|k| (k, k as u64))).unwrap();
        drop(run);
        let path = dir.path().join("f.run");
        let good = std::fs::read(&path).unwrap();
        for i in RUN_HEADER_BYTES as usize..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let run = Run::open(&StdFs, dir.path(), "f.run", 400).unwrap();
            let mut out = Vec::new();
            let scanned = run.range(0, u128::MAX, &mut out);
            assert!(scanned.is_err(), "byte {i} changed, yet the run read back");
        }
    }
}
