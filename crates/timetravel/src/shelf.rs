//! Where forks are kept: one JSON document per fork, by name. The
//! embedded store keeps them as files in the forks directory; a shared
//! database keeps them in a table, so servers on it share their forks.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::service::HistoryError;

pub trait Shelf: Send + Sync {
    /// Every document kept: its name and its bytes.
    fn list(&self) -> Result<Vec<(String, Vec<u8>)>, HistoryError>;
    fn contains(&self, name: &str) -> Result<bool, HistoryError>;
    /// Replaces a document atomically.
    fn put(&self, name: &str, body: &[u8]) -> Result<(), HistoryError>;
    fn remove(&self, name: &str) -> Result<(), HistoryError>;
    /// Whether other servers share it (then each follows their changes).
    fn shared(&self) -> bool {
        false
    }
}

impl std::fmt::Debug for dyn Shelf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.shared() { "Shelf (shared)" } else { "Shelf" })
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> HistoryError {
    move |e| HistoryError::Failed(format!("{context}: {e}"))
}

/// `<name>.json` files in a directory, each replaced atomically
/// (temporary file, fdatasync, rename, directory fsync).
pub struct DirShelf {
    dir: PathBuf,
}

impl DirShelf {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, HistoryError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        Ok(DirShelf { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }
}

impl Shelf for DirShelf {
    fn list(&self) -> Result<Vec<(String, Vec<u8>)>, HistoryError> {
        let entries = std::fs::read_dir(&self.dir).map_err(io(format!("listing {}", self.dir.display())))?;
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            let body = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
            found.push((name.to_string(), body));
        }
        Ok(found)
    }

    fn contains(&self, name: &str) -> Result<bool, HistoryError> {
        Ok(self.path(name).exists())
    }

    fn put(&self, name: &str, body: &[u8]) -> Result<(), HistoryError> {
        let path = self.path(name);
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        file.write_all(body).map_err(io(format!("writing {}", tmp.display())))?;
        file.sync_data().map_err(io(format!("syncing {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io(format!("renaming {}", tmp.display())))?;
        sync_dir(&self.dir)
    }

    fn remove(&self, name: &str) -> Result<(), HistoryError> {
        let path = self.path(name);
        std::fs::remove_file(&path).map_err(io(format!("removing {}", path.display())))?;
        sync_dir(&self.dir)
    }
}

fn sync_dir(dir: &Path) -> Result<(), HistoryError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(format!("syncing {}", dir.display())))
}
