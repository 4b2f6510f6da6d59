//! JSON output of append results and errors, in the server's own shapes
//! (from `hindsight-wire`), so the CLI and the API print the same bytes.

use hindsight_store::{AppendResult, StoreError};
use hindsight_wire::{AppendResponse, WireError};
use serde_json::{json, Value};

pub fn result_json(stream: &str, r: &AppendResult) -> Value {
    serde_json::to_value(AppendResponse::new(stream, r)).unwrap_or(Value::Null)
}

/// `{"error": code, "message": text, ...details}`, details and all.
pub fn error_json(err: &StoreError) -> Value {
    WireError::from_store(err).body()
}

pub fn plain_error(code: &str, message: impl Into<String>) -> Value {
    json!({ "error": code, "message": message.into() })
}
