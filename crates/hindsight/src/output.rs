//! JSON output of events, results and errors.

use std::time::{Duration, UNIX_EPOCH};

use hindsight_store::{AppendResult, ExpectedVersion, InvalidInput, RecordedEvent, StoreError};
use serde_json::{json, Value};

pub fn rfc3339(timestamp_us: u64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(timestamp_us)).to_string()
}

/// One event as a JSON line; data and metadata are emitted as stored,
/// without re-parsing.
pub fn event_line(e: &RecordedEvent) -> String {
    let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
    let tags = serde_json::to_string(&e.tags).unwrap_or_else(|_| "[]".into());
    format!(
        "{{\"id\":\"{}\",\"stream\":{},\"type\":{},\"version\":{},\"position\":{},\"timestamp\":\"{}\",\"data\":{},\"metadata\":{},\"tags\":{}}}",
        e.id,
        s(&e.stream),
        s(&e.event_type),
        e.version,
        e.position,
        rfc3339(e.timestamp_us),
        e.data,
        e.metadata,
        tags
    )
}

pub fn result_json(stream: &str, r: &AppendResult) -> Value {
    json!({
        "stream": stream,
        "first_position": r.first_position,
        "last_position": r.last_position,
        "next_expected_version": r.next_expected_version,
    })
}

fn expected_json(e: ExpectedVersion) -> Value {
    match e {
        ExpectedVersion::Exact(v) => json!(v),
        other => json!(other.to_string()),
    }
}

/// `{"error": code, "message": text, ...details}`.
pub fn error_json(err: &StoreError) -> Value {
    let mut v = json!({ "error": err.code(), "message": err.to_string() });
    let details = match err {
        StoreError::WrongExpectedVersion(conflicts) => json!({
            "conflicts": conflicts.iter().map(|c| json!({
                "part": c.part,
                "stream": c.stream,
                "expected": expected_json(c.expected),
                "actual": c.actual,
            })).collect::<Vec<_>>()
        }),
        StoreError::IdConflict { id, stream, version, position } => {
            json!({ "id": id.to_string(), "stream": stream, "version": version, "position": position })
        }
        StoreError::Invalid(
            InvalidInput::EventTooLarge { size_bytes, max, .. } | InvalidInput::AppendTooLarge { size_bytes, max },
        ) => json!({ "size_bytes": size_bytes, "max": max }),
        StoreError::Invalid(InvalidInput::TooManyEvents { n_events, max }) => {
            json!({ "n_events": n_events, "max": max })
        }
        _ => json!({}),
    };
    if let (Some(obj), Value::Object(d)) = (v.as_object_mut(), details) {
        obj.extend(d);
    }
    v
}

pub fn plain_error(code: &str, message: impl Into<String>) -> Value {
    json!({ "error": code, "message": message.into() })
}
