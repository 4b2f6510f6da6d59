//! Where a registry keeps its projections: each one's definition (every
//! version) and each version's checkpoint. The embedded store keeps them
//! in files beside its log; a shared database can keep them in tables, so
//! that servers sharing a log share its projections too.
//!
//! ```text
//! <dir>/<name>/definition.json        the current definition and every version
//! <dir>/<name>/v<N>/checkpoint.json   version N's states and position
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checkpoint::{DirSlot, Slot};
use crate::registry::RegistryError;

/// Definitions and checkpoints, by projection name and version.
pub trait Keeping: Send + Sync {
    /// Every definition kept: where it is (for messages) and its JSON.
    fn definitions(&self) -> Result<Vec<(String, Vec<u8>)>, RegistryError>;
    /// Replaces a projection's definition atomically.
    fn save_definition(&self, name: &str, body: &[u8]) -> Result<(), RegistryError>;
    /// Forgets a projection: its definition and every checkpoint.
    fn remove(&self, name: &str) -> Result<(), RegistryError>;
    /// Where version `version`'s checkpoint lives.
    fn slot(&self, name: &str, version: u64) -> Box<dyn Slot>;
    /// Drops version `version`'s checkpoint (it folds from the start next).
    fn remove_slot(&self, name: &str, version: u64) -> Result<(), RegistryError>;

    /// Whether other servers share what is kept here (then each follows
    /// the others' changes, and one leads each projection).
    fn shared(&self) -> bool {
        false
    }

    /// Becomes the projection's leader if no other server is: true when
    /// this server leads it (writes its checkpoints, publishes its
    /// output). Kept alone, a registry always leads.
    fn lead(&self, _name: &str) -> bool {
        true
    }

    /// Whether this server still leads the projection (a lost connection
    /// to a shared database loses its leaderships).
    fn leads(&self, _name: &str) -> bool {
        true
    }
}

impl std::fmt::Debug for dyn Keeping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.shared() { "Keeping (shared)" } else { "Keeping" })
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RegistryError {
    let context = context.into();
    move |source| RegistryError::Io { context, source }
}

/// Files in a directory (see the module's doc).
pub struct DirKeeping {
    dir: PathBuf,
}

impl DirKeeping {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        Ok(DirKeeping { dir })
    }

    fn version_dir(&self, name: &str, version: u64) -> PathBuf {
        self.dir.join(name).join(format!("v{version}"))
    }
}

impl Keeping for DirKeeping {
    fn definitions(&self) -> Result<Vec<(String, Vec<u8>)>, RegistryError> {
        let entries = std::fs::read_dir(&self.dir).map_err(io(format!("listing {}", self.dir.display())))?;
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join("definition.json");
            if let Ok(body) = std::fs::read(&path) {
                found.push((path.display().to_string(), body));
            }
        }
        Ok(found)
    }

    fn save_definition(&self, name: &str, body: &[u8]) -> Result<(), RegistryError> {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        write_atomically(&dir, "definition.json", body)
            .map_err(io(format!("writing {}/definition.json", dir.display())))
    }

    fn remove(&self, name: &str) -> Result<(), RegistryError> {
        let dir = self.dir.join(name);
        std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))
    }

    fn slot(&self, name: &str, version: u64) -> Box<dyn Slot> {
        Box::new(DirSlot(self.version_dir(name, version)))
    }

    fn remove_slot(&self, name: &str, version: u64) -> Result<(), RegistryError> {
        let dir = self.version_dir(name, version);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(format!("removing {}", dir.display()))(e)),
            _ => Ok(()),
        }
    }
}

/// Writes `name` in `dir` through a temporary file, fdatasynced, renamed
/// over the old one, the directory synced.
fn write_atomically(dir: &Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(body)?;
    file.sync_data()?;
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}
