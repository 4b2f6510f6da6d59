//! Hindsight's storage contract: the event types, the [`EventStore`] trait
//! every backend implements, the limits every backend enforces, an
//! in-memory reference model, and the conformance suite every backend runs.
//!
//! Nothing here knows about files, SQL or HTTP: this crate is the seam
//! between everything above the storage layer and every backend below it.

// Operating errors are handled, never unwrapped (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

// A test suite, shipped in the library so every backend can run it.
#[allow(clippy::unwrap_used)]
pub mod conformance;
mod error;
mod event;
mod expected;
mod filter;
pub mod limits;
mod memory;
mod store;
pub mod subscription;
mod validate;

pub use error::{InvalidInput, StoreError, VersionConflict};
pub use event::{category_of, JsonText, MalformedJson, NewEvent, RecordedEvent};
pub use expected::ExpectedVersion;
pub use filter::Filter;
pub use limits::Limits;
pub use memory::MemoryStore;
pub use store::{AllSlice, AppendPart, AppendResult, Direction, EventStore, Histogram, StoreStatus, StreamInfo};
pub use validate::{check_retry, validate_append, validate_name, NameKind, ValidatedEvent, ValidatedPart};
