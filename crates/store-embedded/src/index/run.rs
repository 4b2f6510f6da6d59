//! Runs: immutable files of index entries sorted by key.
//!
//! ```text
//! header (32 bytes): magic "HSRUN001" | count u64 LE | 12 zero bytes | crc32c(bytes 0..28) u32 LE
//! entries: key u128 big-endian | value u64 little-endian   (24 bytes each)
//! ```
//! Keys are big-endian so that byte order is key order.

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::fs::{FileHandle, Fs};

const MAGIC: [u8; 8] = *b"HSRUN001";
pub const RUN_HEADER_BYTES: u64 = 32;
pub const ENTRY_BYTES: usize = 24;
const WRITE_CHUNK_BYTES: usize = 1 << 20;

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
        let mut buf = Vec::with_capacity(WRITE_CHUNK_BYTES + ENTRY_BYTES);
        let mut offset = RUN_HEADER_BYTES;
        let mut count = 0u64;
        let mut last: Option<u128> = None;
        for (k, v) in entries {
            if last.is_some_and(|l| l >= k) {
                return Err(invalid(format!("run {file_name}: keys out of order")));
            }
            last = Some(k);
            buf.extend_from_slice(&k.to_be_bytes());
            buf.extend_from_slice(&v.to_le_bytes());
            count += 1;
            if buf.len() >= WRITE_CHUNK_BYTES {
                file.write_all_at(&buf, offset)?;
                offset += buf.len() as u64;
                buf.clear();
            }
        }
        file.write_all_at(&buf, offset)?;
        file.write_all_at(&encode_header(count), 0)?;
        file.sync_data()?;
        Ok(Run { file_name: file_name.to_string(), count, file })
    }

    /// Opens a run and checks its header against the count the checkpoint
    /// recorded.
    pub fn open(fs: &dyn Fs, dir: &Path, file_name: &str, count: u64) -> io::Result<Run> {
        let file = fs.open(&dir.join(file_name), false)?;
        let mut h = [0u8; RUN_HEADER_BYTES as usize];
        if file.read_full_at(&mut h, 0)? != h.len() || h != encode_header(count) {
            return Err(invalid(format!("run {file_name}: header does not match the checkpoint")));
        }
        let want = RUN_HEADER_BYTES + count * ENTRY_BYTES as u64;
        if file.size()? != want {
            return Err(invalid(format!("run {file_name}: {} bytes, expected {want}", file.size()?)));
        }
        Ok(Run { file_name: file_name.to_string(), count, file })
    }

    fn entry(&self, i: u64) -> io::Result<(u128, u64)> {
        let mut b = [0u8; ENTRY_BYTES];
        let n = self.file.read_full_at(&mut b, RUN_HEADER_BYTES + i * ENTRY_BYTES as u64)?;
        if n != ENTRY_BYTES {
            return Err(invalid(format!("run {}: entry {i} cut short", self.file_name)));
        }
        Ok(decode_entry(&b))
    }

    /// The index of the first entry whose key is >= `key`.
    fn lower_bound(&self, key: u128) -> io::Result<u64> {
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.0 < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    pub fn get(&self, key: u128) -> io::Result<Option<u64>> {
        let i = self.lower_bound(key)?;
        if i < self.count {
            let (k, v) = self.entry(i)?;
            if k == key {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Appends the entries with keys in `lo..=hi` to `out`.
    pub fn range(&self, lo: u128, hi: u128, out: &mut Vec<(u128, u64)>) -> io::Result<()> {
        let mut cursor = self.cursor_at(self.lower_bound(lo)?);
        while let Some((k, v)) = cursor.next_entry()? {
            if k > hi {
                break;
            }
            out.push((k, v));
        }
        Ok(())
    }

    pub fn cursor_at(&self, index: u64) -> RunCursor {
        RunCursor { file: self.file.clone(), next: index, count: self.count, buf: Vec::new(), at: 0 }
    }
}

/// Sequential reader over a run's entries.
pub struct RunCursor {
    file: Arc<dyn FileHandle>,
    next: u64,
    count: u64,
    buf: Vec<u8>,
    at: usize,
}

impl RunCursor {
    pub fn next_entry(&mut self) -> io::Result<Option<(u128, u64)>> {
        if self.at >= self.buf.len() {
            if self.next >= self.count {
                return Ok(None);
            }
            let n = ((self.count - self.next) as usize).min(4096);
            self.buf.resize(n * ENTRY_BYTES, 0);
            let got = self.file.read_full_at(&mut self.buf, RUN_HEADER_BYTES + self.next * ENTRY_BYTES as u64)?;
            if got != self.buf.len() {
                return Err(invalid("run cut short".into()));
            }
            self.next += n as u64;
            self.at = 0;
        }
        let e = decode_entry(&self.buf[self.at..self.at + ENTRY_BYTES]);
        self.at += ENTRY_BYTES;
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
}
