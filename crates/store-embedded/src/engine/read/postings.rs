//! Filtered `$all` reads through the posting lists: the positions of a
//! category's or a type's events, so a read costs time in proportion to
//! the events it returns, not to the log.
//!
//! Each source (the memtables, every run) gives its first (or, going
//! backwards, last) `budget` postings in range; their merge is exact as
//! far as the nearest point at which some source was cut off, and the
//! read stops there, returning that point to continue from.

use hindsight_store::limits::{Page, READ_EXAMINED_MAX, READ_LIMIT_MAX};
use hindsight_store::{AllSlice, Direction, ReadAll, RecordedEvent, StoreError};

use super::{index_damage, read_event_with, Segments};
use crate::engine::state::Shared;
use crate::index::posting_key;
use crate::index::run::Run;

/// Postings in range, position order, and how far they are complete.
struct Candidates {
    /// (position, location), sorted by position, no duplicates.
    postings: Vec<(u64, u64)>,
    /// Forwards: every posting below this position is in `postings`.
    /// Backwards: every posting at or above it is.
    exact_to: u64,
}

pub fn read_all(shared: &Shared, read: &ReadAll, terms: &[u64], end: u64) -> Result<AllSlice, StoreError> {
    let limit = read.limit.min(READ_LIMIT_MAX);
    let budget = limit.clamp(1, READ_EXAMINED_MAX);
    match read.direction {
        Direction::Forward => {
            let from = read.from.unwrap_or(0);
            if from >= end || limit == 0 {
                return Ok(AllSlice { events: Vec::new(), next_position: from.min(end), end_of_log: from >= end });
            }
            let (candidates, segments) = gather(shared, terms, from, end, budget, Direction::Forward)?;
            let (events, filled_at) = fill_page(&segments, read, limit, &candidates.postings)?;
            let next = filled_at.map_or(candidates.exact_to, |position| position + 1);
            Ok(AllSlice { events, next_position: next, end_of_log: next >= end })
        }
        Direction::Backward => {
            let Some(last) = end.checked_sub(1) else {
                return Ok(AllSlice { events: Vec::new(), next_position: 0, end_of_log: true });
            };
            let from = read.from.unwrap_or(last).min(last);
            if limit == 0 {
                return Ok(AllSlice { events: Vec::new(), next_position: from, end_of_log: false });
            }
            let (mut candidates, segments) = gather(shared, terms, 0, from + 1, budget, Direction::Backward)?;
            candidates.postings.reverse();
            let (events, filled_at) = fill_page(&segments, read, limit, &candidates.postings)?;
            let lowest = filled_at.unwrap_or(candidates.exact_to);
            Ok(AllSlice { events, next_position: lowest.saturating_sub(1), end_of_log: lowest == 0 })
        }
    }
}

/// Candidates read at once; large batches are read by several threads.
const FETCH_BATCH: usize = 2048;
/// Below this many, one thread reads them.
const PARALLEL_MIN: usize = 512;

/// Reads the events the postings (in the read's order) lead to and fills
/// a page with those that match the whole filter (a hash collision, or a
/// filter with more conditions than the term, can lead to one that does
/// not). Returns the page and, when it filled, the position it filled at.
fn fill_page(
    segments: &Segments,
    read: &ReadAll,
    limit: usize,
    postings: &[(u64, u64)],
) -> Result<(Vec<RecordedEvent>, Option<u64>), StoreError> {
    let mut events = Vec::new();
    let mut page = Page::new(limit);
    for batch in postings.chunks(FETCH_BATCH) {
        for (&(position, _), event) in batch.iter().zip(fetch(segments, batch)?) {
            if read.filter.matches(&event.stream, &event.event_type) {
                page.add(&event);
                events.push(event);
            }
            if !page.has_room() {
                return Ok((events, Some(position)));
            }
        }
    }
    Ok((events, None))
}

/// The events at these postings, in order, each checked to be at its
/// posting's position. A large batch is split over the machine's cores:
/// each event is one small read, and the reads, not the merge, are the
/// cost of a filtered read.
fn fetch(segments: &Segments, batch: &[(u64, u64)]) -> Result<Vec<RecordedEvent>, StoreError> {
    let read_some = |part: &[(u64, u64)]| -> Result<Vec<RecordedEvent>, StoreError> {
        let mut buf = Vec::new();
        part.iter()
            .map(|&(position, loc)| {
                let event = read_event_with(segments, crate::segment::Loc::unpack(loc), &mut buf)?;
                if event.position != position {
                    return Err(index_damage(format!(
                        "the posting for position {position} leads to position {}",
                        event.position
                    )));
                }
                Ok(event)
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if batch.len() < PARALLEL_MIN || threads < 2 {
        return read_some(batch);
    }
    let parts: Vec<Result<Vec<RecordedEvent>, StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            batch.chunks(batch.len().div_ceil(threads)).map(|part| scope.spawn(move || read_some(part))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(StoreError::Backend("a read thread panicked".into()))))
            .collect()
    });
    let mut out = Vec::with_capacity(batch.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// The postings of `terms` with positions in `lo..hi`: the first
/// `budget` of each source going forward, the last going backward.
fn gather(
    shared: &Shared,
    terms: &[u64],
    lo: u64,
    hi: u64,
    budget: usize,
    direction: Direction,
) -> Result<(Candidates, Segments), StoreError> {
    let forward = direction == Direction::Forward;
    let mut postings = Vec::new();
    let mut exact_to = if forward { hi } else { lo };
    // A source cut off at `budget` is exact only up to where it was cut.
    let mut cut = |got: &[(u64, u64)], truncated: bool| {
        if truncated {
            if let (true, Some(last)) = (forward, got.last()) {
                exact_to = exact_to.min(last.0 + 1);
            } else if let (false, Some(first)) = (forward, got.first()) {
                exact_to = exact_to.max(first.0);
            }
        }
    };
    let (runs, segments): (Vec<std::sync::Arc<Run>>, Segments) = {
        let st = shared.read();
        let frozen = st.frozen.as_ref().map(|f| &f.memtable);
        for memtable in std::iter::once(&st.active).chain(frozen) {
            for &term in terms {
                let all = memtable.postings(term, lo, hi);
                let kept =
                    if forward { &all[..all.len().min(budget)] } else { &all[all.len().saturating_sub(budget)..] };
                cut(kept, kept.len() < all.len());
                postings.extend_from_slice(kept);
            }
        }
        (st.posting_runs.clone(), st.segments.clone())
    };
    let mut found = Vec::new();
    for run in &runs {
        for &term in terms {
            found.clear();
            let (from_key, to_key) = (posting_key(term, lo), posting_key(term, hi - 1));
            let truncated = if forward {
                run.range_first(from_key, to_key, budget, &mut found)
            } else {
                run.range_last(from_key, to_key, budget, &mut found)
            }
            .map_err(|e| StoreError::io(format!("reading index run {}", run.file_name), e))?;
            let got: Vec<(u64, u64)> = found.iter().map(|&(k, loc)| (k as u64, loc)).collect();
            cut(&got, truncated);
            postings.extend(got);
        }
    }
    postings.sort_unstable();
    postings.dedup_by_key(|p| p.0);
    postings.retain(|p| if forward { p.0 < exact_to } else { p.0 >= exact_to });
    Ok((Candidates { postings, exact_to }, segments))
}
