//! The read paths: single events by location, streams through the index,
//! `$all` and time lookups through the sparse position index.

use std::collections::BTreeMap;
use std::sync::Arc;

use hindsight_store::{AllSlice, Direction, ReadAll, ReadStream, RecordedEvent, StoreError, StreamInfo};
use uuid::Uuid;

use super::state::{SegmentFile, Shared, State};
use crate::index::checkpoint::{Head, Sparse};
use crate::index::{id_key, stream_version_key};
use crate::segment::frame::{parse_frame, Parsed, KIND_EVENT};
use crate::segment::header::HEADER_BYTES;
use crate::segment::reader::{FrameScanner, Step};
use crate::segment::record::{decode_event, event_position};
use crate::segment::Loc;

mod postings;

pub type Segments = BTreeMap<u32, Arc<SegmentFile>>;

fn corrupt(seg: &SegmentFile, offset: u64, position: Option<u64>, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { segment: seg.path.display().to_string(), offset, position, detail: detail.into() }
}

fn io_err(seg: &SegmentFile, e: std::io::Error) -> StoreError {
    StoreError::io(format!("reading {}", seg.path.display()), e)
}

/// Reads the event whose frame starts at `loc`.
pub fn read_event_at(segments: &Segments, loc: Loc) -> Result<RecordedEvent, StoreError> {
    read_event_with(segments, loc, &mut Vec::new())
}

/// Most events' frames fit in this many bytes: one small read each.
const EVENT_READ_BYTES: usize = 512;

/// [`read_event_at`] with a buffer the caller keeps between reads.
pub fn read_event_with(segments: &Segments, loc: Loc, buf: &mut Vec<u8>) -> Result<RecordedEvent, StoreError> {
    let seg = segments
        .get(&loc.segment)
        .ok_or_else(|| StoreError::Backend(format!("index points into missing segment {}", loc.segment)))?;
    let offset = u64::from(loc.offset);
    buf.resize(EVENT_READ_BYTES, 0);
    loop {
        let n = seg.file.read_full_at(buf, offset).map_err(|e| io_err(seg, e))?;
        match parse_frame(&buf[..n]) {
            Parsed::Frame { kind: KIND_EVENT, payload, .. } => {
                let view = decode_event(payload).map_err(|d| corrupt(seg, offset, None, d))?;
                return Ok(view.to_owned_event());
            }
            Parsed::Truncated { needed_bytes } if n == buf.len() && needed_bytes > buf.len() => {
                buf.resize(needed_bytes, 0);
            }
            Parsed::Frame { .. } => return Err(corrupt(seg, offset, None, "index points at a non-event frame")),
            Parsed::Truncated { .. } => return Err(corrupt(seg, offset, None, "event frame cut short")),
            Parsed::Invalid(reason) => return Err(corrupt(seg, offset, None, reason)),
        }
    }
}

/// An index that disagrees with the log: reads fail rather than answer
/// wrongly (deleting `index/` rebuilds it from the log).
fn index_damage(detail: String) -> StoreError {
    StoreError::Backend(format!(
        "{detail}: the index is damaged; stop the store and delete its index/ directory to rebuild it from the log"
    ))
}

/// The event with id `id`, if stored: looked up in the id index and
/// checked against the record the index leads to.
pub fn event_by_id(state: &State, id: &Uuid) -> Result<Option<RecordedEvent>, StoreError> {
    let Some(loc) = lookup_id(state, id)? else { return Ok(None) };
    let event = read_event_at(&state.segments, loc)?;
    if event.id != *id {
        return Err(index_damage(format!("the id index entry for {id} leads to event {}", event.id)));
    }
    Ok(Some(event))
}

/// Where an event id is stored, if anywhere.
pub fn lookup_id(state: &State, id: &Uuid) -> Result<Option<Loc>, StoreError> {
    let key = id_key(id);
    if let Some(loc) = state.active.id(key) {
        return Ok(Some(Loc::unpack(loc)));
    }
    if let Some(loc) = state.frozen.as_ref().and_then(|f| f.memtable.id(key)) {
        return Ok(Some(Loc::unpack(loc)));
    }
    for run in state.id_runs.iter().rev() {
        if let Some(loc) =
            run.get(key).map_err(|e| StoreError::io(format!("reading index run {}", run.file_name), e))?
        {
            return Ok(Some(Loc::unpack(loc)));
        }
    }
    Ok(None)
}

/// Locations of versions `lo..=hi` of a stream (which the head says all
/// exist), from the memtables and the runs, checked to hold each version
/// exactly once; and the segments to read them from.
fn stream_locs(
    shared: &Shared,
    stream: &str,
    key: u64,
    lo: u64,
    hi: u64,
) -> Result<(Vec<(u64, u64)>, Segments), StoreError> {
    let (mut locs, runs, segments) = {
        let st = shared.read();
        let mut locs = Vec::new();
        st.active.stream_range(key, lo, hi, &mut locs);
        if let Some(f) = &st.frozen {
            f.memtable.stream_range(key, lo, hi, &mut locs);
        }
        (locs, st.stream_runs.clone(), st.segments.clone())
    };
    let mut found = Vec::new();
    for run in &runs {
        run.range(stream_version_key(key, lo), stream_version_key(key, hi), &mut found)
            .map_err(|e| StoreError::io(format!("reading index run {}", run.file_name), e))?;
    }
    locs.extend(found.into_iter().map(|(k, loc)| (k as u64, loc)));
    locs.sort_unstable();
    locs.dedup_by_key(|(v, _)| *v);
    if let Some(missing) =
        (lo..=hi).zip(locs.iter().map(|(v, _)| *v).chain(std::iter::repeat(u64::MAX))).find(|(want, got)| want != got)
    {
        return Err(index_damage(format!("the stream index lacks version {} of stream {stream:?}", missing.0)));
    }
    Ok((locs, segments))
}

/// Reads the event a stream index entry leads to, checking it is that
/// very event.
fn stream_event(segments: &Segments, stream: &str, version: u64, loc: u64) -> Result<RecordedEvent, StoreError> {
    let event = read_event_at(segments, Loc::unpack(loc))?;
    if event.stream != stream || event.version != version {
        return Err(index_damage(format!(
            "the stream index entry for version {version} of stream {stream:?} leads to version {} of stream {:?}",
            event.version, event.stream
        )));
    }
    Ok(event)
}

/// A stream as visible below position `end`: its head then (last version
/// and last position), or None when it did not exist yet. Past the head a
/// binary search over versions finds the last one below `end`.
fn head_below(shared: &Shared, stream: &str, end: u64) -> Result<Option<Head>, StoreError> {
    let Some(head) = shared.read().heads.get(stream).copied() else { return Ok(None) };
    if head.last_position < end {
        return Ok(Some(head));
    }
    if head.first_position >= end {
        return Ok(None);
    }
    let position_of = |version: u64| -> Result<u64, StoreError> {
        let (locs, segments) = stream_locs(shared, stream, head.key, version, version)?;
        Ok(stream_event(&segments, stream, version, locs[0].1)?.position)
    };
    // Version `lo` is below `end`, version `hi` is not.
    let (mut lo, mut hi, mut lo_position) = (0, head.last_version, head.first_position);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match position_of(mid)? {
            p if p < end => (lo, lo_position) = (mid, p),
            _ => hi = mid,
        }
    }
    Ok(Some(Head { last_version: lo, last_position: lo_position, ..head }))
}

/// A stream's info as visible below position `end`.
pub fn stream_info(shared: &Shared, stream: &str, end: u64) -> Result<Option<StreamInfo>, StoreError> {
    Ok(head_below(shared, stream, end)?.map(|h| StreamInfo {
        stream: stream.to_string(),
        last_version: h.last_version,
        first_position: h.first_position,
        last_position: h.last_position,
    }))
}

/// A page of a stream, seeing only events below position `end`.
pub fn read_stream(shared: &Shared, read: &ReadStream, end: u64) -> Result<Vec<RecordedEvent>, StoreError> {
    let limit = read.limit.min(hindsight_store::limits::READ_LIMIT_MAX) as u64;
    let stream = read.stream.as_str();
    let Some(head) = head_below(shared, stream, end)? else { return Ok(Vec::new()) };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (lo, hi) = match read.direction {
        Direction::Forward => {
            let lo = read.from.unwrap_or(0);
            if lo > head.last_version {
                return Ok(Vec::new());
            }
            (lo, lo.saturating_add(limit - 1).min(head.last_version))
        }
        Direction::Backward => {
            let hi = read.from.unwrap_or(head.last_version).min(head.last_version);
            (hi.saturating_sub(limit - 1), hi)
        }
    };
    let (mut locs, segments) = stream_locs(shared, stream, head.key, lo, hi)?;
    if read.direction == Direction::Backward {
        locs.reverse();
    }
    let mut out = Vec::with_capacity(locs.len());
    let mut page = hindsight_store::limits::Page::new(limit as usize);
    for (version, loc) in locs {
        if !page.has_room() {
            break;
        }
        let event = stream_event(&segments, stream, version, loc)?;
        page.add(&event);
        out.push(event);
    }
    Ok(out)
}

/// The sparse entry to start a scan for `position` from.
fn start_for_position(sparse: &[Sparse], position: u64) -> Option<Sparse> {
    let i = sparse.partition_point(|s| s.position <= position);
    i.checked_sub(1).map(|i| sparse[i])
}

/// Scans committed events from `start` (a commit boundary) in position
/// order, calling `visit` for each at or after `from` until it returns
/// false or the committed end is reached. Returns the last position seen.
fn scan(
    segments: &Segments,
    start: Loc,
    from: u64,
    next_position: u64,
    mut visit: impl FnMut(&crate::segment::record::EventView<'_>) -> bool,
) -> Result<(), StoreError> {
    for (&number, seg) in segments.range(start.segment..) {
        let offset = if number == start.segment { u64::from(start.offset) } else { HEADER_BYTES as u64 };
        let mut scanner = FrameScanner::new(seg.file.clone(), offset, seg.end());
        loop {
            match scanner.next_frame().map_err(|e| io_err(seg, e))? {
                Step::End => break,
                Step::Bad { offset, reason } => return Err(corrupt(seg, offset, None, reason)),
                Step::Frame { kind: KIND_EVENT, payload, offset, .. } => {
                    let Some(position) = event_position(payload) else {
                        return Err(corrupt(seg, offset, None, "event record too short"));
                    };
                    if position >= next_position {
                        return Ok(());
                    }
                    if position < from {
                        continue;
                    }
                    let view = decode_event(payload).map_err(|d| corrupt(seg, offset, Some(position), d))?;
                    if !visit(&view) {
                        return Ok(());
                    }
                }
                Step::Frame { .. } => {}
            }
        }
    }
    Ok(())
}

/// A page of `$all` in either direction, seeing only events below
/// position `end`.
pub fn read_all(shared: &Shared, read: &ReadAll, end: u64) -> Result<AllSlice, StoreError> {
    let end = end.min(shared.read().next_position);
    if let Some(terms) = filter_terms(&read.filter) {
        return postings::read_all(shared, read, &terms, end);
    }
    match read.direction {
        Direction::Forward => read_all_forward(shared, read.from.unwrap_or(0), end, read),
        Direction::Backward => read_all_backward(shared, end, read),
    }
}

fn read_all_forward(shared: &Shared, from: u64, end: u64, read: &ReadAll) -> Result<AllSlice, StoreError> {
    let limit = read.limit.min(hindsight_store::limits::READ_LIMIT_MAX);
    if from >= end || limit == 0 {
        return Ok(AllSlice { events: Vec::new(), next_position: from.min(end), end_of_log: from >= end });
    }
    let (start, segments) = {
        let st = shared.read();
        (start_for_position(&st.sparse, from), st.segments.clone())
    };
    let Some(start) = start else {
        return Err(StoreError::Backend(format!("no sparse index entry at or before position {from}")));
    };
    let mut events = Vec::new();
    let mut page = hindsight_store::limits::Page::new(limit);
    let mut last_seen = from;
    let mut examined = 0usize;
    scan(&segments, start.loc, from, end, |e| {
        last_seen = e.position;
        examined += 1;
        if read.filter.matches(e.stream, e.event_type) {
            let event = e.to_owned_event();
            page.add(&event);
            events.push(event);
        }
        page.has_room() && examined < hindsight_store::limits::READ_EXAMINED_MAX
    })?;
    let stopped_early = !page.has_room() || examined >= hindsight_store::limits::READ_EXAMINED_MAX;
    let next = if last_seen + 1 >= end || !stopped_early { end } else { last_seen + 1 };
    Ok(AllSlice { events, next_position: next, end_of_log: next >= end })
}

/// The posting lists that hold every event `filter` can match, when it
/// names any: its stream's or category's list, or its types' lists.
fn filter_terms(filter: &hindsight_store::Filter) -> Option<Vec<u64>> {
    use crate::index::{term_key, TermKind};
    let category = filter.category.as_deref().or(filter.stream.as_deref().map(hindsight_store::category_of));
    match category {
        Some(c) => Some(vec![term_key(TermKind::Category, c)]),
        None if !filter.event_types.is_empty() => {
            Some(filter.event_types.iter().map(|t| term_key(TermKind::EventType, t)).collect())
        }
        None => None,
    }
}

/// Backwards: scans a window of positions below `from` forwards (the log
/// can only be parsed forwards), keeping the page's worth of matches
/// nearest `from`. The window is the page's size unfiltered and the
/// examined limit filtered.
fn read_all_backward(shared: &Shared, end: u64, read: &ReadAll) -> Result<AllSlice, StoreError> {
    let limit = read.limit.min(hindsight_store::limits::READ_LIMIT_MAX);
    let Some(last) = end.checked_sub(1) else {
        return Ok(AllSlice { events: Vec::new(), next_position: 0, end_of_log: true });
    };
    let from = read.from.unwrap_or(last).min(last);
    if limit == 0 {
        return Ok(AllSlice { events: Vec::new(), next_position: from, end_of_log: false });
    }
    let window = if read.filter.is_empty() { limit } else { hindsight_store::limits::READ_EXAMINED_MAX };
    let lo = (from + 1).saturating_sub(window as u64);
    let (start, segments) = {
        let st = shared.read();
        (start_for_position(&st.sparse, lo), st.segments.clone())
    };
    let Some(start) = start else {
        return Err(StoreError::Backend(format!("no sparse index entry at or before position {lo}")));
    };
    let mut kept = NearestPage::new(limit);
    scan(&segments, start.loc, lo, from + 1, |e| {
        if read.filter.matches(e.stream, e.event_type) {
            kept.push(e.to_owned_event());
        }
        true
    })?;
    // A full page ends at its oldest event, as if the read had stopped
    // there; otherwise the whole window was examined.
    let lowest = if kept.is_full() { kept.events.front().map_or(lo, |e| e.position) } else { lo };
    Ok(AllSlice {
        events: kept.events.into_iter().rev().collect(),
        next_position: lowest.saturating_sub(1),
        end_of_log: lowest == 0,
    })
}

/// The last page's worth of events pushed in position order: what a
/// backwards page starting at the newest holds (`limit` events, or fewer
/// once their bytes reach the page's byte limit).
struct NearestPage {
    limit: usize,
    events: std::collections::VecDeque<RecordedEvent>,
    bytes: usize,
    /// Whether older events were dropped to keep within the page.
    dropped: bool,
}

impl NearestPage {
    fn new(limit: usize) -> Self {
        NearestPage { limit, events: Default::default(), bytes: 0, dropped: false }
    }

    /// Whether no further (older) event would fit.
    fn is_full(&self) -> bool {
        self.dropped
            || self.events.len() >= self.limit
            || (!self.events.is_empty() && self.bytes >= hindsight_store::limits::READ_BYTES_MAX)
    }

    fn push(&mut self, event: RecordedEvent) {
        let size = |e: &RecordedEvent| e.data.len() + e.metadata.len();
        self.bytes += size(&event);
        self.events.push_back(event);
        // A page from the newest takes an event while those before it
        // (newer ones) are under the byte limit.
        while self.events.len() > self.limit
            || (self.events.len() > 1
                && self.bytes - self.events.front().map_or(0, size) >= hindsight_store::limits::READ_BYTES_MAX)
        {
            if let Some(e) = self.events.pop_front() {
                self.bytes -= size(&e);
                self.dropped = true;
            }
        }
    }
}

/// Log bytes from the commit holding `from` (its sparse entry) to the
/// commit holding `to` (or the published end).
pub fn log_bytes_between(shared: &Shared, from: u64, to: u64) -> Option<u64> {
    let st = shared.read();
    let start = start_for_position(&st.sparse, from)?.loc;
    let end = if to >= st.next_position { st.tail } else { start_for_position(&st.sparse, to)?.loc };
    if end <= start {
        return Some(0);
    }
    let mut bytes = 0u64;
    for (&number, seg) in st.segments.range(start.segment..=end.segment) {
        let lo = if number == start.segment { u64::from(start.offset) } else { HEADER_BYTES as u64 };
        let hi = if number == end.segment { u64::from(end.offset) } else { seg.end() };
        bytes += hi.saturating_sub(lo);
    }
    Some(bytes)
}

pub fn position_at(shared: &Shared, timestamp_us: u64) -> Result<Option<u64>, StoreError> {
    let (next_position, start, segments) = {
        let st = shared.read();
        if st.next_position == 0 || st.last_timestamp_us < timestamp_us {
            return Ok(None);
        }
        // The last entry stamped before the time: the answer is at or after it.
        let i = st.sparse.partition_point(|s| s.timestamp_us < timestamp_us);
        let start = st.sparse[i.saturating_sub(1)];
        (st.next_position, start, st.segments.clone())
    };
    let mut found = None;
    scan(&segments, start.loc, start.position, next_position, |e| {
        if e.timestamp_us >= timestamp_us {
            found = Some(e.position);
            return false;
        }
        true
    })?;
    Ok(found)
}
