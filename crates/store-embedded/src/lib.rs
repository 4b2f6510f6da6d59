//! Hindsight's embedded storage engine, the default backend.
//!
//! The log under `DATA_DIR/log/` is the truth: segment files of
//! checksummed frames grouped into hash-chained commits, written by one
//! group-committing writer and fdatasynced before any append is
//! acknowledged. Everything under `DATA_DIR/index/` is derived from it and
//! can be deleted. `docs/format.md` describes the bytes.

// Operating errors are handled, never unwrapped (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
mod engine;
mod error;
pub mod fs;
pub mod index;
mod lock;
pub mod repair;
pub mod segment;
pub mod verify;

pub use config::{Clock, Config, SystemClock};
pub use engine::{EmbeddedStore, Recovery, StoreStats};
pub use error::OpenError;
