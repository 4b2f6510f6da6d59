//! The contract's errors: one enum for operations, one for refused input,
//! each variant with its data and a stable `code()`.

use uuid::Uuid;

use crate::ExpectedVersion;

/// One part of an append whose expected version did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionConflict {
    /// Index of the part in the append (0 for a single-stream append).
    pub part: usize,
    pub stream: String,
    pub expected: ExpectedVersion,
    /// The stream's last version; None when the stream does not exist.
    pub actual: Option<u64>,
}

/// Input the store refuses before writing anything. Each limit and each
/// malformed field has its own variant so callers can say exactly what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    #[error("an append must contain at least one event")]
    EmptyAppend,
    #[error("an append across streams must contain at least one part")]
    NoParts,
    #[error("an append has {n_parts} parts; at most {max} are allowed")]
    TooManyParts { n_parts: usize, max: usize },
    #[error("stream {stream:?} appears in more than one part of the same append")]
    StreamRepeated { stream: String },
    #[error("{kind} {name:?} is invalid: {reason}")]
    Name { kind: &'static str, name: String, reason: &'static str },
    #[error("tag {tag:?} is invalid: {reason}")]
    Tag { tag: String, reason: &'static str },
    #[error("an event has {n_tags} tags; at most {max} are allowed")]
    TooManyTags { n_tags: usize, max: usize },
    #[error("metadata must be a JSON object")]
    MetadataNotObject,
    #[error("event {index} is {size_bytes} bytes (data + metadata); at most {max} are allowed")]
    EventTooLarge { index: usize, size_bytes: usize, max: usize },
    #[error("an append has {n_events} events; at most {max} are allowed")]
    TooManyEvents { n_events: usize, max: usize },
    #[error("an append is {size_bytes} bytes; at most {max} are allowed")]
    AppendTooLarge { size_bytes: usize, max: usize },
    #[error("event id {id} appears twice in the same append")]
    IdRepeated { id: Uuid },
    #[error("as_of is invalid: {reason}")]
    AsOf { reason: String },
}

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("invalid input: {0}")]
    Invalid(#[from] InvalidInput),
    #[error("wrong expected version: {}", describe_conflicts(.0))]
    WrongExpectedVersion(Vec<VersionConflict>),
    #[error(
        "event id {id} is already stored at {stream}@{version} (position {position}), not where this append puts it"
    )]
    IdConflict { id: Uuid, stream: String, version: u64, position: u64 },
    #[error(
        "event id {id} is already stored at {stream}@{version} (position {position}) with a different {field}; a retry must resend the same event, a new event needs a new id"
    )]
    IdReused { id: Uuid, stream: String, version: u64, position: u64, field: &'static str },
    #[error("the store refuses writes after an earlier failure and must be restarted: {reason}")]
    Poisoned { reason: String },
    #[error("no space left on the device; nothing of this append was stored")]
    StorageFull,
    #[error("the append queue is full; nothing of this append was stored: retry later")]
    Overloaded,
    /// The backend (a database server) cannot be reached or is
    /// restarting. An append that fails so may still have been committed
    /// if the connection was lost during its commit: a retry with the same
    /// event ids is then answered with the original result.
    #[error("the store's database is unavailable, retry later: {reason}")]
    Unavailable { reason: String },
    #[error("as_of {as_of} is beyond the head: {reason}")]
    AsOfBeyondHead { as_of: String, reason: String },
    #[error("the store is closed")]
    Closed,
    #[error("data corrupted in {segment} at byte {offset} (position {position:?}): {detail}")]
    Corrupt { segment: String, offset: u64, position: Option<u64>, detail: String },
    /// The OS error is part of the message, not a separate source, so
    /// that a report of the chain does not print it twice.
    #[error("{context}: {cause}")]
    Io { context: String, cause: std::io::Error },
    #[error("backend error: {0}")]
    Backend(String),
    /// A backend's own error (a driver's, say), kept whole as the source.
    #[error("{context}")]
    BackendSource {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

fn describe_conflicts(conflicts: &[VersionConflict]) -> String {
    conflicts
        .iter()
        .map(|c| {
            let actual = c.actual.map_or_else(|| "no stream".to_string(), |v| v.to_string());
            format!("stream {:?} expected {} but is at {}", c.stream, c.expected, actual)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl StoreError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io { context: context.into(), cause: source }
    }
}

impl InvalidInput {
    /// A stable, machine-readable name for this error.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidInput::EmptyAppend => "empty_append",
            InvalidInput::NoParts => "no_parts",
            InvalidInput::TooManyParts { .. } => "too_many_parts",
            InvalidInput::StreamRepeated { .. } => "stream_repeated",
            InvalidInput::Name { kind: "stream name", .. } => "invalid_stream_name",
            InvalidInput::Name { .. } => "invalid_event_type",
            InvalidInput::Tag { .. } => "invalid_tag",
            InvalidInput::TooManyTags { .. } => "too_many_tags",
            InvalidInput::MetadataNotObject => "metadata_not_object",
            InvalidInput::EventTooLarge { .. } => "event_too_large",
            InvalidInput::TooManyEvents { .. } => "too_many_events",
            InvalidInput::AppendTooLarge { .. } => "append_too_large",
            InvalidInput::IdRepeated { .. } => "duplicate_event_id",
            InvalidInput::AsOf { .. } => "invalid_as_of",
        }
    }
}

impl StoreError {
    /// A stable, machine-readable name for this error.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Invalid(i) => i.code(),
            StoreError::WrongExpectedVersion(_) => "wrong_expected_version",
            StoreError::IdConflict { .. } => "event_id_conflict",
            StoreError::IdReused { .. } => "event_id_reused",
            StoreError::Poisoned { .. } => "store_poisoned",
            StoreError::StorageFull => "storage_full",
            StoreError::Overloaded => "overloaded",
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::AsOfBeyondHead { .. } => "as_of_beyond_head",
            StoreError::Closed => "store_closed",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::Io { .. } => "io_error",
            StoreError::Backend(_) | StoreError::BackendSource { .. } => "backend_error",
        }
    }
}
