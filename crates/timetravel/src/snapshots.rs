//! Snapshots: points in the log a user pinned and named, so a question
//! can say `as_of=snapshot:ID` instead of a position. A snapshot records
//! the position it resolved to when it was made (a `time:` point reads the
//! same forever once it is in the past), and what it was taken of. They
//! are user data, not derived: kept in one JSON file, replaced atomically
//! (temporary file, fdatasync, rename, directory fsync).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::service::HistoryError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The last position the point covers.
    pub position: u64,
    /// The point as it was given (`time:...`, `version:3`, ...).
    pub as_of: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

pub struct Snapshots {
    path: PathBuf,
    list: Mutex<Vec<Snapshot>>,
}

/// Snapshots kept at most (each is a few hundred bytes).
pub const SNAPSHOTS_MAX: usize = 100_000;

fn io(context: String) -> impl FnOnce(std::io::Error) -> HistoryError {
    move |e| HistoryError::Failed(format!("{context}: {e}"))
}

impl Snapshots {
    /// The snapshots kept in `path` (none when it does not exist yet).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, HistoryError> {
        let path = path.into();
        let list = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| HistoryError::Failed(format!("{} is damaged: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        Ok(Snapshots { path, list: Mutex::new(list) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Snapshot>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `snapshot` under a new id; returns it as kept.
    pub fn create(&self, mut snapshot: Snapshot) -> Result<Snapshot, HistoryError> {
        let mut list = self.lock();
        if list.len() >= SNAPSHOTS_MAX {
            return Err(HistoryError::Invalid(format!("at most {SNAPSHOTS_MAX} snapshots are kept: delete some")));
        }
        snapshot.id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        list.push(snapshot.clone());
        if let Err(e) = save(&self.path, &list) {
            list.pop();
            return Err(e);
        }
        Ok(snapshot)
    }

    pub fn list(&self) -> Vec<Snapshot> {
        self.lock().clone()
    }

    pub fn get(&self, id: &str) -> Option<Snapshot> {
        self.lock().iter().find(|s| s.id == id).cloned()
    }

    /// Deletes a snapshot; false when there is none by that id.
    pub fn delete(&self, id: &str) -> Result<bool, HistoryError> {
        let mut list = self.lock();
        let Some(at) = list.iter().position(|s| s.id == id) else { return Ok(false) };
        let gone = list.remove(at);
        if let Err(e) = save(&self.path, &list) {
            list.insert(at, gone);
            return Err(e);
        }
        Ok(true)
    }

    /// A point with `snapshot:ID` replaced by the position it pinned;
    /// any other point as it is.
    pub fn resolve(&self, point: &str) -> Result<String, HistoryError> {
        let Some(id) = point.strip_prefix("snapshot:") else { return Ok(point.to_string()) };
        match self.get(id) {
            Some(s) => Ok(format!("position:{}", s.position)),
            None => Err(HistoryError::NotFound { kind: "snapshot", name: id.to_string() }),
        }
    }
}

fn save(path: &Path, list: &[Snapshot]) -> Result<(), HistoryError> {
    let body = serde_json::to_vec_pretty(list).map_err(|e| HistoryError::Failed(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    file.write_all(&body).map_err(io(format!("writing {}", tmp.display())))?;
    file.sync_data().map_err(io(format!("syncing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("renaming {}", tmp.display())))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(format!("syncing {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_survive_a_reopen_and_resolve_to_their_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshots.json");
        let snaps = Snapshots::open(&path).unwrap();
        let s = snaps
            .create(Snapshot {
                id: String::new(),
                name: Some("before the incident".into()),
                position: 41,
                as_of: "time:2026-11-26T14:02:00Z".into(),
                created_at: "2026-11-26T15:00:00Z".into(),
                stream: Some("order-1".into()),
                projection: None,
                partition: None,
            })
            .unwrap();
        assert_eq!(snaps.resolve(&format!("snapshot:{}", s.id)).unwrap(), "position:41");
        assert_eq!(snaps.resolve("version:3").unwrap(), "version:3");
        assert!(matches!(snaps.resolve("snapshot:nope"), Err(HistoryError::NotFound { .. })));
        let again = Snapshots::open(&path).unwrap();
        assert_eq!(again.list(), vec![s.clone()]);
        assert!(again.delete(&s.id).unwrap());
        assert!(!again.delete(&s.id).unwrap());
        assert!(Snapshots::open(&path).unwrap().list().is_empty());
    }
}
