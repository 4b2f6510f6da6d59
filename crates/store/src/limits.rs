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

const _: () = assert!(EVENT_SIZE_BYTES_MAX <= APPEND_SIZE_BYTES_MAX);
const _: () = assert!(APPEND_PARTS_MAX <= APPEND_EVENTS_MAX);

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
