//! A fork: an isolated timeline that is the live log up to a base point,
//! with some of those events hidden (skips) or changed (edits), and
//! hypothetical events appended after it. It is a copy-on-write view: the
//! live store is read through [`EventReader`] and never written, and the
//! fork's own changes live in its [`Overlay`], so making one costs the
//! same on a 10-event and a 10M-event store.
//!
//! A fork keeps the reader contract whole: its positions and each
//! stream's versions are gapless, as a store holding exactly the fork's
//! events would number them. A base event at live position `p` is at fork
//! position `p - (skips below p)`, and its version moves down by the skips
//! of its stream below it; appended events follow the base. Projections
//! and every time-travel question therefore run on a fork unchanged, and
//! [`Overlay::live_position`] maps an answer back to the live log.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use hindsight_store::{
    check_expectations, end_position, validate_append, AllSlice, AppendPart, AppendResult, AsOf, Direction,
    EventReader, Limits, ReadAll, ReadStream, RecordedEvent, StoreError, StreamInfo,
};
use tokio::sync::watch;

/// A base event's new data and metadata on the fork.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub data: String,
    pub metadata: Option<String>,
}

/// What a fork changes: everything else is the live log below `base_end`.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Live positions below this are the fork's base.
    pub base_end: u64,
    /// Hidden live positions, sorted.
    skips: Vec<u64>,
    /// Hidden live versions by stream, sorted.
    skipped_versions: HashMap<String, Vec<u64>>,
    edits: HashMap<u64, Edit>,
    /// Events appended to the fork, in order; numbered when read.
    appended: Vec<RecordedEvent>,
    /// Each appended-to stream's visible base events (fixed once known:
    /// the base never changes but through skips, which are counted apart).
    base_counts: HashMap<String, u64>,
}

/// How many of the sorted `list` lie below `x`.
fn rank(list: &[u64], x: u64) -> u64 {
    list.partition_point(|&v| v < x) as u64
}

impl Overlay {
    /// Visible base events: the fork position appended events start at.
    pub fn base_visible(&self) -> u64 {
        self.base_end - self.skips.len() as u64
    }

    pub fn skips(&self) -> &[u64] {
        &self.skips
    }

    pub fn edits(&self) -> &HashMap<u64, Edit> {
        &self.edits
    }

    pub fn appended(&self) -> usize {
        self.appended.len()
    }

    fn skipped_in(&self, stream: &str) -> &[u64] {
        self.skipped_versions.get(stream).map_or(&[], Vec::as_slice)
    }

    /// The fork position of the live position `p` of a visible base event.
    pub fn fork_position(&self, p: u64) -> u64 {
        p - rank(&self.skips, p)
    }

    /// The live position of fork position `q` (below [`Overlay::base_visible`]),
    /// or, for `q == base_visible`, `base_end`: the smallest live position
    /// whose fork position is `q` and that is not skipped.
    pub fn live_position(&self, q: u64) -> u64 {
        if q >= self.base_visible() {
            return self.base_end + (q - self.base_visible());
        }
        // p - rank(p) is nondecreasing in p; the first p reaching q may be
        // a skip, whose next unskipped neighbour has the same fork position.
        let (mut lo, mut hi) = (q, self.base_end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.fork_position(mid) >= q {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let mut p = lo;
        while self.skips.binary_search(&p).is_ok() {
            p += 1;
        }
        p
    }

    /// A stream's live version for fork version `w` of its base events.
    fn live_version(&self, stream: &str, w: u64) -> u64 {
        let skipped = self.skipped_in(stream);
        let (mut lo, mut hi) = (w, w.saturating_add(skipped.len() as u64 + 1));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if mid - rank(skipped, mid) >= w {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let mut v = lo;
        while skipped.binary_search(&v).is_ok() {
            v += 1;
        }
        v
    }

    /// A live base event as the fork shows it; None when it is hidden.
    fn show(&self, mut e: RecordedEvent) -> Option<RecordedEvent> {
        let below = self.skips.partition_point(|&p| p < e.position);
        if e.position >= self.base_end || self.skips.get(below) == Some(&e.position) {
            return None;
        }
        if !self.edits.is_empty() {
            if let Some(edit) = self.edits.get(&e.position) {
                e.data = edit.data.clone();
                if let Some(m) = &edit.metadata {
                    e.metadata = m.clone();
                }
            }
        }
        // A skipped earlier event of the stream is at a lower position:
        // with no skip below, nothing moves.
        if below > 0 {
            e.version -= rank(self.skipped_in(&e.stream), e.version);
            e.position -= below as u64;
        }
        Some(e)
    }

    /// The appended events as the fork numbers them now.
    fn appended_shown(&self) -> Vec<RecordedEvent> {
        let mut next_version: HashMap<&str, u64> = HashMap::new();
        let base = self.base_visible();
        self.appended
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let v = next_version.entry(e.stream.as_str()).or_insert_with(|| {
                    let count = self.base_counts.get(&e.stream).copied().unwrap_or(0);
                    count - self.skipped_in(&e.stream).len() as u64
                });
                let shown = RecordedEvent { position: base + i as u64, version: *v, ..e.clone() };
                *v += 1;
                shown
            })
            .collect()
    }
}

/// Why a fork refuses a change.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("position {position} is not an event of the fork's base (it ends before {base_end})")]
    NotInBase { position: u64, base_end: u64 },
    #[error("position {0} is skipped on this fork")]
    Skipped(u64),
}

/// A refused fork change is the caller's mistake; a store failure is not.
impl From<ForkError> for crate::service::HistoryError {
    fn from(e: ForkError) -> Self {
        match e {
            ForkError::Store(e) => Self::Store(e),
            e => Self::Invalid(e.to_string()),
        }
    }
}

/// A fork's timeline, readable as any store.
pub struct ForkReader {
    live: Arc<dyn EventReader>,
    /// Reads take the overlay as it is (an Arc); changes replace it.
    overlay: RwLock<Arc<Overlay>>,
    head: watch::Sender<u64>,
    limits: Limits,
}

impl ForkReader {
    /// A fork of `live` as of `base` (None: its head now).
    pub async fn new(live: Arc<dyn EventReader>, base: Option<AsOf>, limits: Limits) -> Result<Self, StoreError> {
        let base_end = match base {
            Some(at) => end_position(&*live, at, None).await?,
            None => live.next_position(),
        };
        Ok(ForkReader::at(live, base_end, limits))
    }

    /// A fork whose base is the live log below `base_end`.
    pub fn at(live: Arc<dyn EventReader>, base_end: u64, limits: Limits) -> Self {
        let overlay = Arc::new(Overlay { base_end, ..Default::default() });
        ForkReader { live, overlay: RwLock::new(overlay), head: watch::channel(base_end).0, limits }
    }

    /// The events appended so far, as appended (unnumbered).
    pub fn appended_events(&self) -> Vec<RecordedEvent> {
        self.read_overlay().appended.clone()
    }

    /// Puts back appended events kept from an earlier run, as they were.
    pub async fn restore_appended(&self, events: Vec<RecordedEvent>) -> Result<(), StoreError> {
        let streams: std::collections::BTreeSet<String> = events.iter().map(|e| e.stream.clone()).collect();
        let counts = self.base_counts(streams.iter().map(String::as_str)).await?;
        self.change(|o| {
            o.base_counts.extend(counts);
            o.appended.extend(events);
        });
        Ok(())
    }

    /// Each of `streams`' events in the live base (before skips), for
    /// those not known yet.
    async fn base_counts<'s>(&self, streams: impl Iterator<Item = &'s str>) -> Result<Vec<(String, u64)>, StoreError> {
        let base_end = self.read_overlay().base_end;
        let mut counts = Vec::new();
        for stream in streams {
            if !self.read_overlay().base_counts.contains_key(stream) {
                let info = match base_end {
                    0 => None,
                    end => self.live.stream_info(stream, Some(AsOf::Position(end - 1))).await?,
                };
                counts.push((stream.to_string(), info.map_or(0, |i| i.last_version + 1)));
            }
        }
        Ok(counts)
    }

    /// The fork's changes as they are now.
    pub fn overlay(&self) -> Arc<Overlay> {
        self.overlay.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn read_overlay(&self) -> Arc<Overlay> {
        self.overlay()
    }

    /// Changes the overlay in place (copied first when a read holds it).
    fn change<T>(&self, f: impl FnOnce(&mut Overlay) -> T) -> T {
        let mut guard = self.overlay.write().unwrap_or_else(|p| p.into_inner());
        let out = f(Arc::make_mut(&mut guard));
        let head = guard.base_visible() + guard.appended.len() as u64;
        drop(guard);
        self.head.send_replace(head);
        out
    }

    /// The live base event at `position`, refusing one outside the base.
    async fn base_event(&self, position: u64) -> Result<RecordedEvent, ForkError> {
        let base_end = self.read_overlay().base_end;
        let not_in_base = ForkError::NotInBase { position, base_end };
        if position >= base_end {
            return Err(not_in_base);
        }
        let slice = self.live.read_all(&ReadAll::forward(position).limit(1)).await?;
        slice.events.into_iter().find(|e| e.position == position).ok_or(not_in_base)
    }

    /// Hides base events, by live position. Hiding one twice is no change.
    pub async fn skip(&self, positions: &[u64]) -> Result<(), ForkError> {
        let mut events = Vec::with_capacity(positions.len());
        for &p in positions {
            events.push(self.base_event(p).await?);
        }
        self.change(|o| {
            for e in events {
                if let Err(at) = o.skips.binary_search(&e.position) {
                    o.skips.insert(at, e.position);
                    let versions = o.skipped_versions.entry(e.stream.clone()).or_default();
                    let at = versions.partition_point(|&v| v < e.version);
                    versions.insert(at, e.version);
                    o.edits.remove(&e.position);
                }
            }
        });
        Ok(())
    }

    /// Replaces a base event's data (and metadata) on the fork only.
    pub async fn edit(&self, position: u64, edit: Edit) -> Result<(), ForkError> {
        self.base_event(position).await?;
        self.change(|o| {
            if o.skips.binary_search(&position).is_ok() {
                return Err(ForkError::Skipped(position));
            }
            o.edits.insert(position, edit);
            Ok(())
        })
    }

    /// Appends hypothetical events after the base, with the same
    /// validation and expected-version rules as a live append.
    pub async fn append(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError> {
        let parts = validate_append(parts, &self.limits)?;
        // Each stream's visible base events, learnt once.
        let counts = self.base_counts(parts.iter().map(|p| p.stream.as_str())).await?;
        let now = self.live.clock_us();
        self.change(|o| {
            o.base_counts.extend(counts);
            let shown = o.appended_shown();
            let last = |stream: &str| {
                let appended = shown.iter().rfind(|e| e.stream == stream).map(|e| e.version);
                let base = o.base_counts.get(stream).copied().unwrap_or(0) - o.skipped_in(stream).len() as u64;
                appended.or(base.checked_sub(1))
            };
            let lasts: HashMap<String, Option<u64>> =
                parts.iter().map(|p| (p.stream.clone(), last(&p.stream))).collect();
            check_expectations(&parts, |s| lasts.get(s).copied().flatten())?;
            let now = now.max(o.appended.last().map_or(0, |e| e.timestamp_us));
            let mut results = Vec::with_capacity(parts.len());
            for part in parts {
                let first_position = o.base_visible() + o.appended.len() as u64;
                let first_version = lasts.get(&part.stream).copied().flatten().map_or(0, |v| v + 1);
                let n = part.events.len() as u64;
                for e in part.events {
                    o.appended.push(RecordedEvent {
                        id: e.id.unwrap_or_else(uuid::Uuid::now_v7),
                        stream: part.stream.clone(),
                        event_type: e.event_type,
                        version: 0,
                        position: 0,
                        timestamp_us: now,
                        data: e.data,
                        metadata: e.metadata,
                        tags: e.tags,
                    });
                }
                results.push(AppendResult {
                    first_position,
                    last_position: first_position + n - 1,
                    next_expected_version: first_version + n - 1,
                });
            }
            Ok(results)
        })
    }

    /// The fork's exclusive end for a read as of `at`.
    async fn end(&self, at: Option<AsOf>, stream: Option<&str>) -> Result<u64, StoreError> {
        match at {
            Some(at) => end_position(self, at, stream).await,
            None => Ok(self.next_position()),
        }
    }
}

/// The fork position below which the visible events are those at or
/// below live position `p`: for going down from `p`, whatever `p` is.
fn fork_position_at_or_below(o: &Overlay, p: u64) -> Option<u64> {
    (p + 1 - rank(&o.skips, p + 1)).checked_sub(1)
}

impl ForkReader {
    /// `$all` forwards on the fork: base events through the live log
    /// (bounded to the base), then the appended ones.
    async fn read_all_forward(&self, o: &Overlay, read: &ReadAll, end: u64) -> Result<AllSlice, StoreError> {
        let base = o.base_visible();
        let from = read.from.unwrap_or(0).min(end);
        let mut events = Vec::new();
        let mut next = from;
        if from < base.min(end) {
            let (live_from, live_end) = (o.live_position(from), o.live_position(end.min(base)));
            let bounded = ReadAll { from: Some(live_from), as_of: Some(AsOf::Position(live_end - 1)), ..read.clone() };
            let slice = self.live.read_all(&bounded).await?;
            events.extend(slice.events.into_iter().filter_map(|e| o.show(e)));
            if !slice.end_of_log && slice.next_position < live_end {
                let next = o.fork_position(slice.next_position);
                return Ok(AllSlice { events, next_position: next, end_of_log: false });
            }
            next = end.min(base);
        }
        let limit = read.limit.min(hindsight_store::limits::READ_LIMIT_MAX);
        if next < end {
            for e in o.appended_shown().into_iter().skip((next - base) as usize).take((end - next) as usize) {
                if events.len() >= limit {
                    break;
                }
                next = e.position + 1;
                if read.filter.matches(&e.stream, &e.event_type) {
                    events.push(e);
                }
            }
        }
        Ok(AllSlice { events, next_position: next, end_of_log: next >= end })
    }

    /// `$all` backwards on the fork: appended events, then the base.
    async fn read_all_backward(&self, o: &Overlay, read: &ReadAll, end: u64) -> Result<AllSlice, StoreError> {
        let Some(last) = end.checked_sub(1) else {
            return Ok(AllSlice { events: Vec::new(), next_position: 0, end_of_log: true });
        };
        let base = o.base_visible();
        let limit = read.limit.min(hindsight_store::limits::READ_LIMIT_MAX);
        let from = read.from.unwrap_or(last).min(last);
        let mut events = Vec::new();
        let mut cursor = Some(from);
        if from >= base {
            let shown = o.appended_shown();
            for e in shown[..=(from - base) as usize].iter().rev() {
                if events.len() >= limit {
                    return Ok(AllSlice { events, next_position: e.position, end_of_log: false });
                }
                if read.filter.matches(&e.stream, &e.event_type) {
                    events.push(e.clone());
                }
            }
            cursor = base.checked_sub(1);
        }
        let Some(cursor) = cursor.filter(|_| events.len() < limit) else {
            let end_of_log = cursor.is_none();
            return Ok(AllSlice { events, next_position: cursor.unwrap_or(0), end_of_log });
        };
        let live_from = o.live_position(cursor);
        let remaining = limit - events.len();
        let bounded = ReadAll {
            from: Some(live_from),
            limit: remaining,
            as_of: Some(AsOf::Position(o.base_end - 1)),
            ..read.clone()
        };
        let slice = self.live.read_all(&bounded).await?;
        events.extend(slice.events.into_iter().filter_map(|e| o.show(e)));
        let next = if slice.end_of_log { None } else { fork_position_at_or_below(o, slice.next_position) };
        Ok(AllSlice { events, next_position: next.unwrap_or(0), end_of_log: next.is_none() })
    }

    /// Reads one page of a stream's base events from the live log, bounded
    /// to live positions below `live_end`, and adds those the fork shows
    /// to `out`; the last live version read (None: nothing was left).
    async fn base_page(
        &self,
        o: &Overlay,
        stream: &str,
        (from, direction, limit, live_end): (Option<u64>, Direction, usize, u64),
        out: &mut Vec<RecordedEvent>,
    ) -> Result<Option<u64>, StoreError> {
        let as_of = Some(AsOf::Position(live_end - 1));
        let read = ReadStream { stream: stream.to_string(), from, direction, limit, as_of };
        let page = self.live.read_stream(&read).await?;
        let last = page.last().map(|e| e.version);
        out.extend(page.into_iter().filter_map(|e| o.show(e)));
        Ok(last)
    }

    /// One stream forwards on the fork from version `w`, below `end`.
    async fn read_stream_forward(
        &self,
        o: &Overlay,
        read: &ReadStream,
        end: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = read.limit.min(hindsight_store::limits::READ_LIMIT_MAX);
        let w = read.from.unwrap_or(0);
        let live_end = o.live_position(end.min(o.base_visible()));
        let mut events = Vec::new();
        if live_end > 0 {
            let mut v = o.live_version(&read.stream, w);
            while events.len() < limit {
                let page = (Some(v), Direction::Forward, limit - events.len(), live_end);
                let Some(last) = self.base_page(o, &read.stream, page, &mut events).await? else { break };
                v = last + 1;
            }
        }
        let appended = o.appended_shown();
        let more = appended.into_iter().filter(|e| e.stream == read.stream && e.position < end && e.version >= w);
        events.extend(more.take(limit - events.len()));
        Ok(events)
    }

    /// One stream backwards on the fork from version `w` (None: its last).
    async fn read_stream_backward(
        &self,
        o: &Overlay,
        read: &ReadStream,
        end: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let limit = read.limit.min(hindsight_store::limits::READ_LIMIT_MAX);
        let w = read.from.unwrap_or(u64::MAX);
        let mut events: Vec<RecordedEvent> = o
            .appended_shown()
            .into_iter()
            .filter(|e| e.stream == read.stream && e.position < end && e.version <= w)
            .rev()
            .take(limit)
            .collect();
        let live_end = o.live_position(end.min(o.base_visible()));
        if live_end == 0 || events.len() >= limit {
            return Ok(events);
        }
        // A version past the base's last is read from its last (reads clamp).
        let mut from = read.from.map(|w| o.live_version(&read.stream, w));
        loop {
            let page = (from, Direction::Backward, limit - events.len(), live_end);
            let Some(last) = self.base_page(o, &read.stream, page, &mut events).await? else { break };
            match last.checked_sub(1) {
                Some(v) if events.len() < limit => from = Some(v),
                _ => break,
            }
        }
        Ok(events)
    }
}

#[async_trait]
impl EventReader for ForkReader {
    async fn read_stream(&self, read: &ReadStream) -> Result<Vec<RecordedEvent>, StoreError> {
        let end = self.end(read.as_of, Some(&read.stream)).await?;
        let o = self.read_overlay();
        match read.direction {
            Direction::Forward => self.read_stream_forward(&o, read, end).await,
            Direction::Backward => self.read_stream_backward(&o, read, end).await,
        }
    }

    async fn read_all(&self, read: &ReadAll) -> Result<AllSlice, StoreError> {
        let end = self.end(read.as_of, None).await?;
        let o = self.read_overlay();
        match read.direction {
            Direction::Forward => self.read_all_forward(&o, read, end).await,
            Direction::Backward => self.read_all_backward(&o, read, end).await,
        }
    }

    async fn stream_info(&self, stream: &str, as_of: Option<AsOf>) -> Result<Option<StreamInfo>, StoreError> {
        let one = |direction| ReadStream { stream: stream.to_string(), from: None, direction, limit: 1, as_of };
        let last = self.read_stream(&one(Direction::Backward)).await?.pop();
        let first = self.read_stream(&one(Direction::Forward)).await?.pop();
        Ok(first.zip(last).map(|(first, last)| StreamInfo {
            stream: stream.to_string(),
            last_version: last.version,
            first_position: first.position,
            last_position: last.position,
        }))
    }

    async fn position_at(&self, timestamp_us: u64) -> Result<Option<u64>, StoreError> {
        let o = self.read_overlay();
        if let Some(p) = self.live.position_at(timestamp_us).await? {
            let q = o.fork_position(p.min(o.base_end));
            if p < o.base_end && q < o.base_visible() {
                return Ok(Some(q));
            }
        }
        Ok(o.appended_shown().iter().find(|e| e.timestamp_us >= timestamp_us).map(|e| e.position))
    }

    async fn event_by_id(&self, id: uuid::Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let o = self.read_overlay();
        if let Some(e) = o.appended_shown().into_iter().find(|e| e.id == id) {
            return Ok(Some(e));
        }
        Ok(self.live.event_by_id(id).await?.and_then(|e| o.show(e)))
    }

    fn clock_us(&self) -> u64 {
        let o = self.read_overlay();
        self.live.clock_us().max(o.appended.last().map_or(0, |e| e.timestamp_us))
    }

    fn next_position(&self) -> u64 {
        let o = self.read_overlay();
        o.base_visible() + o.appended.len() as u64
    }

    fn watch_next_position(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }
}
