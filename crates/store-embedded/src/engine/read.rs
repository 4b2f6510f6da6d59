//! The read paths: single events by location, streams through the index,
//! `$all` and time lookups through the sparse position index.

use std::collections::BTreeMap;
use std::sync::Arc;

use hindsight_store::{AllSlice, Direction, Filter, RecordedEvent, StoreError};
use uuid::Uuid;

use super::state::{SegmentFile, Shared, State};
use crate::index::checkpoint::Sparse;
use crate::index::{id_key, stream_version_key};
use crate::segment::frame::{parse_frame, Parsed, KIND_EVENT};
use crate::segment::header::HEADER_BYTES;
use crate::segment::reader::{FrameScanner, Step};
use crate::segment::record::{decode_event, event_position};
use crate::segment::Loc;

pub type Segments = BTreeMap<u32, Arc<SegmentFile>>;

fn corrupt(seg: &SegmentFile, offset: u64, position: Option<u64>, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { segment: seg.path.display().to_string(), offset, position, detail: detail.into() }
}

fn io_err(seg: &SegmentFile, e: std::io::Error) -> StoreError {
    StoreError::io(format!("reading {}", seg.path.display()), e)
}

/// Reads the event whose frame starts at `loc`.
pub fn read_event_at(segments: &Segments, loc: Loc) -> Result<RecordedEvent, StoreError> {
    let seg = segments
        .get(&loc.segment)
        .ok_or_else(|| StoreError::Backend(format!("index points into missing segment {}", loc.segment)))?;
    let offset = u64::from(loc.offset);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = seg.file.read_full_at(&mut buf, offset).map_err(|e| io_err(seg, e))?;
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

pub fn read_stream(
    shared: &Shared,
    stream: &str,
    from: Option<u64>,
    direction: Direction,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let limit = limit.min(hindsight_store::limits::READ_LIMIT_MAX) as u64;
    let (key, lo, hi, mut locs, runs, segments) = {
        let st = shared.read();
        let Some(head) = st.heads.get(stream) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (lo, hi) = match direction {
            Direction::Forward => {
                let lo = from.unwrap_or(0);
                if lo > head.last_version {
                    return Ok(Vec::new());
                }
                (lo, lo.saturating_add(limit - 1).min(head.last_version))
            }
            Direction::Backward => {
                let hi = from.unwrap_or(head.last_version).min(head.last_version);
                (hi.saturating_sub(limit - 1), hi)
            }
        };
        let mut locs = Vec::new();
        st.active.stream_range(head.key, lo, hi, &mut locs);
        if let Some(f) = &st.frozen {
            f.memtable.stream_range(head.key, lo, hi, &mut locs);
        }
        (head.key, lo, hi, locs, st.stream_runs.clone(), st.segments.clone())
    };
    let mut found = Vec::new();
    for run in &runs {
        run.range(stream_version_key(key, lo), stream_version_key(key, hi), &mut found)
            .map_err(|e| StoreError::io(format!("reading index run {}", run.file_name), e))?;
    }
    locs.extend(found.into_iter().map(|(k, loc)| (k as u64, loc)));
    locs.sort_unstable();
    locs.dedup_by_key(|(v, _)| *v);
    // Every version in lo..=hi exists (the head says so): the index must
    // hold each exactly once, and each must lead to that very event.
    if let Some(missing) =
        (lo..=hi).zip(locs.iter().map(|(v, _)| *v).chain(std::iter::repeat(u64::MAX))).find(|(want, got)| want != got)
    {
        return Err(index_damage(format!("the stream index lacks version {} of stream {stream:?}", missing.0)));
    }
    if direction == Direction::Backward {
        locs.reverse();
    }
    let mut out = Vec::with_capacity(locs.len());
    let mut page = hindsight_store::limits::Page::new(limit as usize);
    for (version, loc) in locs {
        if !page.has_room() {
            break;
        }
        let event = read_event_at(&segments, Loc::unpack(loc))?;
        if event.stream != stream || event.version != version {
            return Err(index_damage(format!(
                "the stream index entry for version {version} of stream {stream:?} leads to version {} of stream {:?}",
                event.version, event.stream
            )));
        }
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

pub fn read_all(shared: &Shared, from: u64, limit: usize, filter: &Filter) -> Result<AllSlice, StoreError> {
    let limit = limit.min(hindsight_store::limits::READ_LIMIT_MAX);
    let (next_position, start, segments) = {
        let st = shared.read();
        if from >= st.next_position || limit == 0 {
            return Ok(AllSlice { events: Vec::new(), next_position: from, end_of_log: from >= st.next_position });
        }
        let start = start_for_position(&st.sparse, from);
        (st.next_position, start, st.segments.clone())
    };
    let Some(start) = start else {
        return Err(StoreError::Backend(format!("no sparse index entry at or before position {from}")));
    };
    let mut events = Vec::new();
    let mut page = hindsight_store::limits::Page::new(limit);
    let mut last_seen = from;
    let mut examined = 0usize;
    scan(&segments, start.loc, from, next_position, |e| {
        last_seen = e.position;
        examined += 1;
        if filter.matches(e.stream, e.event_type) {
            let event = e.to_owned_event();
            page.add(&event);
            events.push(event);
        }
        page.has_room() && examined < hindsight_store::limits::READ_EXAMINED_MAX
    })?;
    let stopped_early = !page.has_room() || examined >= hindsight_store::limits::READ_EXAMINED_MAX;
    let next = if last_seen + 1 >= next_position || !stopped_early { next_position } else { last_seen + 1 };
    Ok(AllSlice { events, next_position: next, end_of_log: next >= next_position })
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
