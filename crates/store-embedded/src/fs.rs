//! The file-system seam. The engine touches files only through [`Fs`] and
//! [`FileHandle`], so tests can substitute [`FaultyFs`] to fail an fsync,
//! run out of space mid-write, or count calls.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

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
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Opens for reading and writing, creating the file when `create`.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>>;
    /// The paths of a directory's entries, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory so that entries created or renamed in it persist.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
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
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
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
}

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
        let left = self.faults.space_left_bytes.load(Ordering::SeqCst);
        if left >= 0 && buf.len() as i64 > left {
            let fits = left as usize;
            self.inner.write_all_at(&buf[..fits], offset)?;
            self.faults.space_left_bytes.store(0, Ordering::SeqCst);
            self.faults.disk_full.store(true, Ordering::SeqCst);
            return Err(enospc());
        }
        if left >= 0 {
            self.faults.space_left_bytes.fetch_sub(buf.len() as i64, Ordering::SeqCst);
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
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
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
}
