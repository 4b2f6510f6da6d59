//! Side effects only through emitted output: the derived events a
//! projection emits are captured with the fold, and only the live version
//! publishes them, as appends whose ids are derived from (projection,
//! input position, index). A crash between publishing and the checkpoint
//! folds the same events again and publishes the same ids again, which
//! the store answers as a retry: each input event's output is published
//! exactly once. A rebuild holds its output until it takes over, then
//! publishes what the version it replaces had not: output for input
//! events the live version has already passed is let go, the rest is
//! held, in the rebuild's checkpoint too (a restart neither loses it nor
//! folds it again), and a rebuild holding [`HELD_MAX`] events waits for
//! the live version to catch up rather than drop any.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hindsight_store::{EventStore, ExpectedVersion, NewEvent, StoreError};
use serde_json::Value;
use uuid::Uuid;

use crate::Emitted;

/// Output a version that does not publish (yet) holds at most; at this
/// many it folds no further until the live version passes some of it.
pub const HELD_MAX: usize = 100_000;

/// Attempts to publish one event before the projection faults.
const PUBLISH_ATTEMPTS: u32 = 5;

pub struct Outbox {
    name: String,
    store: Option<Arc<dyn EventStore>>,
    /// Publishes when true; holds its output otherwise.
    active: bool,
    held: VecDeque<Emitted>,
    pub published: u64,
}

/// The id of an emitted event: the same every time the same projection
/// folds the same input event.
pub fn emitted_id(name: &str, position: u64, index: u32) -> Uuid {
    let mut h = blake3::Hasher::new();
    h.update(b"hindsight emitted event\0");
    h.update(name.as_bytes());
    h.update(&[0]);
    h.update(&position.to_le_bytes());
    h.update(&index.to_le_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h.finalize().as_bytes()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

impl Outbox {
    pub fn new(name: &str, store: Option<Arc<dyn EventStore>>, active: bool) -> Self {
        Outbox { name: name.to_string(), store, active, held: VecDeque::new(), published: 0 }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Publishes `out` when live; holds it otherwise.
    pub async fn take(&mut self, out: Vec<Emitted>) -> Result<(), StoreError> {
        if self.active {
            return self.publish(out).await;
        }
        self.held.extend(out);
        Ok(())
    }

    /// Lets go of held output for input events up to `live` (the live
    /// version's position: it has published its own output for them).
    pub fn release_through(&mut self, live: Option<u64>) {
        let Some(live) = live else { return };
        while self.held.front().is_some_and(|e| e.position <= live) {
            self.held.pop_front();
        }
    }

    /// Holds what a checkpoint held (after a restart).
    pub fn hold(&mut self, output: Vec<Emitted>) {
        self.held.extend(output);
    }

    /// The output held, for the checkpoint.
    pub fn held(&self) -> Vec<Emitted> {
        self.held.iter().cloned().collect()
    }

    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// True when a rebuild holds as much as it may.
    pub fn is_full(&self) -> bool {
        self.held.len() >= HELD_MAX
    }

    /// Becomes the live version: publishes the held output of input
    /// events after `after` (what the replaced version had published).
    pub async fn activate(&mut self, after: Option<u64>) -> Result<(), StoreError> {
        self.active = true;
        self.release_through(after);
        let held: Vec<Emitted> = std::mem::take(&mut self.held).into();
        self.publish(held).await
    }

    async fn publish(&mut self, out: Vec<Emitted>) -> Result<(), StoreError> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        for e in out {
            let mut metadata = match e.metadata {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            metadata.insert("$projection".into(), Value::String(self.name.clone()));
            metadata.insert("$caused_by".into(), Value::from(e.position));
            let event = NewEvent::new(e.event_type, e.data)
                .with_id(emitted_id(&self.name, e.position, e.index))
                .with_metadata(Value::Object(metadata));
            let mut attempt = 0;
            loop {
                match store.append(&e.stream, ExpectedVersion::Any, vec![event.clone()]).await {
                    Ok(_) => break,
                    Err(err) if attempt + 1 < PUBLISH_ATTEMPTS && is_transient(&err) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    }
                    Err(err) => return Err(err),
                }
            }
            self.published += 1;
        }
        Ok(())
    }
}

fn is_transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Overloaded | StoreError::Io { .. })
}
