//! The reference model: the storage contract implemented as plainly as
//! possible, with no durability. Property tests compare every backend with
//! it step by step, so clarity beats speed here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::watch;
use uuid::Uuid;

use crate::limits::{Page, READ_EXAMINED_MAX};
use crate::validate::{check_retry, validate_append};
use crate::{
    check_expectations, end_position, AllSlice, AppendPart, AppendResult, AsOf, Direction, EventReader, EventStore,
    Limits, ReadAll, ReadStream, RecordedEvent, StoreError, StreamInfo,
};

#[derive(Default)]
struct Model {
    events: Vec<RecordedEvent>,
    streams: HashMap<String, Vec<u64>>,
    ids: HashMap<Uuid, u64>,
    last_timestamp_us: u64,
}

/// An in-memory [`EventStore`]: the model the real backends are checked
/// against.
pub struct MemoryStore {
    model: Mutex<Model>,
    limits: Limits,
    next_position: watch::Sender<u64>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl MemoryStore {
    pub fn new(limits: Limits) -> Self {
        MemoryStore { model: Mutex::new(Model::default()), limits, next_position: watch::Sender::new(0) }
    }

    /// Every event in position order (for comparisons in tests).
    pub fn all_events(&self) -> Vec<RecordedEvent> {
        self.lock().events.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append_multi(&self, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, StoreError> {
        let parts = validate_append(parts, &self.limits)?;
        let mut m = self.lock();
        let retry = check_retry(&parts, |id| m.ids.get(id).map(|&p| m.events[p as usize].clone()))?;
        if let Some(results) = retry {
            return Ok(results);
        }
        check_expectations(&parts, |stream| m.streams.get(stream).map(|v| v.len() as u64 - 1))?;
        let timestamp_us = now_us().max(m.last_timestamp_us);
        m.last_timestamp_us = timestamp_us;
        let mut results = Vec::with_capacity(parts.len());
        for part in parts {
            let first_position = m.events.len() as u64;
            let mut version = m.streams.get(&part.stream).map_or(0, |v| v.len() as u64);
            for e in part.events {
                let position = m.events.len() as u64;
                let id = e.id.unwrap_or_else(Uuid::now_v7);
                m.ids.insert(id, position);
                m.streams.entry(part.stream.clone()).or_default().push(position);
                m.events.push(RecordedEvent {
                    id,
                    stream: part.stream.clone(),
                    event_type: e.event_type,
                    version,
                    position,
                    timestamp_us,
                    data: e.data,
                    metadata: e.metadata,
                    tags: e.tags,
                });
                version += 1;
            }
            results.push(AppendResult {
                first_position,
                last_position: m.events.len() as u64 - 1,
                next_expected_version: version - 1,
            });
        }
        let next = m.events.len() as u64;
        drop(m);
        self.next_position.send_replace(next);
        Ok(results)
    }

    fn status(&self) -> crate::StoreStatus {
        let m = self.lock();
        crate::StoreStatus {
            kind: "memory",
            events: m.events.len() as u64,
            streams: m.streams.len() as u64,
            ..Default::default()
        }
    }
}

impl Model {
    /// The versions of `stream` visible below `end` (its positions).
    fn stream_below(&self, stream: &str, end: u64) -> &[u64] {
        let positions = self.streams.get(stream).map_or(&[][..], |v| v.as_slice());
        &positions[..positions.partition_point(|&p| p < end)]
    }
}

impl MemoryStore {
    async fn end(&self, as_of: Option<AsOf>, stream: Option<&str>) -> Result<u64, StoreError> {
        match as_of {
            Some(a) => end_position(self, a, stream).await,
            None => Ok(self.lock().events.len() as u64),
        }
    }
}

#[async_trait]
impl EventReader for MemoryStore {
    async fn read_stream(&self, read: &ReadStream) -> Result<Vec<RecordedEvent>, StoreError> {
        let end = self.end(read.as_of, Some(&read.stream)).await?;
        let m = self.lock();
        let positions = m.stream_below(&read.stream, end);
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let mut page = Page::new(read.limit);
        let mut pick = |p: &u64| {
            let e = &m.events[*p as usize];
            page.has_room().then(|| {
                page.add(e);
                e.clone()
            })
        };
        Ok(match read.direction {
            Direction::Forward => {
                let from = read.from.unwrap_or(0).min(positions.len() as u64) as usize;
                positions[from..].iter().map_while(&mut pick).collect()
            }
            Direction::Backward => {
                let last = positions.len() as u64 - 1;
                let from = read.from.unwrap_or(last).min(last) as usize;
                positions[..=from].iter().rev().map_while(&mut pick).collect()
            }
        })
    }

    async fn read_all(&self, read: &ReadAll) -> Result<AllSlice, StoreError> {
        let end = self.end(read.as_of, None).await?;
        let m = self.lock();
        let (from, examined): (u64, Box<dyn Iterator<Item = &RecordedEvent>>) = match read.direction {
            Direction::Forward => {
                let from = read.from.unwrap_or(0).min(end);
                (from, Box::new(m.events[from as usize..end as usize].iter()))
            }
            Direction::Backward => {
                let Some(last) = end.checked_sub(1) else {
                    return Ok(AllSlice { events: Vec::new(), next_position: 0, end_of_log: true });
                };
                let from = read.from.unwrap_or(last).min(last);
                (from, Box::new(m.events[..=from as usize].iter().rev()))
            }
        };
        let mut events = Vec::new();
        let mut page = Page::new(read.limit);
        let mut last_examined = None;
        for e in examined.take(READ_EXAMINED_MAX) {
            if !page.has_room() {
                break;
            }
            last_examined = Some(e.position);
            if read.filter.matches(&e.stream, &e.event_type) {
                page.add(e);
                events.push(e.clone());
            }
        }
        Ok(match (read.direction, last_examined) {
            (Direction::Forward, last) => {
                let next = last.map_or(from, |p| p + 1);
                AllSlice { events, next_position: next, end_of_log: next >= end }
            }
            (Direction::Backward, last) => {
                let lowest = last.unwrap_or(from + 1);
                AllSlice { events, next_position: lowest.saturating_sub(1), end_of_log: lowest == 0 }
            }
        })
    }

    async fn stream_info(&self, stream: &str, as_of: Option<AsOf>) -> Result<Option<StreamInfo>, StoreError> {
        let end = self.end(as_of, Some(stream)).await?;
        let m = self.lock();
        let positions = m.stream_below(stream, end);
        Ok(positions.first().zip(positions.last()).map(|(&first_position, &last_position)| StreamInfo {
            stream: stream.to_string(),
            last_version: positions.len() as u64 - 1,
            first_position,
            last_position,
        }))
    }

    async fn position_at(&self, timestamp_us: u64) -> Result<Option<u64>, StoreError> {
        let m = self.lock();
        let i = m.events.partition_point(|e| e.timestamp_us < timestamp_us);
        Ok(m.events.get(i).map(|e| e.position))
    }

    fn clock_us(&self) -> u64 {
        now_us().max(self.lock().last_timestamp_us)
    }

    fn next_position(&self) -> u64 {
        *self.next_position.borrow()
    }

    fn watch_next_position(&self) -> watch::Receiver<u64> {
        self.next_position.subscribe()
    }

    fn log_bytes_between(&self, from: u64, to: u64) -> Option<u64> {
        let m = self.lock();
        let (from, to) = (from as usize, (to as usize).min(m.events.len()));
        Some(m.events.get(from..to).map_or(0, |es| es.iter().map(|e| (e.data.len() + e.metadata.len()) as u64).sum()))
    }
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}
