//! Errors of opening (and verifying) an embedded store.

use std::path::PathBuf;

/// Why a store could not be opened (or verified).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("data directory {} is already in use by {} (one process at a time: while a server runs on it, use its HTTP API, e.g. `curl localhost:7113/v1/all`, or stop it first)", dir.display(), pid.map_or_else(|| "another process".to_string(), |p| format!("pid {p}")))]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error("the log is corrupt in {segment} at byte {offset}{}: {detail}", position.map_or_else(String::new, |p| format!(" (position {p})")))]
    Corrupt { segment: String, offset: u64, position: Option<u64>, detail: String },
    /// The OS error is part of the message, not a separate source, so
    /// that a report of the chain does not print it twice.
    #[error("{context}: {cause}")]
    Io { context: String, cause: std::io::Error },
    #[error("invalid configuration: {0}")]
    Config(String),
}
