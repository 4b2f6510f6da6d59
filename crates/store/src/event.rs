//! Events as proposed and as stored, and `JsonText`, JSON kept as checked text.

use std::fmt;

use uuid::Uuid;

/// JSON text that is known to be valid JSON. Events carry their data and
/// metadata as text end to end, so a server can pass a request's bytes
/// to the log without building a tree and serializing it again.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonText(String);

/// Text that is not valid JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid JSON: {0}")]
pub struct MalformedJson(pub String);

impl JsonText {
    /// Checks that `text` is one valid JSON value.
    pub fn parse(text: impl Into<String>) -> Result<Self, MalformedJson> {
        let text = text.into();
        serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|e| MalformedJson(e.to_string()))?;
        Ok(JsonText(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// True when the value is a JSON object.
    pub fn is_object(&self) -> bool {
        self.0.trim_start().starts_with('{')
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(v: serde_json::Value) -> Self {
        JsonText(v.to_string())
    }
}

impl From<&serde_json::Value> for JsonText {
    fn from(v: &serde_json::Value) -> Self {
        JsonText(v.to_string())
    }
}

impl From<Box<serde_json::value::RawValue>> for JsonText {
    /// A `RawValue` was checked by the parser that produced it.
    fn from(v: Box<serde_json::value::RawValue>) -> Self {
        JsonText(String::from(v.get()))
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event as a writer proposes it; the store assigns everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Client-supplied id: makes the append idempotent. None: the store
    /// generates a UUID v7.
    pub id: Option<Uuid>,
    pub event_type: String,
    pub data: JsonText,
    /// Must be a JSON object (checked on append).
    pub metadata: JsonText,
    pub tags: Vec<String>,
}

impl NewEvent {
    pub fn new(event_type: impl Into<String>, data: impl Into<JsonText>) -> Self {
        NewEvent {
            id: None,
            event_type: event_type.into(),
            data: data.into(),
            metadata: JsonText("{}".into()),
            tags: Vec::new(),
        }
    }

    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }

    pub fn with_metadata(mut self, metadata: impl Into<JsonText>) -> Self {
        self.metadata = metadata.into();
        self
    }

    pub fn with_tags(mut self, tags: Vec<String>) -> Self {
        self.tags = tags;
        self
    }
}

/// An event as stored. `data` and `metadata` are kept as the JSON text that
/// was written so reads never pay for parsing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub id: Uuid,
    pub stream: String,
    pub event_type: String,
    /// 0-based, per stream, gapless.
    pub version: u64,
    /// 0-based, global, gapless, in commit order.
    pub position: u64,
    /// Server clock, microseconds since the Unix epoch, UTC; never
    /// decreasing in position order.
    pub timestamp_us: u64,
    /// JSON text.
    pub data: String,
    /// JSON text of an object.
    pub metadata: String,
    pub tags: Vec<String>,
}

/// The category of a stream: the part of its name before the first `-`
/// (the whole name when there is none).
pub fn category_of(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::category_of;

    #[test]
    fn category_is_the_part_before_the_first_dash() {
        assert_eq!(category_of("order-123"), "order");
        assert_eq!(category_of("order-123-x"), "order");
        assert_eq!(category_of("order"), "order");
        assert_eq!(category_of("-x"), "");
    }
}

#[cfg(test)]
mod json_text_tests {
    use super::JsonText;

    #[test]
    fn accepts_json_and_refuses_the_rest() {
        for ok in ["1", "\"x\"", "{}", " {\"a\": [1, null]} ", "null"] {
            assert!(JsonText::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "{", "nope", "1 2", "{\"a\":}"] {
            assert!(JsonText::parse(bad).is_err(), "{bad}");
        }
        assert!(JsonText::parse(" {}").unwrap().is_object());
        assert!(!JsonText::parse("[]").unwrap().is_object());
    }
}
