use uuid::Uuid;

/// An event as a writer proposes it; the store assigns everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Client-supplied id: makes the append idempotent. None: the store
    /// generates a UUID v7.
    pub id: Option<Uuid>,
    pub event_type: String,
    pub data: serde_json::Value,
    /// Must be a JSON object (checked on append).
    pub metadata: serde_json::Value,
    pub tags: Vec<String>,
}

impl NewEvent {
    pub fn new(event_type: impl Into<String>, data: serde_json::Value) -> Self {
        NewEvent {
            id: None,
            event_type: event_type.into(),
            data,
            metadata: serde_json::Value::Object(Default::default()),
            tags: Vec::new(),
        }
    }

    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }

    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
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
