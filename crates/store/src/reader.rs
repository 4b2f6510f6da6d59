//! The read side of the storage contract: [`EventReader`] and the
//! requests and pages it deals in. Time travel and forks implement or wrap
//! this trait alone, so that a view of the past can never write live data.

use async_trait::async_trait;
use tokio::sync::watch;

use crate::{AsOf, Filter, RecordedEvent, StoreError};

/// What a stream holds (as of some point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub stream: String,
    pub last_version: u64,
    pub first_position: u64,
    pub last_position: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Forward,
    Backward,
}

/// A read of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadStream {
    pub stream: String,
    /// First version to read (inclusive); None: the first going forward,
    /// the last (as of `as_of`) going backward.
    pub from: Option<u64>,
    pub direction: Direction,
    /// Most events to return (clamped to [`crate::limits::READ_LIMIT_MAX`];
    /// a page also ends at [`crate::limits::READ_BYTES_MAX`]).
    pub limit: usize,
    /// Read the stream as it was at this point (None: as it is now).
    pub as_of: Option<AsOf>,
}

impl ReadStream {
    /// The whole stream forwards, a page of 100 at a time.
    pub fn forward(stream: &str) -> Self {
        ReadStream { stream: stream.to_string(), from: None, direction: Direction::Forward, limit: 100, as_of: None }
    }
    /// The stream from its last event backwards.
    pub fn backward(stream: &str) -> Self {
        ReadStream { direction: Direction::Backward, ..ReadStream::forward(stream) }
    }
    pub fn from(mut self, version: u64) -> Self {
        self.from = Some(version);
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
    pub fn as_of(mut self, as_of: AsOf) -> Self {
        self.as_of = Some(as_of);
        self
    }
}

/// A read of `$all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAll {
    /// First position to read (inclusive); None: position 0 going forward,
    /// the last visible position going backward.
    pub from: Option<u64>,
    pub direction: Direction,
    pub limit: usize,
    pub filter: Filter,
    /// Read the log as it was at this point (`position:` or `time:`).
    pub as_of: Option<AsOf>,
}

impl ReadAll {
    /// `$all` forwards from `from`, a page of 100 at a time.
    pub fn forward(from: u64) -> Self {
        ReadAll { from: Some(from), direction: Direction::Forward, limit: 100, filter: Filter::default(), as_of: None }
    }
    /// `$all` from its last event backwards.
    pub fn backward() -> Self {
        ReadAll { from: None, direction: Direction::Backward, ..ReadAll::forward(0) }
    }
    pub fn from(mut self, position: u64) -> Self {
        self.from = Some(position);
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }
    pub fn as_of(mut self, as_of: AsOf) -> Self {
        self.as_of = Some(as_of);
        self
    }
}

/// A page of `$all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllSlice {
    /// In the read's direction.
    pub events: Vec<RecordedEvent>,
    /// The `from` of the next page in the same direction: past the last
    /// position examined, which with a filter may be past the last event
    /// returned (a read examines at most
    /// [`crate::limits::READ_EXAMINED_MAX`] positions per call).
    pub next_position: u64,
    /// True when the read reached the end of what it may see (the head or
    /// its as-of bound going forward, position 0 going backward).
    pub end_of_log: bool,
}

/// Reading the log: streams, `$all`, stream info, time lookups, and the
/// head's watch. Every read takes an optional as-of point and then
/// answers exactly what it answered when that point was the head.
#[async_trait]
pub trait EventReader: Send + Sync + 'static {
    /// A page of one stream. A stream that does not exist (or did not yet
    /// as of the read's point) reads as empty.
    async fn read_stream(&self, read: &ReadStream) -> Result<Vec<RecordedEvent>, StoreError>;

    /// A page of `$all` matching the read's filter, in the read's
    /// direction.
    async fn read_all(&self, read: &ReadAll) -> Result<AllSlice, StoreError>;

    /// What a stream holds (as of a point); None when it does not exist
    /// (did not yet).
    async fn stream_info(&self, stream: &str, as_of: Option<AsOf>) -> Result<Option<StreamInfo>, StoreError>;

    /// The first position whose timestamp is at or after `timestamp_us`;
    /// None when every event is older.
    async fn position_at(&self, timestamp_us: u64) -> Result<Option<u64>, StoreError>;

    /// No event appended from now on is stamped earlier than this
    /// (microseconds since the Unix epoch): `time:` points at or after it
    /// are still in the future.
    fn clock_us(&self) -> u64;

    /// One past the last committed position: the number of events stored.
    fn next_position(&self) -> u64;

    /// Watches [`EventReader::next_position`]; it changes only after the
    /// events below it are durable and readable. Closes when the store does.
    fn watch_next_position(&self) -> watch::Receiver<u64>;

    /// The event with id `id`, if this reader shows one. The default
    /// scans `$all`; a backend with an id index answers from it.
    async fn event_by_id(&self, id: uuid::Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let mut from = 0;
        loop {
            let page = self.read_all(&ReadAll::forward(from).limit(crate::limits::READ_LIMIT_MAX)).await?;
            if let Some(e) = page.events.into_iter().find(|e| e.id == id) {
                return Ok(Some(e));
            }
            if page.end_of_log || page.next_position <= from {
                return Ok(None);
            }
            from = page.next_position;
        }
    }

    /// About how many bytes the log holds from position `from` up to
    /// `to` (exclusive), when the backend can tell cheaply; a server uses
    /// it to drop a subscriber that falls too far behind. None: unknown.
    fn log_bytes_between(&self, from: u64, to: u64) -> Option<u64> {
        let _ = (from, to);
        None
    }
}
