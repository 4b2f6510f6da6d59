//! Time travel over raw streams: each stream's document (its events' data
//! applied in order as JSON Merge Patches), read through any
//! [`EventReader`] (the live store, a view of the past, a fork). The
//! answers are [`Histories`]'; this module says how a stream is read and
//! folded, and runs the questions on a blocking thread.

use std::sync::Arc;

use hindsight_store::{end_position, AsOf, EventReader, ReadStream, RecordedEvent, StoreError};
use serde_json::Value;
use tokio::runtime::Handle;

pub use crate::service::HistoryError;
use crate::service::{Feed, Folder, Histories, Page};
use crate::subject::EventRef;
use crate::writeset::LeafChange;
use crate::{document, Spacing};

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

/// Every stream's history index, at most `capacity` streams' in memory.
/// Clones share the indexes.
#[derive(Clone)]
pub struct Streams {
    histories: Arc<Histories>,
}

impl Streams {
    pub fn new(spacing: Spacing, capacity: usize) -> Self {
        Streams { histories: Arc::new(Histories::new(spacing, capacity)) }
    }

    pub fn histories(&self) -> &Histories {
        &self.histories
    }

    /// The indexes, shared (a fork's projection partitions keep theirs
    /// beside its streams').
    pub fn shared(&self) -> Arc<Histories> {
        self.histories.clone()
    }

    /// Runs `ask` about `stream` on a blocking thread, e.g.
    /// `streams.ask(reader, "order-1", |h, key, feed| h.state(key, feed, None))`.
    pub async fn ask<T: Send + 'static>(
        &self,
        reader: Arc<dyn EventReader>,
        stream: &str,
        ask: impl FnOnce(&Histories, &str, &dyn Feed) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let histories = self.histories.clone();
        let feed = StreamFeed { reader, rt: Handle::current(), stream: stream.to_string() };
        tokio::task::spawn_blocking(move || ask(&histories, &format!("stream\0{}", feed.stream), &feed))
            .await
            .map_err(|e| HistoryError::Failed(format!("the history thread failed: {e}")))?
    }
}

/// A stream: every event is the document's, folded as a merge patch.
struct StreamFeed {
    reader: Arc<dyn EventReader>,
    rt: Handle,
    stream: String,
}

impl StreamFeed {
    fn read_from(&self, version: u64, limit: usize) -> Result<Vec<RecordedEvent>, HistoryError> {
        let read = ReadStream::forward(&self.stream).from(version).limit(limit);
        Ok(self.rt.block_on(self.reader.read_stream(&read))?)
    }
}

impl Feed for StreamFeed {
    fn label(&self) -> (&'static str, &str) {
        ("stream", &self.stream)
    }

    fn version_stream(&self) -> Option<&str> {
        Some(&self.stream)
    }

    fn init(&self) -> Value {
        document::init()
    }

    fn after(&self, last: Option<&EventRef>, from: u64, limit: usize) -> Result<Page, HistoryError> {
        let events = self.read_from(last.map_or(0, |e| e.version + 1), limit)?;
        let next_from = events.last().map_or(from, |e| e.position + 1);
        Ok(Page { done: events.len() < limit, events, next_from })
    }

    fn read(&self, refs: &[EventRef]) -> Result<Vec<RecordedEvent>, HistoryError> {
        let Some(first) = refs.first() else { return Ok(Vec::new()) };
        let page = self.read_from(first.version, refs.len())?;
        let same = page.len() == refs.len() && page.iter().zip(refs).all(|(e, r)| e.position == r.position);
        if !same {
            let what = format!("stream {:?} could not be read back for its history", self.stream);
            return Err(StoreError::Backend(what).into());
        }
        Ok(page)
    }

    fn read_scattered(&self, refs: &[EventRef]) -> Result<Vec<RecordedEvent>, HistoryError> {
        read_spans(refs, |from, n| self.read_from(from, n))
    }

    fn folder(&self) -> Result<Box<dyn Folder + '_>, HistoryError> {
        Ok(Box::new(MergePatches))
    }

    fn end(&self, at: Option<AsOf>) -> Result<u64, HistoryError> {
        match at {
            Some(at) => Ok(self.rt.block_on(end_position(&*self.reader, at, Some(&self.stream)))?),
            None => Ok(self.reader.next_position()),
        }
    }

    fn head(&self) -> u64 {
        self.reader.next_position()
    }
}

/// The events at `refs` (in position order, all of one stream) read as
/// runs of versions: refs close together share one read; `read(from,
/// n)` reads n events of the stream from version `from`.
pub fn read_spans(
    refs: &[EventRef],
    mut read: impl FnMut(u64, usize) -> Result<Vec<RecordedEvent>, HistoryError>,
) -> Result<Vec<RecordedEvent>, HistoryError> {
    /// A gap of more versions than this between two refs starts a new read.
    const GAP_MAX: u64 = 64;
    let mut out = Vec::with_capacity(refs.len());
    let mut i = 0;
    while i < refs.len() {
        let mut j = i + 1;
        while j < refs.len() && refs[j].version - refs[j - 1].version <= GAP_MAX {
            j += 1;
        }
        let (first, last) = (refs[i].version, refs[j - 1].version);
        let mut wanted = refs[i..j].iter().map(|r| r.position).peekable();
        let page = read(first, (last - first + 1) as usize)?;
        out.extend(page.into_iter().filter(|e| wanted.next_if_eq(&e.position).is_some()));
        i = j;
    }
    Ok(out)
}

/// Folds a stream's events into its document.
struct MergePatches;

impl Folder for MergePatches {
    fn fold(&mut self, state: &mut Value, e: &RecordedEvent) -> Result<Option<Vec<LeafChange>>, HistoryError> {
        let data: Value = serde_json::from_str(&e.data).map_err(|err| {
            StoreError::Backend(format!("event at position {} holds data that is not JSON: {err}", e.position))
        })?;
        Ok(Some(document::apply(state, &data)))
    }
}
