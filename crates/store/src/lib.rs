//! Hindsight's storage contract: the event types, the [`EventStore`] trait
//! every backend implements, the limits every backend enforces, an
//! in-memory reference model, and the conformance suite every backend runs.
//!
//! Nothing here knows about files, SQL or HTTP: this crate is the seam
//! between everything above the storage layer and every backend below it.

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
