//! A projection's checkpoint: every partition's state and the position it
//! reflects, written as one file, atomically (a temporary file,
//! fdatasynced, renamed over the old one, the directory fsynced), so what
//! a restart loads is always a state and the exact position it belongs to.
//!
//! ```text
//! checkpoint.json: one line of JSON (the Saved value), then one line with
//! the CRC32C of that first line as 8 hex digits
//! ```
//! A checkpoint that does not check out is reported; the projection is
//! derived from the log, so the runner rebuilds it from the start.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::runner::{Parked, Status};

pub const FILE_NAME: &str = "checkpoint.json";

/// What a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// The last position of `$all` taken into account (events the
    /// projection does not select included); None before the first.
    pub position: Option<u64>,
    /// Every partition's state: a JSON object written by the fold.
    pub states: Box<RawValue>,
    pub parked: Vec<Parked>,
    pub status: Status,
    /// Output a rebuilding version holds for the live version it will
    /// replace (see `outbox`): kept with the states it came from, so a
    /// restart during a rebuild neither loses it nor folds it again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_output: Vec<crate::Emitted>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("checkpoint {path} is damaged: {detail}")]
    Damaged { path: String, detail: String },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CheckpointError {
    let context = context.into();
    move |source| CheckpointError::Io { context, source }
}

/// Where one runner's checkpoint lives: a directory beside the embedded
/// store, a row in PostgreSQL, or nowhere (a scratch fold). Storing
/// replaces the whole checkpoint at once: states, position, parked events
/// and status go together or not at all.
pub trait Slot: Send + Sync {
    fn load(&self) -> Result<Option<Saved>, CheckpointError>;
    fn store(&self, saved: &Saved) -> Result<(), CheckpointError>;
}

/// `checkpoint.json` in a directory.
pub struct DirSlot(pub std::path::PathBuf);

impl Slot for DirSlot {
    fn load(&self) -> Result<Option<Saved>, CheckpointError> {
        load(&self.0)
    }

    fn store(&self, saved: &Saved) -> Result<(), CheckpointError> {
        store(&self.0, saved)
    }
}

/// No checkpoint: starts from nothing, keeps nothing.
pub struct Nowhere;

impl Slot for Nowhere {
    fn load(&self) -> Result<Option<Saved>, CheckpointError> {
        Ok(None)
    }

    fn store(&self, _: &Saved) -> Result<(), CheckpointError> {
        Ok(())
    }
}

/// Another's checkpoint, read but never written: a server that follows a
/// projection another server leads starts from the leader's checkpoint
/// and keeps its own fold in memory only.
pub struct ReadOnly(pub Box<dyn Slot>);

impl Slot for ReadOnly {
    fn load(&self) -> Result<Option<Saved>, CheckpointError> {
        self.0.load()
    }

    fn store(&self, _: &Saved) -> Result<(), CheckpointError> {
        Ok(())
    }
}

/// Replaces the checkpoint in `dir` atomically.
pub fn store(dir: &Path, saved: &Saved) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let body = serde_json::to_string(saved).map_err(|e| CheckpointError::Io {
        context: "encoding the checkpoint".into(),
        source: std::io::Error::other(e),
    })?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
    writeln!(file, "{body}\n{:08x}", crc32c_of(body.as_bytes())).map_err(io(format!("writing {}", tmp.display())))?;
    file.sync_data().map_err(io(format!("syncing {}", tmp.display())))?;
    std::fs::rename(&tmp, dir.join(FILE_NAME)).map_err(io(format!("renaming {}", tmp.display())))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(format!("syncing {}", dir.display())))
}

/// The checkpoint in `dir`; None when there is none yet.
pub fn load(dir: &Path) -> Result<Option<Saved>, CheckpointError> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    };
    let damaged = |detail: String| CheckpointError::Damaged { path: path.display().to_string(), detail };
    let mut lines = text.lines();
    let (Some(body), Some(crc)) = (lines.next(), lines.next()) else {
        return Err(damaged("cut short".into()));
    };
    if format!("{:08x}", crc32c_of(body.as_bytes())) != crc {
        return Err(damaged("checksum mismatch".into()));
    }
    serde_json::from_str(body).map(Some).map_err(|e| damaged(e.to_string()))
}

fn crc32c_of(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let states = RawValue::from_string(r#"{"a":3,"b":{"x":[5]}}"#.into()).unwrap();
        let saved =
            Saved { position: Some(41), states, parked: Vec::new(), status: Status::Running, held_output: Vec::new() };
        store(dir.path(), &saved).unwrap();
        let loaded = load(dir.path()).unwrap().unwrap();
        assert_eq!((loaded.position, loaded.states.get()), (Some(41), saved.states.get()));
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(load(dir.path()), Err(CheckpointError::Damaged { .. })));
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c_of(b"123456789"), 0xe306_9283);
    }
}
