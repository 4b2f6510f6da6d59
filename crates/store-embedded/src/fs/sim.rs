//! [`SimFs`]: an in-memory disk that keeps the page cache and the durable
//! image apart, for tests that must see what a power cut keeps.
//!
//! Writes land in the page cache, which is what reads see. `sync_data`
//! copies a file's dirty pages and its size to the durable image;
//! `sync_dir` does the same for a directory's entries (a created, renamed
//! or removed file is only durable once its directory is synced).
//! [`SimFs::power_cut`] returns a new disk holding the durable image and,
//! per a seed, some of the unsynced pages: whole, torn at a sector, or not
//! at all, in no particular order, as a real disk may leave them.
//!
//! Faults, armed through [`SimFaults`] and [`SimFs`]: a writeback error
//! reported the way Linux reports it (errseq: the dirty pages are dropped
//! and marked clean, and only the first fsync through each open file to
//! look sees the error; a later fsync returns success although the pages
//! are gone), slow fdatasyncs, failing directory fsyncs, failing file
//! creations, and a full disk.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{FileHandle, Fs};

const PAGE_BYTES: usize = 4096;
const SECTOR_BYTES: usize = 512;

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file or directory", path.display()))
}

/// Faults a test arms on a [`SimFs`]; shared by every handle of the disk.
#[derive(Debug)]
pub struct SimFaults {
    /// Every fdatasync (file or directory) takes at least this long.
    sync_delay_us: AtomicU64,
    /// Directory fsyncs that fail with EIO before they persist anything.
    dir_syncs_failing: AtomicI64,
    /// File creations (`open` with create of a new file) that still
    /// succeed; negative: all do.
    creates_left: AtomicI64,
    /// File removals that fail with EIO.
    removes_failing: AtomicI64,
    /// While set, every fdatasync waits before it starts (a stuck disk),
    /// so a test can act between a write and its sync.
    syncs_held: std::sync::atomic::AtomicBool,
    /// Bytes that can still be written; negative: unlimited.
    space_left_bytes: AtomicI64,
    /// The next fdatasync made on a thread of this name meets a writeback
    /// error (one shot).
    writeback_error_on_thread: Mutex<Option<String>>,
    /// The next fdatasync of any file meets a writeback error (one shot).
    writeback_error_next: std::sync::atomic::AtomicBool,
    /// Errors on any file call, with a probability.
    random: Mutex<Option<RandomFaults>>,
}

/// EIO on any read, write, truncate or fdatasync, and ENOSPC on any
/// write, each with a probability in parts per million. Whether a call
/// fails is a hash of the seed, the file, the call and its offset (or the
/// file's size, for an fdatasync), not of how many calls came before, so
/// the engine's threads interleaving differently does not move the faults.
#[derive(Debug, Clone, Copy)]
pub struct RandomFaults {
    pub seed: u64,
    pub eio_ppm: u64,
    pub enospc_ppm: u64,
}

/// The calls a random fault can hit.
#[derive(Debug, Clone, Copy)]
enum Call {
    Read = 1,
    Write = 2,
    SetLen = 3,
    Sync = 4,
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Default for SimFaults {
    fn default() -> Self {
        SimFaults {
            sync_delay_us: AtomicU64::new(0),
            dir_syncs_failing: AtomicI64::new(0),
            creates_left: AtomicI64::new(-1),
            removes_failing: AtomicI64::new(0),
            syncs_held: std::sync::atomic::AtomicBool::new(false),
            space_left_bytes: AtomicI64::new(-1),
            writeback_error_on_thread: Mutex::new(None),
            writeback_error_next: std::sync::atomic::AtomicBool::new(false),
            random: Mutex::new(None),
        }
    }
}

impl SimFaults {
    pub fn set_sync_delay(&self, delay: Duration) {
        self.sync_delay_us.store(delay.as_micros() as u64, Ordering::SeqCst);
    }
    /// The next `n` directory fsyncs fail with EIO (after persisting the
    /// directory's entries: an error says nothing about what reached the
    /// disk).
    pub fn fail_dir_syncs(&self, n: i64) {
        self.dir_syncs_failing.store(n, Ordering::SeqCst);
    }
    /// The next `n` creations of a new file succeed, every one after
    /// fails with EIO (negative: all succeed again).
    pub fn fail_creates_after(&self, n: i64) {
        self.creates_left.store(n, Ordering::SeqCst);
    }
    /// The next `n` file removals fail with EIO.
    pub fn fail_removes(&self, n: i64) {
        self.removes_failing.store(n, Ordering::SeqCst);
    }
    /// Holds every fdatasync (file or directory) before it starts, until
    /// released.
    pub fn hold_syncs(&self, held: bool) {
        self.syncs_held.store(held, Ordering::SeqCst);
    }
    /// Only `bytes` more bytes fit (negative: unlimited).
    pub fn set_space_left(&self, bytes: i64) {
        self.space_left_bytes.store(bytes, Ordering::SeqCst);
    }
    /// The next fdatasync called on a thread named `name` meets a
    /// writeback error: the file's dirty pages are lost and the error is
    /// reported once per open file, to whichever fsync looks first.
    pub fn writeback_error_on_thread(&self, name: &str) {
        *lock(&self.writeback_error_on_thread) = Some(name.to_string());
    }

    /// The next fdatasync, of whichever file on whichever thread, meets a
    /// writeback error.
    pub fn writeback_error_on_next_sync(&self) {
        self.writeback_error_next.store(true, Ordering::SeqCst);
    }
    /// Disarms [`SimFaults::writeback_error_on_next_sync`] if no sync met it.
    pub fn no_writeback_error(&self) {
        self.writeback_error_next.store(false, Ordering::SeqCst);
    }

    /// Random EIO and ENOSPC from now on (None: no more).
    pub fn set_random(&self, faults: Option<RandomFaults>) {
        *lock(&self.random) = faults;
    }

    /// The error a random fault gives this call, if any.
    fn roll(&self, ino: u64, call: Call, at: u64) -> Option<io::Error> {
        let f = (*lock(&self.random))?;
        let h = mix(f.seed ^ mix(ino.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((call as u64) << 56) ^ at));
        if h % 1_000_000 < f.eio_ppm {
            return Some(eio());
        }
        (matches!(call, Call::Write) && (h >> 32) % 1_000_000 < f.enospc_ppm).then(enospc)
    }

    fn take_one(counter: &AtomicI64) -> bool {
        counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > 0).then(|| n - 1)).is_ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone, Default)]
struct Inode {
    /// The page cache: what reads see.
    live: Vec<u8>,
    /// What survives a power cut.
    durable: Vec<u8>,
    /// Pages of `live` written since they were last persisted.
    dirty: BTreeSet<usize>,
    /// Writeback errors so far (Linux's errseq counter).
    wb_errors: u64,
}

impl Inode {
    /// A writeback failure: dirty pages are dropped (marked clean while
    /// their new content stays in the page cache) and the error counted.
    fn lose_dirty_pages(&mut self) {
        self.dirty.clear();
        self.wb_errors += 1;
    }

    fn persist(&mut self) {
        self.durable.resize(self.live.len(), 0);
        for &page in &self.dirty {
            let start = page * PAGE_BYTES;
            let end = (start + PAGE_BYTES).min(self.live.len());
            if start < end {
                self.durable[start..end].copy_from_slice(&self.live[start..end]);
            }
        }
        self.dirty.clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

#[derive(Debug, Default, Clone)]
struct Disk {
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    /// Names as the running system sees them.
    live: BTreeMap<PathBuf, Node>,
    /// Names that survive a power cut.
    durable: BTreeMap<PathBuf, Node>,
}

struct Inner {
    root: PathBuf,
    disk: Mutex<Disk>,
    faults: Arc<SimFaults>,
}

/// The simulated disk; clones share it.
#[derive(Clone)]
pub struct SimFs {
    inner: Arc<Inner>,
}

/// A small deterministic generator (xorshift64*), so a seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl SimFs {
    /// An empty disk whose only directory is `root` (with its ancestors,
    /// durable from the start). Every path the engine uses is under it.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::from_disk(root.into(), Disk::default(), Arc::new(SimFaults::default()))
    }

    fn from_disk(root: PathBuf, disk: Disk, faults: Arc<SimFaults>) -> Self {
        SimFs { inner: Arc::new(Inner { root, disk: Mutex::new(disk), faults }) }
    }

    pub fn faults(&self) -> Arc<SimFaults> {
        self.inner.faults.clone()
    }

    /// The disk as it comes back after power is lost now: only what was
    /// made durable, plus, when `seed` is given, a seeded choice of the
    /// unsynced pages (each kept whole, torn after some sectors, or
    /// dropped) and of unsynced file sizes. Unsynced directory changes are
    /// lost. The new disk has no faults armed.
    pub fn power_cut(&self, seed: Option<u64>) -> SimFs {
        let disk = lock(&self.inner.disk);
        let mut rng = seed.map(|s| Rng(s.max(1)));
        let mut out = Disk { next_inode: disk.next_inode, ..Disk::default() };
        for (path, node) in &disk.durable {
            if !self.reachable(&disk.durable, path) {
                continue;
            }
            out.durable.insert(path.clone(), *node);
            out.live.insert(path.clone(), *node);
            let Node::File(ino) = node else { continue };
            let Some(old) = disk.inodes.get(ino) else { continue };
            let mut image = old.durable.clone();
            if let Some(rng) = rng.as_mut() {
                if old.live.len() != old.durable.len() && rng.below(2) == 0 {
                    image.resize(old.live.len(), 0);
                }
                for &page in &old.dirty {
                    let start = page * PAGE_BYTES;
                    let end = (start + PAGE_BYTES).min(old.live.len()).min(image.len());
                    if start >= end {
                        continue;
                    }
                    match rng.below(4) {
                        0 => image[start..end].copy_from_slice(&old.live[start..end]),
                        1 => {
                            // Torn: the first few sectors made it.
                            let sectors = rng.below((PAGE_BYTES / SECTOR_BYTES) as u64) as usize;
                            let cut = (start + sectors * SECTOR_BYTES).min(end);
                            image[start..cut].copy_from_slice(&old.live[start..cut]);
                        }
                        2 => {
                            // Torn the other way: the last few sectors made it.
                            let sectors = rng.below((PAGE_BYTES / SECTOR_BYTES) as u64) as usize;
                            let from = end.saturating_sub(sectors * SECTOR_BYTES).max(start);
                            image[from..end].copy_from_slice(&old.live[from..end]);
                        }
                        _ => {}
                    }
                }
            }
            out.inodes.insert(*ino, Inode { live: image.clone(), durable: image, ..Inode::default() });
        }
        SimFs::from_disk(self.inner.root.clone(), out, Arc::new(SimFaults::default()))
    }

    /// The disk as a process that starts after this one died (kill -9)
    /// finds it: the page cache and the durable image as they are now, but
    /// shared with no handle of the old process, whose later writes and
    /// syncs no longer reach it. No faults are armed.
    pub fn process_crash(&self) -> SimFs {
        let disk = lock(&self.inner.disk).clone();
        SimFs::from_disk(self.inner.root.clone(), disk, Arc::new(SimFaults::default()))
    }

    /// A writeback error on the file at `path` right now (as background
    /// writeback would meet it): its dirty pages are lost, and the next
    /// fsync through each open file reports EIO once.
    pub fn writeback_error(&self, path: &Path) -> io::Result<()> {
        let mut disk = lock(&self.inner.disk);
        let Some(Node::File(ino)) = disk.live.get(path).copied() else { return Err(not_found(path)) };
        disk.inodes.get_mut(&ino).ok_or_else(|| not_found(path))?.lose_dirty_pages();
        Ok(())
    }

    /// The durable bytes of the file at `path` (None when it would not
    /// survive a power cut).
    pub fn durable_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let disk = lock(&self.inner.disk);
        let Some(Node::File(ino)) = disk.durable.get(path) else { return None };
        disk.inodes.get(ino).map(|i| i.durable.clone())
    }

    /// The bytes of the file at `path` as reads see them.
    pub fn live_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let disk = lock(&self.inner.disk);
        let Some(Node::File(ino)) = disk.live.get(path) else { return None };
        disk.inodes.get(ino).map(|i| i.live.clone())
    }

    /// Replaces the content of the file at `path`, in the page cache and
    /// in the durable image alike (damage a test plants).
    pub fn set_bytes(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut disk = lock(&self.inner.disk);
        let Some(Node::File(ino)) = disk.live.get(path).copied() else { return Err(not_found(path)) };
        let inode = disk.inodes.get_mut(&ino).ok_or_else(|| not_found(path))?;
        inode.live = bytes.to_vec();
        inode.durable = bytes.to_vec();
        inode.dirty.clear();
        Ok(())
    }

    /// Every live path, sorted (for tests that look around).
    pub fn paths(&self) -> Vec<PathBuf> {
        lock(&self.inner.disk).live.keys().cloned().collect()
    }

    /// True for `root` and its ancestors, which exist from the start.
    fn is_root(&self, path: &Path) -> bool {
        self.inner.root.starts_with(path)
    }

    fn reachable(&self, names: &BTreeMap<PathBuf, Node>, path: &Path) -> bool {
        let mut at = path.parent();
        while let Some(dir) = at {
            if self.is_root(dir) {
                return true;
            }
            if names.get(dir) != Some(&Node::Dir) {
                return false;
            }
            at = dir.parent();
        }
        false
    }

    fn is_dir(&self, disk: &Disk, path: &Path) -> bool {
        self.is_root(path) || disk.live.get(path) == Some(&Node::Dir)
    }

    fn delay_sync(&self) {
        while self.inner.faults.syncs_held.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let us = self.inner.faults.sync_delay_us.load(Ordering::SeqCst);
        if us > 0 {
            std::thread::sleep(Duration::from_micros(us));
        }
    }
}

struct SimFile {
    fs: SimFs,
    ino: u64,
    /// The writeback errors this open file has seen (errseq sample).
    seen: AtomicU64,
}

impl SimFile {
    fn with_inode<T>(&self, f: impl FnOnce(&mut Inode) -> io::Result<T>) -> io::Result<T> {
        let mut disk = lock(&self.fs.inner.disk);
        let inode = disk.inodes.get_mut(&self.ino).ok_or_else(eio)?;
        f(inode)
    }
}

impl FileHandle for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if let Some(e) = self.fs.inner.faults.roll(self.ino, Call::Read, offset) {
            return Err(e);
        }
        self.with_inode(|inode| {
            let start = (offset as usize).min(inode.live.len());
            let n = buf.len().min(inode.live.len() - start);
            buf[..n].copy_from_slice(&inode.live[start..start + n]);
            Ok(n)
        })
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let faults = &self.fs.inner.faults;
        if let Some(e) = faults.roll(self.ino, Call::Write, offset) {
            return Err(e);
        }
        let fits = super::take_space(&faults.space_left_bytes, buf.len());
        let full = fits < buf.len();
        self.with_inode(|inode| {
            let start = offset as usize;
            let end = start + fits;
            if inode.live.len() < end {
                inode.live.resize(end, 0);
            }
            inode.live[start..end].copy_from_slice(&buf[..fits]);
            if fits > 0 {
                inode.dirty.extend(start / PAGE_BYTES..=(end - 1) / PAGE_BYTES);
            }
            Ok(())
        })?;
        if full {
            return Err(enospc());
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let size = self.with_inode(|inode| Ok(inode.live.len() as u64))?;
        let random = self.fs.inner.faults.roll(self.ino, Call::Sync, size).is_some();
        let fail_now = random || {
            let mut armed = lock(&self.fs.inner.faults.writeback_error_on_thread);
            let here = std::thread::current().name().map(str::to_string);
            let hit = armed.is_some() && *armed == here;
            if hit {
                *armed = None;
            }
            hit || self.fs.inner.faults.writeback_error_next.swap(false, Ordering::SeqCst)
        };
        if fail_now {
            // The writeback this fsync starts fails half-way through, and
            // this fsync reports it then: an fsync already under way on the
            // same file, which looks later, sees no error.
            let us = self.fs.inner.faults.sync_delay_us.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(us / 2));
            return self.with_inode(|inode| {
                inode.lose_dirty_pages();
                self.seen.store(inode.wb_errors, Ordering::SeqCst);
                Err(eio())
            });
        }
        self.fs.delay_sync();
        self.with_inode(|inode| {
            let seen = self.seen.load(Ordering::SeqCst);
            if inode.wb_errors > seen {
                self.seen.store(inode.wb_errors, Ordering::SeqCst);
                return Err(eio());
            }
            inode.persist();
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if let Some(e) = self.fs.inner.faults.roll(self.ino, Call::SetLen, len) {
            return Err(e);
        }
        self.with_inode(|inode| {
            let len = len as usize;
            let old = inode.live.len();
            inode.live.resize(len, 0);
            let last_page = len.div_ceil(PAGE_BYTES);
            inode.dirty.retain(|p| *p < last_page);
            if !len.is_multiple_of(PAGE_BYTES) && len < old {
                inode.dirty.insert(len / PAGE_BYTES);
            }
            if len > old {
                inode.dirty.extend(old / PAGE_BYTES..last_page);
            }
            Ok(())
        })
    }

    fn size(&self) -> io::Result<u64> {
        self.with_inode(|inode| Ok(inode.live.len() as u64))
    }
}

impl Fs for SimFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut disk = lock(&self.inner.disk);
        if self.is_dir(&disk, path) {
            return Ok(());
        }
        let parent = path.parent().ok_or_else(|| not_found(path))?;
        if !self.is_dir(&disk, parent) {
            return Err(not_found(parent));
        }
        disk.live.insert(path.to_path_buf(), Node::Dir);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        self.is_root(path) || lock(&self.inner.disk).live.contains_key(path)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn FileHandle>> {
        let mut disk = lock(&self.inner.disk);
        let ino = match disk.live.get(path).copied() {
            Some(Node::File(ino)) => ino,
            Some(Node::Dir) => return Err(io::Error::other(format!("{} is a directory", path.display()))),
            None if create => {
                let parent = path.parent().ok_or_else(|| not_found(path))?;
                if !self.is_dir(&disk, parent) {
                    return Err(not_found(parent));
                }
                let left = &self.inner.faults.creates_left;
                if left.load(Ordering::SeqCst) == 0 {
                    return Err(eio());
                }
                SimFaults::take_one(left);
                disk.next_inode += 1;
                let ino = disk.next_inode;
                disk.inodes.insert(ino, Inode::default());
                disk.live.insert(path.to_path_buf(), Node::File(ino));
                ino
            }
            None => return Err(not_found(path)),
        };
        let seen = disk.inodes.get(&ino).map_or(0, |i| i.wb_errors);
        Ok(Arc::new(SimFile { fs: self.clone(), ino, seen: AtomicU64::new(seen) }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let disk = lock(&self.inner.disk);
        if !self.is_dir(&disk, dir) {
            return Err(not_found(dir));
        }
        Ok(disk.live.keys().filter(|p| p.parent() == Some(dir)).cloned().collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut disk = lock(&self.inner.disk);
        let node = disk.live.remove(from).ok_or_else(|| not_found(from))?;
        disk.live.insert(to.to_path_buf(), node);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        if SimFaults::take_one(&self.inner.faults.removes_failing) {
            return Err(eio());
        }
        let mut disk = lock(&self.inner.disk);
        match disk.live.get(path) {
            Some(Node::File(_)) => {
                disk.live.remove(path);
                Ok(())
            }
            _ => Err(not_found(path)),
        }
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.delay_sync();
        let mut disk = lock(&self.inner.disk);
        if !self.is_dir(&disk, dir) {
            return Err(not_found(dir));
        }
        let in_dir = |p: &Path| p.parent() == Some(dir);
        disk.durable.retain(|p, _| !in_dir(p));
        let entries: Vec<(PathBuf, Node)> =
            disk.live.iter().filter(|(p, _)| in_dir(p)).map(|(p, n)| (p.clone(), *n)).collect();
        disk.durable.extend(entries);
        if SimFaults::take_one(&self.inner.faults.dir_syncs_failing) {
            return Err(eio());
        }
        Ok(())
    }

    fn available_bytes(&self, _path: &Path) -> io::Result<u64> {
        let left = self.inner.faults.space_left_bytes.load(Ordering::SeqCst);
        Ok(if left >= 0 { left as u64 } else { u64::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(fs: &SimFs, path: &Path, bytes: &[u8], offset: u64) -> Arc<dyn FileHandle> {
        let f = fs.open(path, true).unwrap();
        f.write_all_at(bytes, offset).unwrap();
        f
    }

    #[test]
    fn a_power_cut_keeps_only_what_was_synced() {
        let root = Path::new("/sim");
        let fs = SimFs::new(root);
        fs.create_dir_durable(&root.join("d")).unwrap();
        let path = root.join("d/f");
        let f = write(&fs, &path, b"synced", 0);
        f.sync_data().unwrap();
        // Not durable yet: the directory entry is not synced.
        assert!(fs.power_cut(None).live_bytes(&path).is_none());
        fs.sync_dir(&root.join("d")).unwrap();
        f.write_all_at(b"-and-not", 6).unwrap();
        assert_eq!(fs.live_bytes(&path).unwrap(), b"synced-and-not");
        assert_eq!(fs.power_cut(None).live_bytes(&path).unwrap(), b"synced");
        f.sync_data().unwrap();
        assert_eq!(fs.power_cut(None).live_bytes(&path).unwrap(), b"synced-and-not");
        // A rename is durable only once the directory is synced.
        fs.rename(&path, &root.join("d/g")).unwrap();
        assert!(fs.power_cut(None).live_bytes(&root.join("d/g")).is_none());
        fs.sync_dir(&root.join("d")).unwrap();
        assert!(fs.power_cut(None).live_bytes(&root.join("d/g")).is_some());
        assert!(fs.power_cut(None).live_bytes(&path).is_none());
    }

    #[test]
    fn a_writeback_error_is_reported_once_per_open_file_and_the_pages_are_gone() {
        let root = Path::new("/sim");
        let fs = SimFs::new(root);
        let path = root.join("f");
        let a = write(&fs, &path, &[1; 100], 0);
        a.sync_data().unwrap();
        fs.sync_dir(root).unwrap();
        let b = fs.open(&path, false).unwrap();
        a.write_all_at(&[2; 100], 100).unwrap();
        fs.writeback_error(&path).unwrap();
        assert!(b.sync_data().is_err(), "the first fsync to look sees the error");
        assert!(b.sync_data().is_ok(), "and only once");
        assert!(a.sync_data().is_err(), "every file open at the time sees it once");
        assert!(a.sync_data().is_ok());
        // The page cache still holds the bytes; the durable image does not.
        assert_eq!(fs.live_bytes(&path).unwrap().len(), 200);
        let after = fs.power_cut(None).live_bytes(&path).unwrap();
        assert!(after.len() == 200 && after[100..].iter().all(|b| *b == 0), "the lost page never reached the disk");
        // A file opened after the error does not see it.
        let c = fs.open(&path, false).unwrap();
        assert!(c.sync_data().is_ok());
    }

    #[test]
    fn seeded_power_cuts_tear_unsynced_pages_differently() {
        let root = Path::new("/sim");
        let fs = SimFs::new(root);
        let path = root.join("f");
        let f = write(&fs, &path, &[0; 4 * PAGE_BYTES], 0);
        f.sync_data().unwrap();
        fs.sync_dir(root).unwrap();
        f.write_all_at(&[7; 4 * PAGE_BYTES], 0).unwrap();
        let images: BTreeSet<Vec<u8>> =
            (1..40).map(|seed| fs.power_cut(Some(seed)).live_bytes(&path).unwrap()).collect();
        assert!(images.len() > 5, "seeds give different images");
        assert!(images.iter().any(|i| i.iter().all(|b| *b == 0)) || images.len() > 1);
        let same = |seed| fs.power_cut(Some(seed)).live_bytes(&path).unwrap();
        assert_eq!(same(17), same(17), "a seed replays");
    }
}
