//! The index checkpoint: which runs hold the indexes up to which log
//! position, plus the stream heads and the sparse position index as of
//! that position, so a start replays only the log after it.
//!
//! Written to `index/checkpoint.tmp`, fsynced, renamed over
//! `index/checkpoint`, and the directory fsynced: a crash leaves either
//! the old or the new checkpoint, never a mix. All integers little-endian;
//! the file ends with a CRC32C of everything before it.

use std::io;
use std::path::Path;

use crate::fs::Fs;
use crate::segment::Loc;

/// 02 added the tail commit, so open can check the checkpoint against the log.
const MAGIC: [u8; 8] = *b"HSCKPT03";
pub const FILE_NAME: &str = "checkpoint";

/// What the writer knows of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub key: u64,
    pub last_version: u64,
    pub first_position: u64,
    pub last_position: u64,
}

/// One entry of the sparse position index: the commit that starts at
/// `loc` holds `position` and has this timestamp. Entries are at most a
/// few hundred positions apart, so reads from a position or a time scan
/// little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sparse {
    pub position: u64,
    pub loc: Loc,
    pub timestamp_us: u64,
}

/// The sparse index's rule, shared by the syncer, replay and verify: a
/// commit start is recorded when it is at least `SPARSE_STRIDE` positions
/// past the last entry, or opens a segment (so a scan never has to cross
/// into a segment from a stale entry).
pub fn note_sparse(sparse: &mut Vec<Sparse>, position: u64, loc: Loc, timestamp_us: u64) {
    let stride_passed = sparse.last().is_none_or(|s| position >= s.position + crate::config::SPARSE_STRIDE);
    if stride_passed || u64::from(loc.offset) == crate::segment::header::HEADER_BYTES as u64 {
        sparse.push(Sparse { position, loc, timestamp_us });
    }
}

/// The commit that ends at a checkpoint's tail: where it starts, its first
/// position and the chain hash before it, so open can replay it and prove
/// that the log still holds what the checkpoint describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailCommit {
    pub loc: Loc,
    pub first_position: u64,
    pub prev_chain: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    pub file_name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// Events below this position are in the runs.
    pub next_position: u64,
    /// The commit boundary where replay resumes.
    pub tail: Option<Loc>,
    /// The commit ending at `tail`; None when `tail` is a segment's start.
    pub tail_commit: Option<TailCommit>,
    pub chain: [u8; 32],
    pub last_timestamp_us: u64,
    pub next_run_number: u64,
    pub id_runs: Vec<RunRef>,
    pub stream_runs: Vec<RunRef>,
    pub posting_runs: Vec<RunRef>,
    pub heads: Vec<(String, Head)>,
    pub sparse: Vec<Sparse>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| bad("checkpoint cut short"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default()))
    }
    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default()))
    }
    fn string(&mut self) -> io::Result<String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().unwrap_or_default()) as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("checkpoint name is not UTF-8"))
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

impl Checkpoint {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::with_capacity(128 + self.heads.len() * 64 + self.sparse.len() * 24);
        o.extend_from_slice(&MAGIC);
        o.extend_from_slice(&self.next_position.to_le_bytes());
        o.extend_from_slice(&self.tail.map_or(u64::MAX, Loc::pack).to_le_bytes());
        match &self.tail_commit {
            Some(t) => {
                o.push(1);
                o.extend_from_slice(&t.loc.pack().to_le_bytes());
                o.extend_from_slice(&t.first_position.to_le_bytes());
                o.extend_from_slice(&t.prev_chain);
            }
            None => o.push(0),
        }
        o.extend_from_slice(&self.chain);
        o.extend_from_slice(&self.last_timestamp_us.to_le_bytes());
        o.extend_from_slice(&self.next_run_number.to_le_bytes());
        for runs in [&self.id_runs, &self.stream_runs, &self.posting_runs] {
            o.extend_from_slice(&(runs.len() as u32).to_le_bytes());
            for r in runs {
                put_string(&mut o, &r.file_name);
                o.extend_from_slice(&r.count.to_le_bytes());
            }
        }
        o.extend_from_slice(&(self.heads.len() as u64).to_le_bytes());
        for (name, h) in &self.heads {
            put_string(&mut o, name);
            for v in [h.key, h.last_version, h.first_position, h.last_position] {
                o.extend_from_slice(&v.to_le_bytes());
            }
        }
        o.extend_from_slice(&(self.sparse.len() as u64).to_le_bytes());
        for s in &self.sparse {
            for v in [s.position, s.loc.pack(), s.timestamp_us] {
                o.extend_from_slice(&v.to_le_bytes());
            }
        }
        let crc = crc32c::crc32c(&o);
        o.extend_from_slice(&crc.to_le_bytes());
        o
    }

    pub fn decode(b: &[u8]) -> io::Result<Checkpoint> {
        if b.len() < 12 || b[..8] != MAGIC {
            return Err(bad("not a checkpoint file"));
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return Err(bad("checkpoint checksum mismatch"));
        }
        let mut r = Reader { b: body, at: 8 };
        let next_position = r.u64()?;
        let tail = match r.u64()? {
            u64::MAX => None,
            v => Some(Loc::unpack(v)),
        };
        let tail_commit = match r.take(1)?[0] {
            0 => None,
            1 => {
                let loc = Loc::unpack(r.u64()?);
                let first_position = r.u64()?;
                let mut prev_chain = [0u8; 32];
                prev_chain.copy_from_slice(r.take(32)?);
                Some(TailCommit { loc, first_position, prev_chain })
            }
            _ => return Err(bad("checkpoint tail commit flag is neither 0 nor 1")),
        };
        let mut chain = [0u8; 32];
        chain.copy_from_slice(r.take(32)?);
        let last_timestamp_us = r.u64()?;
        let next_run_number = r.u64()?;
        let mut runs = [Vec::new(), Vec::new(), Vec::new()];
        for list in &mut runs {
            for _ in 0..r.u32()? {
                list.push(RunRef { file_name: r.string()?, count: r.u64()? });
            }
        }
        let [id_runs, stream_runs, posting_runs] = runs;
        let n_heads = r.u64()?;
        let mut heads = Vec::with_capacity(n_heads.min(1 << 20) as usize);
        for _ in 0..n_heads {
            let name = r.string()?;
            let h = Head { key: r.u64()?, last_version: r.u64()?, first_position: r.u64()?, last_position: r.u64()? };
            heads.push((name, h));
        }
        let n_sparse = r.u64()?;
        let mut sparse = Vec::with_capacity(n_sparse.min(1 << 20) as usize);
        for _ in 0..n_sparse {
            sparse.push(Sparse { position: r.u64()?, loc: Loc::unpack(r.u64()?), timestamp_us: r.u64()? });
        }
        if r.at != body.len() {
            return Err(bad("checkpoint has trailing bytes"));
        }
        Ok(Checkpoint {
            next_position,
            tail,
            tail_commit,
            chain,
            last_timestamp_us,
            next_run_number,
            id_runs,
            stream_runs,
            posting_runs,
            heads,
            sparse,
        })
    }

    /// Replaces the checkpoint in `dir` atomically.
    pub fn store(&self, fs: &dyn Fs, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let file = fs.open(&tmp, true)?;
        file.set_len(0)?;
        file.write_all_at(&self.encode(), 0)?;
        file.sync_data()?;
        fs.rename(&tmp, &dir.join(FILE_NAME))?;
        fs.sync_dir(dir)
    }

    /// None when there is no checkpoint yet.
    pub fn load(fs: &dyn Fs, dir: &Path) -> io::Result<Option<Checkpoint>> {
        let path = dir.join(FILE_NAME);
        let file = match fs.open(&path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut b = vec![0u8; file.size()? as usize];
        let n = file.read_full_at(&mut b, 0)?;
        b.truncate(n);
        Checkpoint::decode(&b).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let c = Checkpoint {
            next_position: 10,
            tail: Some(Loc { segment: 2, offset: 640 }),
            tail_commit: Some(TailCommit {
                loc: Loc { segment: 2, offset: 500 },
                first_position: 8,
                prev_chain: [4; 32],
            }),
            chain: [9; 32],
            last_timestamp_us: 77,
            next_run_number: 4,
            id_runs: vec![RunRef { file_name: "ids-1.run".into(), count: 10 }],
            stream_runs: vec![RunRef { file_name: "streams-1.run".into(), count: 10 }],
            posting_runs: vec![RunRef { file_name: "postings-1.run".into(), count: 20 }],
            heads: vec![("order-1".into(), Head { key: 1, last_version: 9, first_position: 0, last_position: 9 })],
            sparse: vec![Sparse { position: 0, loc: Loc { segment: 1, offset: 64 }, timestamp_us: 5 }],
        };
        let b = c.encode();
        assert_eq!(Checkpoint::decode(&b).unwrap(), c);
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 1;
            assert!(Checkpoint::decode(&bad).is_err(), "flip at {i}");
        }
        assert!(Checkpoint::decode(&b[..b.len() - 1]).is_err());
    }
}
