//! Hindsight's wire format, written once: the request and response bodies
//! of the HTTP API (with their OpenAPI schemas behind the `openapi`
//! feature), the event JSON writer, error bodies, and timestamps as text.
//! The server, the CLI and the Rust client all speak through this crate,
//! so what one prints the others print byte for byte.

mod error;
mod event;
mod types;

pub use error::WireError;
pub use event::{event_json, json_str, write_event};
pub use hindsight_store::timestamp::{parse_rfc3339, rfc3339};
pub use types::*;
