//! Hindsight's storage contract: the event types, the [`EventReader`] and
//! [`EventStore`] traits every backend implements, the limits every backend enforces, an
//! in-memory reference model, and the conformance suite every backend runs.
//!
//! Nothing here knows about files, SQL or HTTP: this crate is the seam
//! between everything above the storage layer and every backend below it.

// Operating errors are handled, never unwrapped (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

// A test suite, shipped in the library so every backend can run it.
mod as_of;
#[allow(clippy::unwrap_used)]
pub mod conformance;
mod error;
mod event;
mod expected;
mod filter;
pub mod limits;
mod memory;
#[allow(clippy::unwrap_used)]
pub mod model_check;
mod reader;
mod store;
pub mod subscription;
pub mod timestamp;
mod validate;

pub use as_of::{end_position, AsOf};
pub use error::{InvalidInput, StoreError, VersionConflict};
pub use event::{category_of, JsonText, MalformedJson, NewEvent, RecordedEvent};
pub use expected::{check_expectations, ExpectedVersion};
pub use filter::Filter;
pub use limits::Limits;
pub use memory::MemoryStore;
pub use reader::{AllSlice, Direction, EventReader, ReadAll, ReadStream, StreamInfo};
pub use store::{AppendPart, AppendResult, EventStore, Histogram, StoreStatus};
pub use validate::{
    check_resource_name, check_retry, validate_append, validate_name, NameKind, ValidatedEvent, ValidatedPart,
};
