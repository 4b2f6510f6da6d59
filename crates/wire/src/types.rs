//! Request and response bodies and query strings, as they travel.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// `"any"`, `"no_stream"`, `"exists"`, or a version number (as a number or
/// a string); absent means `"any"`. (The schema; the server reads the
/// JSON value and checks it with `ExpectedVersion::from_json`, so that
/// `null` and negative numbers get a clear refusal.)
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ExpectedVersionIn {
    Version(u64),
    Keyword(String),
}

/// Keeps an explicit `null` (serde would make it None, i.e. absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// An event to append.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// Makes the append idempotent: a retry with the same ids returns the
    /// original result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON value (documented as an object: schema tools generating
    /// arbitrary JSON for it have crashed on the recursion).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Box<RawValue>,
    /// A JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = ExpectedVersionIn, required = false))]
    pub expected_version: Option<serde_json::Value>,
    pub events: Vec<EventIn>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppendPartIn {
    pub stream: String,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = ExpectedVersionIn, required = false))]
    pub expected_version: Option<serde_json::Value>,
    pub events: Vec<EventIn>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MultiAppendRequest {
    pub appends: Vec<AppendPartIn>,
}

/// Where one stream's events of an append were stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppendResponse {
    pub stream: String,
    pub first_position: u64,
    pub last_position: u64,
    /// The version of the last event written; send it as
    /// `expected_version` to append after it.
    pub next_expected_version: u64,
}

impl AppendResponse {
    pub fn new(stream: &str, r: &hindsight_store::AppendResult) -> Self {
        AppendResponse {
            stream: stream.to_string(),
            first_position: r.first_position,
            last_position: r.last_position,
            next_expected_version: r.next_expected_version,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MultiAppendResponse {
    pub results: Vec<AppendResponse>,
}

/// A stored event (what [`crate::write_event`] writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventOut {
    pub id: Uuid,
    pub stream: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u64,
    pub position: u64,
    /// RFC 3339, UTC, microseconds.
    pub timestamp: String,
    /// Any JSON value, as appended.
    #[cfg_attr(feature = "openapi", schema(value_type = serde_json::Value))]
    pub data: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadStreamResponse {
    pub stream: String,
    pub events: Vec<EventOut>,
    /// The `from` of the next page in the same direction; null at the end.
    pub next: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadAllResponse {
    /// In the read's direction.
    pub events: Vec<EventOut>,
    /// The `from` of the next page in the same direction.
    pub next_position: u64,
    /// True when the read reached the end of what it may see: the head
    /// (or its `as_of` bound) forwards, position 0 backwards.
    pub end_of_log: bool,
}

/// What a stream holds (as of a point).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamInfoResponse {
    pub stream: String,
    pub last_version: u64,
    pub first_position: u64,
    pub last_position: u64,
    pub events: u64,
}

impl From<hindsight_store::StreamInfo> for StreamInfoResponse {
    fn from(i: hindsight_store::StreamInfo) -> Self {
        StreamInfoResponse {
            events: i.last_version + 1,
            stream: i.stream,
            last_version: i.last_version,
            first_position: i.first_position,
            last_position: i.last_position,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PositionResponse {
    pub at: String,
    /// The first position at or after `at`; null when every event is older.
    pub position: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InfoResponse {
    pub store: String,
    pub events: u64,
    pub streams: u64,
    pub last_position: Option<u64>,
    pub writable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusResponse {
    pub status: String,
    /// What needs a look without making the server unready: projections
    /// that are faulted, stalled or behind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention: Vec<String>,
}

/// `PUT /v1/projections/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectionPut {
    /// The JavaScript definition (`fromCategory('order').foreachStream().when({...})`).
    pub source: String,
    /// `park` (default): set a failing event aside and go on; `stop`: fault at it.
    #[serde(default = "park")]
    pub on_error: String,
    /// Attempts after the first at a failing event (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Pause before the first retry, doubling after (default 5 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff_ms: Option<u64>,
    /// Failures within `breaker_window_secs` that open the circuit breaker
    /// (default 100; 0: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_failures: Option<u32>,
    /// Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_window_secs: Option<u64>,
    /// How long an open breaker waits before trying again (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_cool_down_secs: Option<u64>,
}

fn park() -> String {
    "park".to_string()
}

/// `POST /v1/projections/{name}/dry-run`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// The candidate definition.
    pub source: String,
    /// Only the events from this position: then both the current source
    /// and the candidate are folded over the range, from nothing, and
    /// compared (instead of the candidate over all history against the
    /// live states).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// The last position of the range (default: the live position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
}

/// `GET /v1/projections/{name}/state`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ProjectionStateQuery {
    /// The partition (a stream, or a key); empty or absent: the single partition.
    #[serde(default)]
    pub partition: String,
    /// The state as of a point (`position:N`, `time:<RFC 3339>`, or
    /// `version:N` of a per-stream partition's stream), folded from the
    /// log by the version that was live then; absent: the live state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Fold with this version of the source (time travel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// `GET /v1/projections/{name}/partitions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct PartitionsQuery {
    /// Keys after this one (exclusive).
    pub after: Option<String>,
    /// At most this many (default 100, at most 10,000).
    pub limit: Option<usize>,
}

/// Every error: a code, a human message, and details by code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ReadStreamQuery {
    /// First version to read (default: the first, or the last going backwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// `forwards` (default) or `backwards`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Events per page (default 100, at most 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Read the stream as it was at a point: `position:N`, `version:N` or
    /// `time:<RFC 3339>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ReadAllQuery {
    /// First position to read (default 0, or the last going backwards).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// `forwards` (default) or `backwards`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// Events per page (default 100, at most 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Exactly this stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Streams of this category (the name before the first `-`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Streams whose name starts with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Event types, comma-separated (types cannot contain commas).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
    /// Read the log as it was at a point: `position:N` or `time:<RFC 3339>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct SubscribeQuery {
    /// First position to deliver (default 0); a `Last-Event-ID` header
    /// overrides it with the position after that id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
    /// Exactly this stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Streams of this category (the name before the first `-`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Streams whose name starts with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Event types, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct StreamInfoQuery {
    /// The stream as it was at a point: `position:N`, `version:N` or
    /// `time:<RFC 3339>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct PositionQuery {
    /// An RFC 3339 time, e.g. 2026-11-26T14:02:00Z.
    pub at: String,
}

/// The filter of a read or subscription from its query parameters: empty
/// values are absent, types are split at commas (which types cannot hold).
pub fn filter(
    stream: Option<String>,
    category: Option<String>,
    prefix: Option<String>,
    types: Option<String>,
) -> hindsight_store::Filter {
    hindsight_store::Filter {
        stream: stream.filter(|s| !s.is_empty()),
        category: category.filter(|c| !c.is_empty()),
        stream_prefix: prefix.filter(|p| !p.is_empty()),
        event_types: types
            .map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default(),
    }
}

/// `GET /v1/streams/{stream}/state` and, with `as_of` or `version`,
/// `GET /v1/projections/{name}/state`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TimeStateQuery {
    /// Projections only: the partition ("" or absent: the single one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Projections only: fold with this version of the source (default:
    /// the version that was live at the point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The point: `position:N`, `version:N` or `time:<RFC 3339>` (default: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// `GET /v1/streams/{stream}/history`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TimeHistoryQuery {
    /// Projections only: the partition ("" or absent: the single one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Projections only: fold with this version of the source (default:
    /// the version that was live at the point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Changes after this point (default: from the start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Changes up to and including this point (default: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// At most this many changes (default 100, at most 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `GET /v1/streams/{stream}/diff`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TimeDiffQuery {
    /// Projections only: the partition ("" or absent: the single one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Projections only: fold with this version of the source (default:
    /// the version that was live at the point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The first point.
    pub from: String,
    /// The second point (default: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `patch` (default: an RFC 6902 patch) or `side-by-side`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `GET /v1/streams/{stream}/blame`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TimeBlameQuery {
    /// Projections only: the partition ("" or absent: the single one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Projections only: fold with this version of the source (default:
    /// the version that was live at the point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// An RFC 6901 JSON Pointer, e.g. `/status` ("" is the whole document).
    pub pointer: String,
    /// The point (default: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Earlier values listed at most (default 20, at most 10,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `GET /v1/streams/{stream}/watch`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TimeWatchQuery {
    /// Projections only: the partition ("" or absent: the single one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Projections only: fold with this version of the source (default:
    /// the version that was live at the point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// An RFC 6901 JSON Pointer, e.g. `/balance`.
    pub pointer: String,
    /// `eq ne lt le gt ge changed exists missing`.
    pub op: String,
    /// The JSON value compared with (`eq` to `ge`), e.g. `0` or `"cancelled"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `backward` (default: the nearest at or before `from`) or `forward` (after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// The point searched from (default: now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// `GET /v1/streams`: find streams by name, newest activity first.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct StreamsQuery {
    /// Streams whose name starts with this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Streams of this category (the name before the first `-`; indexed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// At most this many streams (default 50, at most 1,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Look at most this many of the newest matching positions (default
    /// 100,000, at most 10,000,000); `complete` says whether that reached
    /// the start of the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<u64>,
}

/// `GET /v1/streams/{stream}/timeline`: the subject's events by index,
/// for a scrubber to page through.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct TimeTimelineQuery {
    /// Projections only: the partition ("" or absent: the single one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The first index listed (default 0: the subject's first event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<usize>,
    /// At most this many listed (default 100, at most 10,000; 0 lists none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// A point (`position:N`, `version:N`, `time:<RFC 3339>`): the answer's
    /// `at_index` is the last event at or before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// This many events spread from the first to the last, with their
    /// timestamps, to label a time axis (default 0, at most 64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticks: Option<usize>,
}

/// `POST /v1/snapshots`: pins a point under a name. One of `stream` or
/// `projection` (with `partition`) says what it was taken of.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotCreate {
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The point (default: now), resolved to a position when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// `POST /v1/forks`: a new fork of the live log as of `base`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForkCreate {
    pub name: String,
    /// The point it branches at (`position:N`, `time:...`, `snapshot:ID`);
    /// default: the head now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

/// `POST /v1/forks/{name}/skip`: base events to hide, by live position.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForkSkip {
    /// Live positions of base events.
    #[serde(default)]
    pub positions: Vec<u64>,
    /// Ids of base events (found on the live log).
    #[serde(default)]
    pub ids: Vec<uuid::Uuid>,
}

/// `POST /v1/forks/{name}/edit`: a base event's data (and metadata) on
/// the fork only.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForkEdit {
    /// The event's live position.
    pub position: u64,
    /// Any JSON value (documented as an object, as for appends).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Box<RawValue>,
    /// A JSON object.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Box<RawValue>>,
}

/// `GET /v1/forks/{name}/diff`: a stream on the fork against live (or
/// against another fork).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ForkDiffQuery {
    /// A stream's document to compare (or give `projection`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// A projection's read model to compare (or give `stream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<String>,
    /// With `projection`: just this partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Another fork to compare with (default: the live log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<String>,
    /// With `projection`: changed partitions listed at most (default
    /// 100; all are counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `PUT /v1/forks/{name}/projections/{projection}`: run a projection on a
/// fork, with a candidate source or (none given) the live one's.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ForkProjectionPut {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// `GET /v1/forks/{name}/projections/{projection}/partitions` and
/// `.../journal`: a page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ForkPageQuery {
    /// Partitions: the key to list after; journal: the index to start at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// At most this many (default 100, at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `POST /v1/impact`: live events to imagine skipped or edited.
#[derive(Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImpactRequest {
    /// Live positions to skip.
    #[serde(default)]
    pub skip: Vec<u64>,
    /// Ids of live events to skip.
    #[serde(default)]
    pub ids: Vec<uuid::Uuid>,
    /// Live events to edit.
    #[serde(default)]
    pub edit: Vec<ForkEdit>,
    /// Only these projections (default: every one).
    #[serde(default)]
    pub projections: Vec<String>,
    /// Changed partitions listed per projection at most (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// `GET /v1/forks/{name}/session`: what to export.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct SessionQuery {
    /// Only the events this projection reads, and only its source
    /// (default: every event, and every projection run on the fork).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<String>,
    /// The first point of the fork exported (`position:N`, `time:...`;
    /// default: its start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The last point exported (default: the fork's head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// JSON Pointers under /data/ or /metadata/, comma-separated, whose
    /// values are replaced by salted hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masks: Option<String>,
}

/// `GET /v1/projections/{name}/fixture`: a regression test for a value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct FixtureQuery {
    /// The partition ("" or absent: the single one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The field, a JSON Pointer such as /status.
    pub pointer: String,
    /// The point whose value the test pins (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// `js` (default: runs under Node) or `rust`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}
