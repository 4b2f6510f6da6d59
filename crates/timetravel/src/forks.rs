//! Named, persistent forks: each fork's definition (its base, skips, edits
//! and appended events) is kept as one JSON document on a [`Shelf`] (a
//! file in the forks directory, or a row of a shared database), replaced
//! atomically after every change, and the fork is rebuilt from it over
//! the live reader when the server starts. Servers sharing a shelf follow
//! each other's changes once a second. A fork's history
//! indexes are its own, and dropped when a skip or an edit changes its
//! past.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hindsight_store::{AppendPart, AppendResult, AsOf, EventReader, Limits, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::fork::{Edit, ForkReader};
use crate::service::HistoryError;
use crate::shelf::{DirShelf, Shelf};
use crate::streams::Streams;

/// Forks kept at most.
pub const FORKS_MAX: usize = 1_000;

/// A fork as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    name: String,
    created_at: String,
    /// The point it was made at, as given.
    base: String,
    base_end: u64,
    skips: Vec<u64>,
    edits: Vec<SavedEdit>,
    appended: Vec<SavedEvent>,
    /// Projections run on the fork, by name.
    #[serde(default)]
    projections: BTreeMap<String, ForkProjection>,
}

/// A projection run on a fork: the live one's source, or a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkProjection {
    pub source: String,
    /// BLAKE3 of the source, hex.
    pub hash: String,
    /// Not the source live runs (or no live projection has the name).
    pub candidate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedEdit {
    position: u64,
    data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedEvent {
    id: uuid::Uuid,
    stream: String,
    #[serde(rename = "type")]
    event_type: String,
    timestamp_us: u64,
    data: String,
    metadata: String,
    tags: Vec<String>,
}

/// One fork: its timeline and its own history indexes.
pub struct Fork {
    pub reader: Arc<ForkReader>,
    pub histories: Streams,
    /// Changes with every change to the fork: what was worked out from
    /// an older revision is stale.
    pub revision: u64,
    saved: Saved,
}

/// Revisions, unique across forks.
static REVISION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_revision() -> u64 {
    REVISION.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Fork {
    fn new(reader: Arc<ForkReader>, histories: Streams, saved: Saved) -> Self {
        Fork { reader, histories, revision: next_revision(), saved }
    }

    pub fn name(&self) -> &str {
        &self.saved.name
    }

    /// The projections run on the fork, by name.
    pub fn projections(&self) -> impl Iterator<Item = (&String, &ForkProjection)> {
        self.saved.projections.iter()
    }

    /// The projection `name` run on the fork, if one is.
    pub fn projection(&self, name: &str) -> Option<&ForkProjection> {
        self.saved.projections.get(name)
    }

    /// What it is, for `GET /v1/forks/{name}`.
    pub fn describe(&self) -> Value {
        let s = &self.saved;
        json!({
            "name": s.name, "created_at": s.created_at, "base": s.base, "base_end": s.base_end,
            "head": self.reader.next_position(), "skips": s.skips,
            "edits": s.edits.iter().map(|e| e.position).collect::<Vec<_>>(),
            "appended": s.appended.len(),
            "projections": s.projections.iter()
                .map(|(name, p)| json!({ "name": name, "hash": p.hash, "candidate": p.candidate }))
                .collect::<Vec<_>>(),
        })
    }
}

/// Every fork, by name.
pub struct Forks {
    shelf: Arc<dyn Shelf>,
    /// Each fork's document as last saved or loaded here (a shared
    /// shelf's changes by other servers are told apart by it).
    bodies: Mutex<std::collections::HashMap<String, Vec<u8>>>,
    live: Arc<dyn EventReader>,
    limits: Limits,
    forks: Mutex<BTreeMap<String, Arc<Fork>>>,
    /// One change at a time, so each saved file has every change before it.
    changing: tokio::sync::Mutex<()>,
}

/// A fork name may be used in a URL and as a file name as it is.
pub fn check_name(name: &str) -> Result<(), HistoryError> {
    hindsight_store::check_resource_name("fork", name).map_err(HistoryError::Invalid)
}

impl Forks {
    /// The forks kept in `dir`, rebuilt over `live`.
    pub async fn open(
        dir: impl Into<PathBuf>,
        live: Arc<dyn EventReader>,
        limits: Limits,
    ) -> Result<Self, HistoryError> {
        Forks::open_on(Arc::new(DirShelf::open(dir)?), live, limits).await
    }

    /// The forks kept on `shelf`, rebuilt over `live`.
    pub async fn open_on(
        shelf: Arc<dyn Shelf>,
        live: Arc<dyn EventReader>,
        limits: Limits,
    ) -> Result<Self, HistoryError> {
        let forks = Forks {
            shelf,
            bodies: Mutex::default(),
            live,
            limits,
            forks: Mutex::new(BTreeMap::new()),
            changing: Default::default(),
        };
        for (name, body) in forks.shelf.list()? {
            // A fork that cannot be read back is left where it is, reported
            // and not served: it never keeps the store from starting.
            match forks.load(&body).await {
                Ok(fork) => {
                    forks.lock().insert(fork.saved.name.clone(), Arc::new(fork));
                    forks.remember(&name, body);
                }
                Err(e) => tracing::error!(error = %e, fork = %name, "a fork could not be loaded; it is not served"),
            }
        }
        Ok(forks)
    }

    fn remember(&self, name: &str, body: Vec<u8>) {
        self.bodies.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), body);
    }

    /// Follows the other servers' changes to a shared shelf, once a
    /// second, until the forks are dropped.
    pub fn follow_others(self: &Arc<Self>) {
        if !self.shelf.shared() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let Some(forks) = weak.upgrade() else { return };
                if let Err(e) = forks.follow_once().await {
                    tracing::warn!(error = %e, "following the shared forks");
                }
            }
        });
    }

    async fn follow_once(&self) -> Result<(), HistoryError> {
        let _one = self.changing.lock().await;
        let kept = self.shelf.list()?;
        let names: std::collections::HashSet<&String> = kept.iter().map(|(n, _)| n).collect();
        let gone: Vec<String> = self.lock().keys().filter(|n| !names.contains(n)).cloned().collect();
        for name in gone {
            self.lock().remove(&name);
            self.bodies.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
        }
        for (name, body) in kept {
            let known = self.bodies.lock().unwrap_or_else(|p| p.into_inner()).get(&name) == Some(&body);
            if known {
                continue;
            }
            match self.load(&body).await {
                Ok(fork) => {
                    self.lock().insert(name.clone(), Arc::new(fork));
                    self.remember(&name, body);
                }
                Err(e) => tracing::error!(error = %e, fork = %name, "a shared fork could not be loaded"),
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Fork>>> {
        self.forks.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn load(&self, body: &[u8]) -> Result<Fork, HistoryError> {
        let saved: Saved =
            serde_json::from_slice(body).map_err(|e| HistoryError::Failed(format!("the fork is damaged: {e}")))?;
        self.rebuild(saved).await
    }

    /// A fork's timeline from its saved definition.
    async fn rebuild(&self, saved: Saved) -> Result<Fork, HistoryError> {
        let reader = ForkReader::at(self.live.clone(), saved.base_end, self.limits);
        reader.skip(&saved.skips).await?;
        for e in &saved.edits {
            let edit = Edit { data: e.data.clone(), metadata: e.metadata.clone() };
            reader.edit(e.position, edit).await?;
        }
        reader.restore_appended(saved.appended.iter().map(|e| e.to_event()).collect()).await?;
        Ok(Fork::new(Arc::new(reader), Streams::new(Default::default(), 100), saved))
    }

    pub fn get(&self, name: &str) -> Result<Arc<Fork>, HistoryError> {
        self.lock().get(name).cloned().ok_or_else(|| HistoryError::NotFound { kind: "fork", name: name.to_string() })
    }

    pub fn list(&self) -> Vec<Value> {
        self.lock().values().map(|f| f.describe()).collect()
    }

    /// Makes a fork of the live log as of `base` (None: now).
    pub async fn create(&self, name: &str, base: Option<AsOf>, created_at: String) -> Result<Value, HistoryError> {
        let label = base.map_or_else(|| "now".to_string(), |b| b.to_string());
        self.make(name, Some(base), label, created_at).await
    }

    /// Makes a fork with no live event at all: a timeline of only what is
    /// appended to it (a session imported as a fork).
    pub async fn create_empty(&self, name: &str, label: String, created_at: String) -> Result<Value, HistoryError> {
        self.make(name, None, label, created_at).await
    }

    async fn make(
        &self,
        name: &str,
        base: Option<Option<AsOf>>,
        label: String,
        created_at: String,
    ) -> Result<Value, HistoryError> {
        let _one = self.changing.lock().await;
        check_name(name)?;
        if self.lock().contains_key(name) || self.shelf.contains(name)? {
            return Err(HistoryError::Invalid(format!("a fork named {name:?} exists: delete it first")));
        }
        if self.lock().len() >= FORKS_MAX {
            return Err(HistoryError::Invalid(format!("at most {FORKS_MAX} forks are kept: delete some")));
        }
        let reader = match base {
            Some(base) => ForkReader::new(self.live.clone(), base, self.limits).await?,
            None => ForkReader::at(self.live.clone(), 0, self.limits),
        };
        let base_end = reader.overlay().base_end;
        let saved = Saved {
            name: name.to_string(),
            created_at,
            base: label,
            base_end,
            skips: Vec::new(),
            edits: Vec::new(),
            appended: Vec::new(),
            projections: BTreeMap::new(),
        };
        let fork = Fork::new(Arc::new(reader), Streams::new(Default::default(), 100), saved);
        self.save(&fork.saved)?;
        let described = fork.describe();
        self.lock().insert(name.to_string(), Arc::new(fork));
        Ok(described)
    }

    pub async fn delete(&self, name: &str) -> Result<(), HistoryError> {
        let _one = self.changing.lock().await;
        self.get(name)?;
        self.shelf.remove(name)?;
        self.lock().remove(name);
        self.bodies.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        Ok(())
    }

    /// Hides base events on a fork, by live position or by id.
    pub async fn skip(&self, name: &str, positions: &[u64], ids: &[uuid::Uuid]) -> Result<Value, HistoryError> {
        let _one = self.changing.lock().await;
        let fork = self.get(name)?;
        let mut positions = positions.to_vec();
        for &id in ids {
            match self.live.event_by_id(id).await? {
                Some(e) => positions.push(e.position),
                None => return Err(HistoryError::Invalid(format!("no live event has id {id}"))),
            }
        }
        if positions.is_empty() {
            return Err(HistoryError::Invalid("give the events to skip: positions or ids".into()));
        }
        fork.reader.skip(&positions).await?;
        self.changed(&fork, true)
    }

    /// Replaces a base event's data on a fork.
    pub async fn edit(&self, name: &str, position: u64, edit: Edit) -> Result<Value, HistoryError> {
        let _one = self.changing.lock().await;
        let fork = self.get(name)?;
        fork.reader.edit(position, edit).await?;
        self.changed(&fork, true)
    }

    /// Appends hypothetical events to a fork.
    pub async fn append(&self, name: &str, parts: Vec<AppendPart>) -> Result<Vec<AppendResult>, HistoryError> {
        let _one = self.changing.lock().await;
        let fork = self.get(name)?;
        let results = fork.reader.append(parts).await?;
        self.changed(&fork, false)?;
        Ok(results)
    }

    /// Runs projection `projection` on a fork with `source` (None: stops
    /// running it). Its stream histories are kept.
    pub async fn set_projection(
        &self,
        name: &str,
        projection: &str,
        run: Option<ForkProjection>,
    ) -> Result<Value, HistoryError> {
        let _one = self.changing.lock().await;
        let fork = self.get(name)?;
        let mut saved = fork.saved.clone();
        match run {
            Some(run) => {
                hindsight_store::check_resource_name("projection", projection).map_err(HistoryError::Invalid)?;
                saved.projections.insert(projection.to_string(), run);
            }
            None => {
                saved.projections.remove(projection).ok_or_else(|| HistoryError::NotFound {
                    kind: "projection",
                    name: format!("{projection} on fork {name}"),
                })?;
            }
        }
        self.save(&saved)?;
        let fork = Fork::new(fork.reader.clone(), fork.histories.clone(), saved);
        let described = fork.describe();
        self.lock().insert(name.to_string(), Arc::new(fork));
        Ok(described)
    }

    /// Saves a fork after a change; a change to its past also drops its
    /// history indexes (they are rebuilt as asked).
    fn changed(&self, fork: &Fork, past: bool) -> Result<Value, HistoryError> {
        let o = fork.reader.overlay();
        let mut saved = fork.saved.clone();
        saved.skips = o.skips().to_vec();
        saved.edits = o
            .edits()
            .iter()
            .map(|(&position, e)| SavedEdit { position, data: e.data.clone(), metadata: e.metadata.clone() })
            .collect();
        saved.edits.sort_by_key(|e| e.position);
        saved.appended = fork.reader.appended_events().iter().map(SavedEvent::from_event).collect();
        self.save(&saved)?;
        let histories = if past { Streams::new(Default::default(), 100) } else { fork.histories.clone() };
        let fork = Fork::new(fork.reader.clone(), histories, saved);
        let described = fork.describe();
        self.lock().insert(fork.saved.name.clone(), Arc::new(fork));
        Ok(described)
    }

    fn save(&self, saved: &Saved) -> Result<(), HistoryError> {
        let body = serde_json::to_vec(saved).map_err(|e| HistoryError::Failed(e.to_string()))?;
        self.shelf.put(&saved.name, &body)?;
        self.remember(&saved.name, body);
        Ok(())
    }
}

impl SavedEvent {
    fn from_event(e: &RecordedEvent) -> Self {
        SavedEvent {
            id: e.id,
            stream: e.stream.clone(),
            event_type: e.event_type.clone(),
            timestamp_us: e.timestamp_us,
            data: e.data.clone(),
            metadata: e.metadata.clone(),
            tags: e.tags.clone(),
        }
    }

    fn to_event(&self) -> RecordedEvent {
        RecordedEvent {
            id: self.id,
            stream: self.stream.clone(),
            event_type: self.event_type.clone(),
            version: 0,
            position: 0,
            timestamp_us: self.timestamp_us,
            data: self.data.clone(),
            metadata: self.metadata.clone(),
            tags: self.tags.clone(),
        }
    }
}
