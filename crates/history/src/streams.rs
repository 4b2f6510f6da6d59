//! Time travel over raw streams: each stream's document (its events' data
//! as JSON Merge Patches), answered through any [`EventReader`] (the live
//! store, a view of the past, a fork). A stream's [`Subject`] is built on
//! first use by reading the stream once, kept in memory and caught up
//! with the events appended since on each later question; it is derived,
//! so dropping it (eviction, a restart) loses nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hindsight_store::{end_position, AsOf, EventReader, ReadStream, RecordedEvent, StoreError};
use serde_json::{json, Value};
use tokio::sync::RwLock;

use crate::subject::{Change, EventRef};
use crate::{document, pointer, writeset, Predicate, Spacing, Subject};

/// Why a question about the past has no answer.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stream {0:?} does not exist")]
    StreamNotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("nothing at {pointer} in stream {stream:?} was ever set as of that point")]
    NeverSet { stream: String, pointer: String },
}

impl HistoryError {
    /// The error as the API answers it (status, code, message, details),
    /// which the CLI prints too.
    pub fn to_wire(&self) -> hindsight_wire::WireError {
        use hindsight_wire::WireError;
        match self {
            HistoryError::Store(e) => WireError::from_store(e),
            HistoryError::StreamNotFound(stream) => {
                WireError::new(404, "stream_not_found", self.to_string()).with_details(json!({ "stream": stream }))
            }
            HistoryError::Invalid(_) => WireError::new(400, "invalid_query", self.to_string()),
            HistoryError::NeverSet { stream, pointer } => WireError::new(404, "never_set", self.to_string())
                .with_details(json!({ "stream": stream, "pointer": pointer })),
        }
    }
}

/// `backward` (the default) or `forward`: true for backward.
pub fn backward(direction: Option<&str>) -> Result<bool, HistoryError> {
    match direction {
        None | Some("backward" | "backwards") => Ok(true),
        Some("forward" | "forwards") => Ok(false),
        Some(other) => Err(HistoryError::Invalid(format!("direction {other:?}: use backward or forward"))),
    }
}

/// `patch` (the default) or `side-by-side`: true for side by side.
pub fn side_by_side(format: Option<&str>) -> Result<bool, HistoryError> {
    match format {
        None | Some("patch") => Ok(false),
        Some("side-by-side") => Ok(true),
        Some(other) => Err(HistoryError::Invalid(format!("format {other:?}: use patch or side-by-side"))),
    }
}

/// A point in the store's as-of syntax.
pub fn point(text: Option<&str>) -> Result<Option<AsOf>, HistoryError> {
    text.map(|t| t.parse::<AsOf>().map_err(|e| HistoryError::Store(e.into()))).transpose()
}

/// Events read per page when building or folding.
const PAGE: usize = 1_000;

struct Cached {
    subject: RwLock<Subject>,
    used: AtomicU64,
    /// Every event of the stream below this position is folded.
    through: AtomicU64,
}

/// Every stream's history index, built as asked, at most `capacity`
/// streams' (the least recently asked go first).
pub struct Streams {
    spacing: Spacing,
    capacity: usize,
    cache: Mutex<HashMap<String, Arc<Cached>>>,
    tick: AtomicU64,
}

impl Streams {
    pub fn new(spacing: Spacing, capacity: usize) -> Self {
        Streams { spacing, capacity: capacity.max(1), cache: Mutex::new(HashMap::new()), tick: AtomicU64::new(0) }
    }

    /// The stream's index, caught up through `end` (exclusive).
    async fn subject(&self, reader: &dyn EventReader, stream: &str, end: u64) -> Result<Arc<Cached>, HistoryError> {
        let cached = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if !cache.contains_key(stream) && cache.len() >= self.capacity {
                let oldest = cache.iter().min_by_key(|(_, c)| c.used.load(Ordering::Relaxed)).map(|(k, _)| k.clone());
                oldest.map(|k| cache.remove(&k));
            }
            cache
                .entry(stream.to_string())
                .or_insert_with(|| {
                    Arc::new(Cached {
                        subject: RwLock::new(Subject::new(document::init(), self.spacing)),
                        used: AtomicU64::new(0),
                        through: AtomicU64::new(0),
                    })
                })
                .clone()
        };
        cached.used.store(self.tick.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        if cached.through.load(Ordering::Acquire) < end {
            let mut s = cached.subject.write().await;
            // Reads from here on see at least every event below `head`.
            let head = reader.next_position();
            loop {
                let from = s.events().last().map_or(0, |e| e.version + 1);
                let page = reader.read_stream(&ReadStream::forward(stream).from(from).limit(PAGE)).await?;
                for e in &page {
                    let data = parse(e)?;
                    s.fold(e.position, e.version, |doc| document::apply(doc, &data));
                }
                if page.len() < PAGE {
                    break;
                }
            }
            cached.through.fetch_max(head, Ordering::AcqRel);
        }
        Ok(cached)
    }

    /// The exclusive end a point resolves to (None: the head).
    async fn end(reader: &dyn EventReader, stream: &str, at: Option<AsOf>) -> Result<u64, HistoryError> {
        match at {
            Some(at) => Ok(end_position(reader, at, Some(stream)).await?),
            None => Ok(reader.next_position()),
        }
    }

    /// The document as of a point: `{"stream", "state", "position",
    /// "version", "keyframe_position", "events_folded"}`.
    pub async fn state(&self, reader: &dyn EventReader, stream: &str, at: Option<AsOf>) -> Result<Value, HistoryError> {
        let end = Self::end(reader, stream, at).await?;
        let cached = self.subject(reader, stream, end).await?;
        let s = cached.subject.read().await;
        let count = s.count_before(end);
        if count == 0 {
            return Err(HistoryError::StreamNotFound(stream.to_string()));
        }
        let (state, keyframe, folded) = state_at(reader, stream, &s, count).await?;
        let last = s.events()[count - 1];
        Ok(json!({
            "stream": stream, "state": state, "position": last.position, "version": last.version,
            "keyframe_position": keyframe, "events_folded": folded,
        }))
    }
}

impl Streams {
    /// The events after `from` through `until` that changed the document,
    /// oldest first, each with the RFC 6902 patch it caused; at most
    /// `limit`, then `next_from` is where the next page starts.
    pub async fn history(
        &self,
        reader: &dyn EventReader,
        stream: &str,
        from: Option<AsOf>,
        until: Option<AsOf>,
        limit: usize,
    ) -> Result<Value, HistoryError> {
        let until_end = Self::end(reader, stream, until).await?;
        let from_end = match from {
            Some(f) => Some(Self::end(reader, stream, Some(f)).await?),
            None => None,
        };
        let cached = self.subject(reader, stream, until_end).await?;
        let s = cached.subject.read().await;
        if s.count_before(until_end) == 0 && s.events().is_empty() {
            return Err(HistoryError::StreamNotFound(stream.to_string()));
        }
        let (first, last) = (from_end.map_or(0, |e| s.count_before(e)), s.count_before(until_end));
        if first > last {
            return Err(HistoryError::Invalid("from is after until".into()));
        }
        let (mut state, _, _) = state_at(reader, stream, &s, first).await?;
        let mut changes = Vec::new();
        let mut next_from = None;
        'pages: for chunk in s.events()[first..last].chunks(PAGE) {
            for e in read_refs(reader, stream, chunk).await? {
                let before = state.clone();
                document::apply(&mut state, &parse(&e)?);
                if before == state {
                    continue;
                }
                if changes.len() == limit {
                    next_from = Some(format!("position:{}", changes_last_position(&changes)));
                    break 'pages;
                }
                changes.push(json!({ "event": summary(&e), "patch": json_patch::diff(&before, &state) }));
            }
        }
        Ok(json!({ "stream": stream, "changes": changes, "next_from": next_from }))
    }

    /// What changed between two points: an RFC 6902 patch from the first
    /// document to the second, or (`side_by_side`) both documents and the
    /// leaves that differ.
    pub async fn diff(
        &self,
        reader: &dyn EventReader,
        stream: &str,
        from: AsOf,
        to: Option<AsOf>,
        side_by_side: bool,
    ) -> Result<Value, HistoryError> {
        let (a_end, b_end) = (Self::end(reader, stream, Some(from)).await?, Self::end(reader, stream, to).await?);
        let cached = self.subject(reader, stream, a_end.max(b_end)).await?;
        let s = cached.subject.read().await;
        if s.events().is_empty() {
            return Err(HistoryError::StreamNotFound(stream.to_string()));
        }
        let side = |count: usize| s.events()[..count].last().map(|e| e.position);
        let (a_count, b_count) = (s.count_before(a_end), s.count_before(b_end));
        let (a, _, _) = state_at(reader, stream, &s, a_count).await?;
        let (b, _, _) = state_at(reader, stream, &s, b_count).await?;
        let (a_at, b_at) = (side(a_count), side(b_count));
        if side_by_side {
            let changed: Vec<String> = writeset::changes(Some(&a), Some(&b)).into_iter().map(|c| c.pointer).collect();
            return Ok(json!({
                "stream": stream, "from": { "position": a_at, "state": a }, "to": { "position": b_at, "state": b },
                "changed": changed,
            }));
        }
        let patch = json_patch::diff(&a, &b);
        Ok(json!({ "stream": stream, "from_position": a_at, "to_position": b_at, "patch": patch }))
    }

    /// The event that set what `at` holds as of a point, what it changed
    /// there, and up to `limit` earlier changes (newest first).
    pub async fn blame(
        &self,
        reader: &dyn EventReader,
        stream: &str,
        at: &str,
        as_of: Option<AsOf>,
        limit: usize,
    ) -> Result<Value, HistoryError> {
        pointer::check(at).map_err(HistoryError::Invalid)?;
        let end = Self::end(reader, stream, as_of).await?;
        let cached = self.subject(reader, stream, end).await?;
        let s = cached.subject.read().await;
        let count = s.count_before(end);
        if count == 0 {
            return Err(HistoryError::StreamNotFound(stream.to_string()));
        }
        let never = || HistoryError::NeverSet { stream: stream.to_string(), pointer: at.to_string() };
        let blame = s.blame(at, count, limit).ok_or_else(never)?;
        let value = match leaf_value(&blame.current, at) {
            Some(v) => Some(v),
            None => state_at(reader, stream, &s, count).await?.0.pointer(at).cloned(),
        };
        let mut history = Vec::with_capacity(blame.history.len());
        for c in &blame.history {
            history.push(change_json(reader, stream, c, at).await?);
        }
        let current = change_json(reader, stream, &blame.current, at).await?;
        Ok(json!({
            "stream": stream, "pointer": at, "exists": value.is_some(), "value": value,
            "event": current["event"], "writes": current["writes"], "history": history, "more": blame.more,
        }))
    }

    /// The nearest event, backward from a point (at or before it) or
    /// forward (after it), at which `predicate` on `at` became true.
    pub async fn watch(
        &self,
        reader: &dyn EventReader,
        stream: &str,
        at: &str,
        predicate: &Predicate,
        from: Option<AsOf>,
        backward: bool,
    ) -> Result<Value, HistoryError> {
        pointer::check(at).map_err(HistoryError::Invalid)?;
        let end = Self::end(reader, stream, from).await?;
        let cached = self.subject(reader, stream, reader.next_position().max(end)).await?;
        let s = cached.subject.read().await;
        if s.events().is_empty() {
            return Err(HistoryError::StreamNotFound(stream.to_string()));
        }
        let found = s.watch(at, predicate, s.count_before(end), backward);
        let change = match &found {
            Some(c) => change_json(reader, stream, c, at).await?,
            None => Value::Null,
        };
        let exact = found.as_ref().and_then(|c| c.writes.iter().find(|w| w.pointer == at));
        Ok(json!({
            "stream": stream, "pointer": at, "found": found.is_some(),
            "event": change.get("event"), "writes": change.get("writes"),
            "value": exact.map(|w| &w.new), "previous": exact.map(|w| &w.old),
        }))
    }
}

fn changes_last_position(changes: &[Value]) -> u64 {
    changes.last().and_then(|c| c["event"]["position"].as_u64()).unwrap_or(0)
}

/// The leaf a change left at exactly `at`, when it set one there.
fn leaf_value(c: &Change, at: &str) -> Option<Value> {
    c.writes.iter().find(|w| w.pointer == at).and_then(|w| w.new.clone())
}

/// A change as JSON: the event (without its data), the leaves it changed
/// at or under the pointer, and the leaf value it left at the pointer.
async fn change_json(reader: &dyn EventReader, stream: &str, c: &Change, at: &str) -> Result<Value, HistoryError> {
    let read = ReadStream::forward(stream).from(c.event.version).limit(1);
    let e = reader.read_stream(&read).await?.into_iter().next().filter(|e| e.version == c.event.version);
    let e = e.ok_or_else(|| {
        StoreError::Backend(format!("stream {stream:?} version {} could not be read", c.event.version))
    })?;
    Ok(json!({ "value": leaf_value(c, at), "event": summary(&e), "writes": c.writes }))
}

/// An event as the API writes it, without its data (the patch it was).
fn summary(e: &RecordedEvent) -> Value {
    let mut v: Value = serde_json::from_str(&hindsight_wire::event_json(e)).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("data");
    }
    v
}

/// The document after the subject's first `count` events: the keyframe
/// before it and the events after, read and folded. Also answers the
/// keyframe's position and how many events were folded onto it.
async fn state_at(
    reader: &dyn EventReader,
    stream: &str,
    s: &Subject,
    count: usize,
) -> Result<(Value, Option<u64>, usize), HistoryError> {
    let (frame, rest) = s.plan(count);
    let mut state = (*frame.state).clone();
    for e in read_refs(reader, stream, rest).await? {
        document::apply(&mut state, &parse(&e)?);
    }
    Ok((state, frame.position, rest.len()))
}

/// The events of a run of consecutive refs, read in pages.
async fn read_refs(
    reader: &dyn EventReader,
    stream: &str,
    refs: &[EventRef],
) -> Result<Vec<RecordedEvent>, HistoryError> {
    let mut out = Vec::with_capacity(refs.len());
    for chunk in refs.chunks(PAGE) {
        let read = ReadStream::forward(stream).from(chunk[0].version).limit(chunk.len());
        let page = reader.read_stream(&read).await?;
        if page.len() != chunk.len() || page.last().map(|e| e.version) != chunk.last().map(|r| r.version) {
            return Err(StoreError::Backend(format!("stream {stream:?} could not be read back for its history")).into());
        }
        out.extend(page);
    }
    Ok(out)
}

fn parse(e: &RecordedEvent) -> Result<Value, HistoryError> {
    serde_json::from_str(&e.data).map_err(|err| {
        StoreError::Backend(format!("event at position {} holds data that is not JSON: {err}", e.position)).into()
    })
}
