//! The file-system seam. The engine touches files only through [`Fs`] and
//! [`FileHandle`], so tests can substitute [`FaultyFs`] (the real disk
//! with EIO and ENOSPC injected) or [`SimFs`] (an in-memory disk that
//! keeps the page cache and the durable image apart, so a simulated power
//! cut loses exactly what was never fdatasynced).

mod faulty;
mod sim;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use faulty::{Faults, FaultyFs};
pub use sim::{RandomFaults, SimFaults, SimFs};

/// Takes up to `want` bytes from a simulated disk's free space (negative:
/// unlimited) and returns how many fit. One atomic update, so a test that
/// lifts the limit while the writer preallocates is never overwritten by
/// the writer's stale count.
fn take_space(left: &std::sync::atomic::AtomicI64, want: usize) -> usize {
    use std::sync::atomic::Ordering;
    let mut fits = want;
    let _ = left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
        if l < 0 {
            fits = want;
            return None;
        }
        fits = want.min(l as usize);
        Some(l - fits as i64)
    });
    fits
}

/// An open file: positional reads and writes, so readers and the writer
/// share one handle without a cursor.
pub trait FileHandle: Send + Sync {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// fdatasync: the data written so far survives power loss.
    fn sync_data(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    fn size(&self) -> io::Result<u64>;

    /// Reads until `buf` is full or the file ends; returns the bytes read.
    fn read_full_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// The directory operations the engine needs.
pub trait Fs: Send + Sync + 'static {
    /// Creates one directory; its parent must exist.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    /// Opens for reading and writing, creating the file when `create`.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>>;
    /// The paths of a directory's entries, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory so that entries created or renamed in it persist.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Bytes an unprivileged writer can still write on the file system
    /// that holds `path`.
    fn available_bytes(&self, path: &Path) -> io::Result<u64>;

    /// Creates `path` and its missing parents, fsyncing the parent of each
    /// directory it creates: a new directory's entry is only durable once
    /// its parent is synced, and every file inside it depends on it.
    fn create_dir_durable(&self, path: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        let mut at = path;
        while !self.exists(at) {
            missing.push(at);
            match at.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                _ => break,
            }
        }
        for dir in missing.into_iter().rev() {
            self.create_dir(dir)?;
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            self.sync_dir(parent)?;
        }
        Ok(())
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

struct StdFile(File);

impl FileHandle for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Fs for StdFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        match fs::create_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
            other => other,
        }
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        let file = OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<io::Result<Vec<_>>>()?;
        out.sort();
        Ok(out)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
    fn available_bytes(&self, path: &Path) -> io::Result<u64> {
        let s = rustix::fs::statvfs(path)?;
        Ok(s.f_bavail.saturating_mul(s.f_frsize))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn lifting_the_space_limit_is_never_undone_by_a_concurrent_write() {
        for _ in 0..20 {
            let left = std::sync::Arc::new(AtomicI64::new(1 << 40));
            let writer = {
                let left = left.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        super::take_space(&left, 4096);
                    }
                })
            };
            std::thread::yield_now();
            left.store(-1, Ordering::SeqCst);
            writer.join().unwrap();
            assert_eq!(left.load(Ordering::SeqCst), -1, "the limit came back");
        }
    }

    #[test]
    fn a_write_takes_what_fits() {
        let left = AtomicI64::new(10);
        assert_eq!(super::take_space(&left, 4), 4);
        assert_eq!(super::take_space(&left, 100), 6);
        assert_eq!(super::take_space(&left, 1), 0);
        let unlimited = AtomicI64::new(-1);
        assert_eq!(super::take_space(&unlimited, 1 << 20), 1 << 20);
        assert_eq!(unlimited.load(Ordering::SeqCst), -1);
    }
}
