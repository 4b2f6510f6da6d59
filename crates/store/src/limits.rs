//! Every limit the store enforces, as a named constant with its reason.
//!
//! Backends take a [`Limits`] value so that operators can override a limit
//! in configuration; the defaults are the constants below. Each limit is
//! checked before anything is written, and each has its own error.

/// Largest serialized `data` + `metadata` of one event. Large enough for any
/// sane domain event, small enough that one event never dominates a commit.
pub const EVENT_SIZE_BYTES_MAX: usize = 1 << 20;
/// Most events in one append (all parts of an append across streams count).
pub const APPEND_EVENTS_MAX: usize = 10_000;
/// Largest total serialized size of one append (all parts).
pub const APPEND_SIZE_BYTES_MAX: usize = 16 << 20;
/// Longest stream name or event type, in bytes of UTF-8.
pub const NAME_BYTES_MAX: usize = 255;
/// Longest tag, in bytes of UTF-8. Tags are short keys such as `order:123`.
pub const TAG_BYTES_MAX: usize = 255;
/// Most tags on one event.
pub const TAGS_PER_EVENT_MAX: usize = 64;
/// Most parts in one append across streams.
pub const APPEND_PARTS_MAX: usize = 1_000;
/// Most events one read returns; larger requested limits are clamped.
pub const READ_LIMIT_MAX: usize = 100_000;
/// A read of `$all` looks at no more than this many events per call, even
/// when its filter matches none of them: it then returns an empty page and
/// the position to continue from, so a filter that matches nothing costs a
/// bounded amount per request.
pub const READ_EXAMINED_MAX: usize = 50_000;
/// A read page ends once its events' data and metadata reach this many
/// bytes (it always holds at least one event), so one read, or one
/// subscriber, costs bounded memory whatever the events' sizes.
pub const READ_BYTES_MAX: usize = 4 << 20;

const _: () = assert!(EVENT_SIZE_BYTES_MAX <= APPEND_SIZE_BYTES_MAX);
const _: () = assert!(APPEND_PARTS_MAX <= APPEND_EVENTS_MAX);

/// How full a read page may get: `limit` events, or [`READ_BYTES_MAX`]
/// bytes of data and metadata. Every backend fills its pages through it.
#[derive(Debug, Clone)]
pub struct Page {
    limit: usize,
    events: usize,
    bytes: usize,
}

impl Page {
    pub fn new(limit: usize) -> Self {
        Page { limit: limit.min(READ_LIMIT_MAX), events: 0, bytes: 0 }
    }
    /// Whether another event fits (the first always does, if any may).
    pub fn has_room(&self) -> bool {
        self.events < self.limit && (self.events == 0 || self.bytes < READ_BYTES_MAX)
    }
    pub fn add(&mut self, event: &crate::RecordedEvent) {
        self.events += 1;
        self.bytes += event.data.len() + event.metadata.len();
    }
}

/// The limits a store enforces; `Limits::default()` is the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub event_size_bytes_max: usize,
    pub append_events_max: usize,
    pub append_size_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            event_size_bytes_max: EVENT_SIZE_BYTES_MAX,
            append_events_max: APPEND_EVENTS_MAX,
            append_size_bytes_max: APPEND_SIZE_BYTES_MAX,
        }
    }
}
