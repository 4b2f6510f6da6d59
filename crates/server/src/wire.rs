//! Request and response bodies as they travel, with their OpenAPI schemas.
//! Events are written out by hand (`write_event`) so stored JSON goes to
//! the client as it is, without being parsed and serialized again.

use std::fmt::Write;

use hindsight_store::{AppendPart, AppendResult, ExpectedVersion, JsonText, NewEvent, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

/// `"any"`, `"no_stream"`, `"exists"`, or a version number (as a number or
/// a string); absent means `"any"`. (The schema; requests are read as JSON
/// values and checked by `ExpectedVersion::from_json`, so that `null` and
/// negative numbers get a clear refusal.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ExpectedVersionIn {
    Version(u64),
    Keyword(String),
}

/// Keeps an explicit `null` (serde would make it None, i.e. absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

pub fn parse_expected(v: Option<&serde_json::Value>) -> Result<ExpectedVersion, ApiError> {
    ExpectedVersion::from_json(v).map_err(|m| ApiError::bad_request("invalid_expected_version", m))
}

/// An event to append.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Makes the append idempotent: a retry with the same ids returns the
    /// original result.
    pub id: Option<Uuid>,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON value.
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
    /// A JSON object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ExpectedVersionIn, required = false)]
    pub expected_version: Option<serde_json::Value>,
    pub events: Vec<EventIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendPartIn {
    pub stream: String,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = ExpectedVersionIn, required = false)]
    pub expected_version: Option<serde_json::Value>,
    pub events: Vec<EventIn>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MultiAppendRequest {
    pub appends: Vec<AppendPartIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppendResponse {
    pub stream: String,
    pub first_position: u64,
    pub last_position: u64,
    /// The version of the last event written; send it as
    /// `expected_version` to append after it.
    pub next_expected_version: u64,
}

impl AppendResponse {
    pub fn new(stream: &str, r: &AppendResult) -> Self {
        AppendResponse {
            stream: stream.to_string(),
            first_position: r.first_position,
            last_position: r.last_position,
            next_expected_version: r.next_expected_version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MultiAppendResponse {
    pub results: Vec<AppendResponse>,
}

/// A stored event (the schema of what `write_event` writes).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: Uuid,
    pub stream: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u64,
    pub position: u64,
    /// RFC 3339, UTC, microseconds.
    pub timestamp: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadStreamResponse {
    pub stream: String,
    pub events: Vec<EventOut>,
    /// The `from` of the next page in the same direction; null at the end.
    pub next: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAllResponse {
    pub events: Vec<EventOut>,
    /// The `from` of the next page.
    pub next_position: u64,
    pub end_of_log: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamInfoResponse {
    pub stream: String,
    pub last_version: u64,
    pub first_position: u64,
    pub last_position: u64,
    pub events: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PositionResponse {
    pub at: String,
    /// The first position at or after `at`; null when every event is older.
    pub position: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InfoResponse {
    pub store: String,
    pub events: u64,
    pub streams: u64,
    pub last_position: Option<u64>,
    pub writable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    pub status: String,
}

/// Every error: a code, a human message, and details by code.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadStreamQuery {
    /// First version to read (default: the first, or the last going backwards).
    pub from: Option<u64>,
    /// `forwards` (default) or `backwards`.
    pub direction: Option<String>,
    /// Events per page (default 100, at most 10,000).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReadAllQuery {
    /// First position to read (default 0).
    pub from: Option<u64>,
    /// Events per page (default 100, at most 10,000).
    pub limit: Option<usize>,
    /// Exactly this stream.
    pub stream: Option<String>,
    /// Streams of this category (the name before the first `-`).
    pub category: Option<String>,
    /// Streams whose name starts with this.
    pub prefix: Option<String>,
    /// Event types, comma-separated.
    pub types: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubscribeQuery {
    /// First position to deliver (default 0); a `Last-Event-ID` header
    /// overrides it with the position after that id.
    pub from: Option<u64>,
    /// Exactly this stream.
    pub stream: Option<String>,
    /// Streams of this category (the name before the first `-`).
    pub category: Option<String>,
    /// Streams whose name starts with this.
    pub prefix: Option<String>,
    /// Event types, comma-separated.
    pub types: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PositionQuery {
    /// An RFC 3339 time, e.g. 2026-11-26T14:02:00Z.
    pub at: String,
}

pub fn rfc3339(timestamp_us: u64) -> String {
    let t = time::OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(timestamp_us as i64);
    let (h, m, s, us) = t.time().as_hms_micro();
    format!("{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{us:06}Z", t.year(), u8::from(t.month()), t.day())
}

fn json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// Appends one event as JSON to `out`.
pub fn write_event(out: &mut String, e: &RecordedEvent) {
    let _ = write!(out, "{{\"id\":\"{}\",\"stream\":", e.id);
    json_str(out, &e.stream);
    out.push_str(",\"type\":");
    json_str(out, &e.event_type);
    let _ = write!(
        out,
        ",\"version\":{},\"position\":{},\"timestamp\":\"{}\",\"data\":{},\"metadata\":{},\"tags\":[",
        e.version,
        e.position,
        rfc3339(e.timestamp_us),
        e.data,
        e.metadata
    );
    for (i, t) in e.tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, t);
    }
    out.push_str("]}");
}

#[cfg(test)]
pub fn event_json(e: &RecordedEvent) -> String {
    let mut s = String::with_capacity(256 + e.data.len());
    write_event(&mut s, e);
    s
}

/// Metadata keys the server fills from request headers when the client
/// did not set them.
pub struct HeaderMetadata {
    pub pairs: Vec<(&'static str, String)>,
}

fn to_new_event(e: EventIn, extra: &HeaderMetadata) -> Result<NewEvent, ApiError> {
    let metadata: JsonText = match (e.metadata, extra.pairs.is_empty()) {
        (Some(raw), true) => raw.into(),
        (None, true) => JsonText::from(serde_json::json!({})),
        (raw, false) => {
            let mut value: serde_json::Value = match raw {
                Some(r) => {
                    serde_json::from_str(r.get()).map_err(|x| ApiError::bad_request("malformed_json", x.to_string()))?
                }
                None => serde_json::json!({}),
            };
            if let Some(obj) = value.as_object_mut() {
                for (k, v) in &extra.pairs {
                    obj.entry(k.to_string()).or_insert_with(|| serde_json::json!(v));
                }
            }
            value.into()
        }
    };
    Ok(NewEvent { id: e.id, event_type: e.event_type, data: e.data.into(), metadata, tags: e.tags.unwrap_or_default() })
}

pub fn to_part(
    stream: String,
    expected: Option<&serde_json::Value>,
    events: Vec<EventIn>,
    extra: &HeaderMetadata,
) -> Result<AppendPart, ApiError> {
    let expected = parse_expected(expected)?;
    let events = events.into_iter().map(|e| to_new_event(e, extra)).collect::<Result<Vec<_>, _>>()?;
    Ok(AppendPart { stream, expected, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_micros() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_764_167_040_123_456), "2025-11-26T14:24:00.123456Z");
    }

    #[test]
    fn events_are_written_as_stored() {
        let e = RecordedEvent {
            id: Uuid::nil(),
            stream: "a\"b".into(),
            event_type: "T".into(),
            version: 1,
            position: 2,
            timestamp_us: 0,
            data: "{\"x\":[1,2]}".into(),
            metadata: "{}".into(),
            tags: vec!["t:1".into()],
        };
        let v: serde_json::Value = serde_json::from_str(&event_json(&e)).unwrap();
        assert_eq!(v["stream"], "a\"b");
        assert_eq!(v["data"]["x"][1], 2);
        assert_eq!(v["tags"][0], "t:1");
    }
}
