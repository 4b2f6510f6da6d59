//! Answers about subjects' pasts, for any kind of subject: a [`Feed`]
//! says how a subject's events are found, read again and folded (a
//! stream's document in `streams.rs`, a projection partition in the
//! projections crate), and [`Histories`] keeps each subject's index,
//! built on first use and caught up on each later question, and builds
//! the answers (state, history, diff, blame, watch) the API and the CLI
//! print. Everything here blocks (folds may run a sandbox that cannot
//! move between threads): callers run it on a blocking thread, and feeds
//! read through [`tokio::runtime::Handle::block_on`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hindsight_store::{AsOf, RecordedEvent, StoreError};
use serde_json::{json, Value};

use crate::subject::{Change, EventRef};
use crate::writeset::{self, LeafChange};
use crate::{pointer, Predicate, Spacing, Subject};

/// Why a question about the past has no answer.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{kind} {name:?} does not exist")]
    NotFound { kind: &'static str, name: String },
    #[error("{0}")]
    Invalid(String),
    #[error("nothing at {pointer} in {kind} {name:?} was ever set as of that point")]
    NeverSet { kind: &'static str, name: String, pointer: String },
    /// The work could not be finished (a thread panicked, a runtime went).
    #[error("{0}")]
    Failed(String),
}

impl HistoryError {
    /// The error as the API answers it (status, code, message, details),
    /// which the CLI prints too.
    pub fn to_wire(&self) -> hindsight_wire::WireError {
        use hindsight_wire::WireError;
        match self {
            HistoryError::Store(e) => WireError::from_store(e),
            HistoryError::NotFound { kind, name } => {
                WireError::new(404, not_found_code(kind), self.to_string()).with_details(json!({ *kind: name }))
            }
            HistoryError::Invalid(_) => WireError::new(400, "invalid_query", self.to_string()),
            HistoryError::NeverSet { kind, name, pointer } => WireError::new(404, "never_set", self.to_string())
                .with_details(json!({ *kind: name, "pointer": pointer })),
            HistoryError::Failed(_) => WireError::new(500, "internal_error", self.to_string()),
        }
    }
}

fn not_found_code(kind: &str) -> &'static str {
    match kind {
        "stream" => "stream_not_found",
        "projection" => "projection_not_found",
        "version" => "version_not_found",
        "snapshot" => "snapshot_not_found",
        "fork" => "fork_not_found",
        _ => "partition_not_found",
    }
}

/// Folds one subject's events; may hold a sandbox, so it lives on the
/// thread that made it.
pub trait Folder {
    /// Folds `event` into `state` and says what changed; None when the
    /// event is not the subject's (another partition) or its handler
    /// failed (the live projection parks it: it changes nothing).
    fn fold(&mut self, state: &mut Value, event: &RecordedEvent) -> Result<Option<Vec<LeafChange>>, HistoryError>;

    /// Folds a run of the subject's own events when only the state after
    /// them is wanted (a fold may skip working out what changed).
    fn fold_all(&mut self, state: &mut Value, events: &[RecordedEvent]) -> Result<(), HistoryError> {
        for e in events {
            self.fold(state, e)?;
        }
        Ok(())
    }
}

/// How one kind of subject is found, read and folded. Its reads block.
pub trait Feed: Send + Sync {
    /// ("stream", name) or ("partition", key): how answers name it.
    fn label(&self) -> (&'static str, &str);
    /// The stream `version:N` points refer to, if any.
    fn version_stream(&self) -> Option<&str>;
    fn init(&self) -> Value;
    /// Candidate events in log order from position `from` on, at most
    /// `limit`; `last` is the last candidate of the pages read before
    /// (the subject's last event, for feeds whose candidates all fold).
    fn after(&self, last: Option<&EventRef>, from: u64, limit: usize) -> Result<Page, HistoryError>;
    /// The subject's events at `refs` (a run of consecutive ones), in order.
    fn read(&self, refs: &[EventRef]) -> Result<Vec<RecordedEvent>, HistoryError>;

    /// The events at `refs` (any of the subject's, in order): one by one
    /// unless the feed can do better.
    fn read_scattered(&self, refs: &[EventRef]) -> Result<Vec<RecordedEvent>, HistoryError> {
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            out.extend(self.read(std::slice::from_ref(r))?);
        }
        Ok(out)
    }
    fn folder(&self) -> Result<Box<dyn Folder + '_>, HistoryError>;
    /// The exclusive end position `at` resolves to (None: the head).
    fn end(&self, at: Option<AsOf>) -> Result<u64, HistoryError>;
    /// One past the last committed position now.
    fn head(&self) -> u64;
}

/// Candidate events, and where the next page starts.
pub struct Page {
    pub events: Vec<RecordedEvent>,
    /// Every candidate below this position is in this page or before it.
    pub next_from: u64,
    /// No candidate is left below the head the read saw.
    pub done: bool,
}

/// Events the indexes in memory hold at most between them (about 160
/// bytes each with small states): beyond it the least recently asked
/// subjects are dropped, to be built again if asked.
pub const EVENTS_MAX: u64 = 10_000_000;

/// Events read per page when building or folding.
pub const PAGE: usize = 1_000;

struct Cached {
    subject: RwLock<Subject>,
    /// Its events (for the memory budget), as of its last catch-up.
    events: AtomicU64,
    used: AtomicU64,
    /// Every candidate event below this position has been seen.
    through: AtomicU64,
}

/// Subjects' history indexes by key, built as asked, at most `capacity`
/// of them (the least recently asked go first).
pub struct Histories {
    spacing: Spacing,
    capacity: usize,
    cache: Mutex<HashMap<String, Arc<Cached>>>,
    tick: AtomicU64,
}

fn read_lock<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

impl Histories {
    pub fn new(spacing: Spacing, capacity: usize) -> Self {
        Histories { spacing, capacity: capacity.max(1), cache: Mutex::new(HashMap::new()), tick: AtomicU64::new(0) }
    }

    /// (subjects, events, approximate bytes) of the indexes held now.
    pub fn stats(&self) -> (usize, usize, usize) {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.values().fold((0, 0, 0), |(n, events, bytes), c| {
            let s = read_lock(&c.subject);
            (n + 1, events + s.events().len(), bytes + s.approx_bytes())
        })
    }

    /// Forgets every subject whose key starts with `prefix` (a projection
    /// deleted or reset).
    pub fn forget(&self, prefix: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, _| !k.starts_with(prefix));
    }

    /// The subject's index, caught up through `end` (exclusive).
    fn subject(&self, key: &str, feed: &dyn Feed, end: u64) -> Result<Arc<Cached>, HistoryError> {
        let cached = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if !cache.contains_key(key) && cache.len() >= self.capacity {
                drop_oldest(&mut cache, key);
            }
            let new = || Cached {
                subject: RwLock::new(Subject::new(feed.init(), self.spacing)),
                events: AtomicU64::new(0),
                used: AtomicU64::new(0),
                through: AtomicU64::new(0),
            };
            cache.entry(key.to_string()).or_insert_with(|| Arc::new(new())).clone()
        };
        cached.used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        if cached.through.load(Ordering::Acquire) < end {
            let mut s = cached.subject.write().unwrap_or_else(|p| p.into_inner());
            catch_up(&mut s, &cached.through, feed)?;
            cached.events.store(s.events().len() as u64, Ordering::Relaxed);
            drop(s);
            self.trim(key);
        }
        Ok(cached)
    }

    /// Drops the least recently asked subjects (never `keep`) while the
    /// indexes hold more than [`EVENTS_MAX`] events between them.
    fn trim(&self, keep: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut total: u64 = cache.values().map(|c| c.events.load(Ordering::Relaxed)).sum();
        while total > EVENTS_MAX {
            let Some(events) = drop_oldest(&mut cache, keep) else { return };
            total -= events;
        }
    }
}

/// Drops the least recently asked subject other than `keep`; its events.
fn drop_oldest(cache: &mut HashMap<String, Arc<Cached>>, keep: &str) -> Option<u64> {
    let oldest = cache
        .iter()
        .filter(|(k, _)| k.as_str() != keep)
        .min_by_key(|(_, c)| c.used.load(Ordering::Relaxed))
        .map(|(k, _)| k.clone())?;
    cache.remove(&oldest).map(|c| c.events.load(Ordering::Relaxed))
}

/// Pages read ahead of the fold when catching up over more than a page:
/// one thread reads (and decodes) the next pages while this one folds.
const READ_AHEAD: usize = 2;

/// Folds every candidate event the subject has not seen. Over more than
/// a page, a scoped thread reads the pages ahead of the fold (a history
/// of a million events is read and folded at once, not in turns).
fn catch_up(s: &mut Subject, through: &AtomicU64, feed: &dyn Feed) -> Result<(), HistoryError> {
    let folder = feed.folder()?;
    // Every candidate below `head` is in the pages read from here on.
    let head = feed.head();
    let from = through.load(Ordering::Acquire);
    let pages = Pages { feed, last: s.events().last().copied(), from, finished: false };
    if head.saturating_sub(from) <= PAGE as u64 {
        return fold_pages(s, through, head, folder, pages);
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        scope.spawn(move || {
            for page in pages {
                if tx.send(page).is_err() {
                    return;
                }
            }
        });
        fold_pages(s, through, head, folder, rx.into_iter())
    })
}

/// Folds pages in order, noting after each how far the subject has seen.
fn fold_pages(
    s: &mut Subject,
    through: &AtomicU64,
    head: u64,
    mut folder: Box<dyn Folder + '_>,
    pages: impl Iterator<Item = Result<Page, HistoryError>>,
) -> Result<(), HistoryError> {
    for page in pages {
        let page = page?;
        for e in &page.events {
            let mut fold_error = None;
            s.fold_with(e.position, e.version, |state| match folder.fold(state, e) {
                Ok(changes) => changes,
                Err(err) => {
                    fold_error = Some(err);
                    None
                }
            });
            if let Some(err) = fold_error {
                return Err(err);
            }
        }
        through.fetch_max(page.next_from, Ordering::AcqRel);
        if page.done {
            through.fetch_max(head, Ordering::AcqRel);
            return Ok(());
        }
    }
    Err(HistoryError::Failed("the history's reader stopped before the end".into()))
}

/// A feed's candidate pages from a position on, until one is done or a
/// read fails.
struct Pages<'a> {
    feed: &'a dyn Feed,
    /// The last candidate read so far (see [`Feed::after`]).
    last: Option<EventRef>,
    from: u64,
    finished: bool,
}

impl Iterator for Pages<'_> {
    type Item = Result<Page, HistoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let page = self.feed.after(self.last.as_ref(), self.from, PAGE);
        match &page {
            Ok(p) => {
                self.from = self.from.max(p.next_from);
                if let Some(e) = p.events.last() {
                    self.last = Some(EventRef { position: e.position, version: e.version, changes: 0 });
                }
                self.finished = p.done;
            }
            Err(_) => self.finished = true,
        }
        Some(page)
    }
}

/// The subject's name in answers: `{"stream": name}` or `{"partition": key}`.
fn named(feed: &dyn Feed, mut fields: Value) -> Value {
    let (kind, name) = feed.label();
    if let Value::Object(m) = &mut fields {
        m.insert(kind.to_string(), Value::String(name.to_string()));
    }
    fields
}

fn not_found(feed: &dyn Feed) -> HistoryError {
    let (kind, name) = feed.label();
    HistoryError::NotFound { kind, name: name.to_string() }
}

/// The state after the subject's first `count` events: the keyframe
/// before it and the events after, read and folded. Also answers the
/// keyframe's position and how many events were folded onto it.
fn state_at(feed: &dyn Feed, s: &Subject, count: usize) -> Result<(Value, Option<u64>, usize), HistoryError> {
    let (frame, rest) = s.plan(count);
    let mut state = (*frame.state).clone();
    let mut folder = feed.folder()?;
    for chunk in rest.chunks(PAGE) {
        folder.fold_all(&mut state, &feed.read(chunk)?)?;
    }
    Ok((state, frame.position, rest.len()))
}

impl Histories {
    /// The state as of a point: `{<kind>, "state", "position", "version",
    /// "keyframe_position", "events_folded"}`.
    pub fn state(&self, key: &str, feed: &dyn Feed, at: Option<AsOf>) -> Result<Value, HistoryError> {
        let end = feed.end(at)?;
        let cached = self.subject(key, feed, end)?;
        let s = read_lock(&cached.subject);
        let count = s.count_before(end);
        if count == 0 {
            return Err(not_found(feed));
        }
        let (state, keyframe, folded) = state_at(feed, &s, count)?;
        let last = s.events()[count - 1];
        Ok(named(
            feed,
            json!({
                "state": state, "position": last.position, "version": last.version,
                "keyframe_position": keyframe, "events_folded": folded,
            }),
        ))
    }

    /// The events after `from` through `until` that changed the state,
    /// oldest first, each with the RFC 6902 patch it caused; at most
    /// `limit`, then `next_from` is where the next page starts.
    pub fn history(
        &self,
        key: &str,
        feed: &dyn Feed,
        from: Option<AsOf>,
        until: Option<AsOf>,
        limit: usize,
    ) -> Result<Value, HistoryError> {
        let until_end = feed.end(until)?;
        let from_end = from.map(|f| feed.end(Some(f))).transpose()?;
        let cached = self.subject(key, feed, until_end)?;
        let s = read_lock(&cached.subject);
        if s.events().is_empty() {
            return Err(not_found(feed));
        }
        let (first, last) = (from_end.map_or(0, |e| s.count_before(e)), s.count_before(until_end));
        if first > last {
            return Err(HistoryError::Invalid("from is after until".into()));
        }
        let (mut state, _, _) = state_at(feed, &s, first)?;
        let mut folder = feed.folder()?;
        let mut changes: Vec<Value> = Vec::new();
        let mut next_from = None;
        'pages: for chunk in s.events()[first..last].chunks(PAGE) {
            for e in feed.read(chunk)? {
                let before = state.clone();
                folder.fold(&mut state, &e)?;
                if before == state {
                    continue;
                }
                if changes.len() == limit {
                    let last = changes.last().and_then(|c| c["event"]["position"].as_u64()).unwrap_or(0);
                    next_from = Some(format!("position:{last}"));
                    break 'pages;
                }
                changes.push(json!({ "event": summary(&e), "patch": json_patch::diff(&before, &state) }));
            }
        }
        Ok(named(feed, json!({ "changes": changes, "next_from": next_from })))
    }

    /// What changed between two points: an RFC 6902 patch from the first
    /// state to the second, or (`side_by_side`) both states and the
    /// leaves that differ.
    pub fn diff(
        &self,
        key: &str,
        feed: &dyn Feed,
        from: AsOf,
        to: Option<AsOf>,
        side_by_side: bool,
    ) -> Result<Value, HistoryError> {
        let (a_end, b_end) = (feed.end(Some(from))?, feed.end(to)?);
        let cached = self.subject(key, feed, a_end.max(b_end))?;
        let s = read_lock(&cached.subject);
        if s.events().is_empty() {
            return Err(not_found(feed));
        }
        let side = |count: usize| s.events()[..count].last().map(|e| e.position);
        let (a_count, b_count) = (s.count_before(a_end), s.count_before(b_end));
        let (a, _, _) = state_at(feed, &s, a_count)?;
        let (b, _, _) = state_at(feed, &s, b_count)?;
        let (a_at, b_at) = (side(a_count), side(b_count));
        if side_by_side {
            let changed: Vec<String> = writeset::changes(Some(&a), Some(&b)).into_iter().map(|c| c.pointer).collect();
            let body = json!({
                "from": { "position": a_at, "state": a }, "to": { "position": b_at, "state": b }, "changed": changed,
            });
            return Ok(named(feed, body));
        }
        let patch = json_patch::diff(&a, &b);
        Ok(named(feed, json!({ "from_position": a_at, "to_position": b_at, "patch": patch })))
    }

    /// The event that set what `at` holds as of a point, what it changed
    /// there, and up to `limit` earlier changes (newest first).
    pub fn blame(
        &self,
        key: &str,
        feed: &dyn Feed,
        at: &str,
        as_of: Option<AsOf>,
        limit: usize,
    ) -> Result<Value, HistoryError> {
        pointer::check(at).map_err(HistoryError::Invalid)?;
        let end = feed.end(as_of)?;
        let cached = self.subject(key, feed, end)?;
        let s = read_lock(&cached.subject);
        let count = s.count_before(end);
        if count == 0 {
            return Err(not_found(feed));
        }
        let (kind, name) = feed.label();
        let never = || HistoryError::NeverSet { kind, name: name.to_string(), pointer: at.to_string() };
        let blame = s.blame(at, count, limit).ok_or_else(never)?;
        let value = match leaf_value(&blame.current, at) {
            Some(v) => Some(v),
            None => state_at(feed, &s, count)?.0.pointer(at).cloned(),
        };
        let changes: Vec<&Change> = std::iter::once(&blame.current).chain(&blame.history).collect();
        let mut described = changes_json(feed, &changes, at)?.into_iter();
        let current = described.next().unwrap_or(Value::Null);
        let history: Vec<Value> = described.collect();
        // The next page: the blame as of just before the oldest listed change.
        let oldest = blame.history.last().unwrap_or(&blame.current).event.position;
        let next_as_of = (blame.more && oldest > 0).then(|| format!("position:{}", oldest - 1));
        let body = json!({
            "pointer": at, "exists": value.is_some(), "value": value,
            "event": current["event"], "writes": current["writes"], "history": history, "more": blame.more,
            "next_as_of": next_as_of,
        });
        Ok(named(feed, body))
    }

    /// The nearest event, backward from a point (at or before it) or
    /// forward (after it), at which `predicate` on `at` became true.
    pub fn watch(
        &self,
        key: &str,
        feed: &dyn Feed,
        at: &str,
        predicate: &Predicate,
        from: Option<AsOf>,
        backward: bool,
    ) -> Result<Value, HistoryError> {
        pointer::check(at).map_err(HistoryError::Invalid)?;
        let end = feed.end(from)?;
        let cached = self.subject(key, feed, feed.head().max(end))?;
        let s = read_lock(&cached.subject);
        if s.events().is_empty() {
            return Err(not_found(feed));
        }
        let found = s.watch(at, predicate, s.count_before(end), backward);
        let change = match &found {
            Some(c) => changes_json(feed, &[c], at)?.into_iter().next().unwrap_or(Value::Null),
            None => Value::Null,
        };
        let exact = found.as_ref().and_then(|c| c.writes.iter().find(|w| w.pointer == at));
        let body = json!({
            "pointer": at, "found": found.is_some(), "event": change.get("event"), "writes": change.get("writes"),
            "value": exact.map(|w| &w.new), "previous": exact.map(|w| &w.old),
        });
        Ok(named(feed, body))
    }
}

/// What the timeline asks of [`Histories::timeline`]: a page of the
/// subject's events by index, where a point falls, and sampled times.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimelineAsk {
    /// The first index listed.
    pub from: usize,
    /// At most this many listed.
    pub limit: usize,
    /// Also answer the index of the last event at or before this point.
    pub at: Option<AsOf>,
    /// Also answer this many events spread evenly from the first to the
    /// last, with their timestamps, to label a time axis.
    pub ticks: usize,
}

impl Histories {
    /// The subject's events by index (0 is its first event): how many
    /// there are now, a page of them (`index`, `position`, `version`,
    /// `changes`: the leaves it changed), where a point falls, and ticks
    /// for a time axis. A scrubber pages through this instead of the
    /// events, so opening a subject with a million events reads a few.
    pub fn timeline(&self, key: &str, feed: &dyn Feed, ask: TimelineAsk) -> Result<Value, HistoryError> {
        let at_end = ask.at.map(|a| feed.end(Some(a))).transpose()?;
        let cached = self.subject(key, feed, feed.head())?;
        let s = read_lock(&cached.subject);
        let events = s.events();
        if events.is_empty() {
            return Err(not_found(feed));
        }
        let row = |i: usize, e: &EventRef| json!({ "index": i, "position": e.position, "version": e.version, "changes": e.changes });
        let page: Vec<Value> =
            events.iter().enumerate().skip(ask.from).take(ask.limit).map(|(i, e)| row(i, e)).collect();
        let at_index = at_end.map(|end| s.count_before(end).checked_sub(1));
        let ticks = ticks(feed, events, ask.ticks)?;
        let body = json!({
            "count": events.len(), "from": ask.from, "events": page, "at_index": at_index, "ticks": ticks,
        });
        Ok(named(feed, body))
    }
}

/// `n` events spread evenly over `events` (the first and the last among
/// them when `n` > 1), each with its index and timestamp.
fn ticks(feed: &dyn Feed, events: &[EventRef], n: usize) -> Result<Vec<Value>, HistoryError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let last = events.len() - 1;
    let mut indexes: Vec<usize> = (0..n).map(|k| if n == 1 { last } else { k * last / (n - 1) }).collect();
    indexes.dedup();
    let refs: Vec<EventRef> = indexes.iter().map(|&i| events[i]).collect();
    let read = feed.read_scattered(&refs)?;
    let by_position: HashMap<u64, &RecordedEvent> = read.iter().map(|e| (e.position, e)).collect();
    let mut out = Vec::with_capacity(indexes.len());
    for (i, r) in indexes.iter().zip(&refs) {
        let e = by_position
            .get(&r.position)
            .ok_or_else(|| StoreError::Backend(format!("the event at position {} could not be read", r.position)))?;
        out.push(json!({ "index": i, "position": r.position, "timestamp": hindsight_wire::rfc3339(e.timestamp_us) }));
    }
    Ok(out)
}

/// The leaf a change left at exactly `at`, when it set one there.
fn leaf_value(c: &Change, at: &str) -> Option<Value> {
    c.writes.iter().find(|w| w.pointer == at).and_then(|w| w.new.clone())
}

/// Changes as JSON (newest first, as given): each event (without its
/// data), the leaves it changed at or under the pointer, and the leaf
/// value it left at the pointer. The events are read in one go.
fn changes_json(feed: &dyn Feed, changes: &[&Change], at: &str) -> Result<Vec<Value>, HistoryError> {
    let mut refs: Vec<EventRef> = changes.iter().map(|c| c.event).collect();
    refs.sort_by_key(|r| r.position);
    let events = feed.read_scattered(&refs)?;
    let by_position: HashMap<u64, &RecordedEvent> = events.iter().map(|e| (e.position, e)).collect();
    let mut out = Vec::with_capacity(changes.len());
    for c in changes {
        let e = by_position.get(&c.event.position).ok_or_else(|| {
            StoreError::Backend(format!("the event at position {} could not be read", c.event.position))
        })?;
        out.push(json!({ "value": leaf_value(c, at), "event": summary(e), "writes": c.writes }));
    }
    Ok(out)
}

/// An event as the API writes it, without its data.
fn summary(e: &RecordedEvent) -> Value {
    let mut v: Value = serde_json::from_str(&hindsight_wire::event_json(e)).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("data");
    }
    v
}
