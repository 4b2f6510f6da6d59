//! [`FaultyFs`]: the real file system with EIO on fsync and ENOSPC
//! mid-write injected on demand.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use super::{FileHandle, Fs, StdFs};

/// Faults a test arms on a [`FaultyFs`].
#[derive(Debug, Default)]
pub struct Faults {
    /// fsyncs (file or directory) that still succeed; negative: all do.
    syncs_until_eio: AtomicI64,
    /// Bytes that can still be written; negative: unlimited. A write that
    /// crosses the budget writes what fits, then fails with ENOSPC.
    space_left_bytes: AtomicI64,
    /// When set, no write succeeds.
    disk_full: AtomicBool,
}

impl Faults {
    pub fn new() -> Arc<Self> {
        Arc::new(Faults {
            syncs_until_eio: AtomicI64::new(-1),
            space_left_bytes: AtomicI64::new(-1),
            disk_full: AtomicBool::new(false),
        })
    }
    /// The next `n` fsyncs succeed; every one after fails with EIO.
    pub fn fail_sync_after(&self, n: i64) {
        self.syncs_until_eio.store(n, Ordering::SeqCst);
    }
    /// Only `bytes` more bytes fit on the disk (negative: unlimited).
    pub fn set_space_left(&self, bytes: i64) {
        self.space_left_bytes.store(bytes, Ordering::SeqCst);
        self.disk_full.store(false, Ordering::SeqCst);
    }
}

/// [`StdFs`] with injectable faults, for tests.
pub struct FaultyFs {
    pub faults: Arc<Faults>,
}

struct FaultyFile {
    inner: Arc<dyn FileHandle>,
    faults: Arc<Faults>,
}

fn check_sync(faults: &Faults) -> io::Result<()> {
    let left = faults.syncs_until_eio.load(Ordering::SeqCst);
    if left == 0 {
        return Err(io::Error::from_raw_os_error(5)); // EIO
    }
    if left > 0 {
        faults.syncs_until_eio.fetch_sub(1, Ordering::SeqCst);
    }
    Ok(())
}

impl FileHandle for FaultyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let enospc = || io::Error::from_raw_os_error(28); // ENOSPC
        if self.faults.disk_full.load(Ordering::SeqCst) {
            return Err(enospc());
        }
        let fits = super::take_space(&self.faults.space_left_bytes, buf.len());
        if fits < buf.len() {
            self.inner.write_all_at(&buf[..fits], offset)?;
            self.faults.disk_full.store(true, Ordering::SeqCst);
            return Err(enospc());
        }
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        check_sync(&self.faults)?;
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
}

impl Fs for FaultyFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        StdFs.exists(path)
    }
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        Ok(Arc::new(FaultyFile { inner: StdFs.open(path, create)?, faults: self.faults.clone() }))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        StdFs.list(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        check_sync(&self.faults)?;
        StdFs.sync_dir(dir)
    }
    fn available_bytes(&self, path: &Path) -> io::Result<u64> {
        if self.faults.disk_full.load(Ordering::SeqCst) {
            return Ok(0);
        }
        match self.faults.space_left_bytes.load(Ordering::SeqCst) {
            left if left >= 0 => Ok(left as u64),
            _ => StdFs.available_bytes(path),
        }
    }
}
