//! The wire types come from `hindsight-wire` (shared with the CLI and the
//! client); here is only what turns a request body into an append.

pub use hindsight_wire::*;

use hindsight_store::{AppendPart, ExpectedVersion, JsonText, NewEvent};

use crate::error::ApiError;

pub fn parse_expected(v: Option<&serde_json::Value>) -> Result<ExpectedVersion, ApiError> {
    ExpectedVersion::from_json(v).map_err(|m| ApiError::bad_request("invalid_expected_version", m))
}

/// Metadata keys the server fills from request headers when the client
/// did not set them.
#[derive(Default)]
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
