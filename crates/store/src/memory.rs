//! The reference model: the storage contract implemented as plainly as
//! possible, with no durability. Property tests compare every backend with
//! it step by step, so clarity beats speed here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::watch;
use uuid::Uuid;

use crate::validate::{check_retry, validate_append};
use crate::{
    AllSlice, AppendPart, AppendResult, Direction, EventStore, Filter, Limits, RecordedEvent, StoreError, StreamInfo,
    VersionConflict,
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
        let conflicts: Vec<VersionConflict> = parts
            .iter()
            .enumerate()
            .filter_map(|(part, p)| {
                let actual = m.streams.get(&p.stream).map(|v| v.len() as u64 - 1);
                (!p.expected.admits(actual)).then(|| VersionConflict {
                    part,
                    stream: p.stream.clone(),
                    expected: p.expected,
                    actual,
                })
            })
            .collect();
        if !conflicts.is_empty() {
            return Err(StoreError::WrongExpectedVersion(conflicts));
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let timestamp_us = now.max(m.last_timestamp_us);
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

    async fn read_stream(
        &self,
        stream: &str,
        from: Option<u64>,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let m = self.lock();
        let Some(positions) = m.streams.get(stream) else { return Ok(Vec::new()) };
        let mut page = crate::limits::Page::new(limit);
        let mut pick = |p: &u64| {
            let e = &m.events[*p as usize];
            page.has_room().then(|| {
                page.add(e);
                e.clone()
            })
        };
        Ok(match direction {
            Direction::Forward => {
                let from = from.unwrap_or(0) as usize;
                positions.iter().skip(from).map_while(&mut pick).collect()
            }
            Direction::Backward => {
                let last = positions.len() as u64 - 1;
                let from = from.unwrap_or(last).min(last) as usize;
                positions[..=from].iter().rev().map_while(&mut pick).collect()
            }
        })
    }

    async fn read_all(&self, from: u64, limit: usize, filter: &Filter) -> Result<AllSlice, StoreError> {
        let m = self.lock();
        let mut events = Vec::new();
        let mut page = crate::limits::Page::new(limit);
        let mut next = from;
        for e in m.events.iter().skip(from as usize).take(crate::limits::READ_EXAMINED_MAX) {
            if !page.has_room() {
                break;
            }
            next = e.position + 1;
            if filter.matches(&e.stream, &e.event_type) {
                page.add(e);
                events.push(e.clone());
            }
        }
        Ok(AllSlice { events, next_position: next, end_of_log: next >= m.events.len() as u64 })
    }

    async fn stream_info(&self, stream: &str) -> Result<Option<StreamInfo>, StoreError> {
        let m = self.lock();
        Ok(m.streams.get(stream).and_then(|positions| {
            Some(StreamInfo {
                stream: stream.to_string(),
                last_version: positions.len() as u64 - 1,
                first_position: *positions.first()?,
                last_position: *positions.last()?,
            })
        }))
    }

    fn log_bytes_between(&self, from: u64, to: u64) -> Option<u64> {
        let m = self.lock();
        let (from, to) = (from as usize, (to as usize).min(m.events.len()));
        Some(m.events.get(from..to).map_or(0, |es| es.iter().map(|e| (e.data.len() + e.metadata.len()) as u64).sum()))
    }

    async fn position_at(&self, timestamp_us: u64) -> Result<Option<u64>, StoreError> {
        let m = self.lock();
        let i = m.events.partition_point(|e| e.timestamp_us < timestamp_us);
        Ok(m.events.get(i).map(|e| e.position))
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

    fn next_position(&self) -> u64 {
        *self.next_position.borrow()
    }

    fn watch_next_position(&self) -> watch::Receiver<u64> {
        self.next_position.subscribe()
    }
}
