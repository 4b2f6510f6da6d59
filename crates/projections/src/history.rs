//! Time travel over projection partitions: a partition's state as of any
//! point, its history, diffs, blame and watch, answered by
//! `hindsight-timetravel` from an index built by folding the partition's
//! events once with the projection's own code. The index is keyed by the
//! source's hash, so a version's keyframes are never served for another;
//! a point is folded by the version that was live then, unless a version
//! is asked for.

use std::sync::Arc;

use hindsight_store::{end_position, AsOf, EventReader, Filter, ReadAll, ReadStream, RecordedEvent, StoreError};
use hindsight_timetravel::service::{Feed, Folder, Histories, HistoryError, Page};
use hindsight_timetravel::streams::read_spans;
use hindsight_timetravel::writeset::{self, LeafChange};
use hindsight_timetravel::EventRef;
use serde_json::Value;
use tokio::runtime::Handle;

use crate::js::Limits;
use crate::registry::{Registry, RegistryError, Version};
use crate::Fold;

/// A projection that does not exist is named as such to time-travel
/// callers; anything else the registry fails with is a failure.
impl From<RegistryError> for HistoryError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(n) => HistoryError::NotFound { kind: "projection", name: n },
            e => HistoryError::Failed(e.to_string()),
        }
    }
}

impl Registry {
    /// Runs `ask` about partition `partition` of projection `name` on a
    /// blocking thread, with version `version`, or else the version that
    /// was live at `point` (the newest one when none is given).
    pub async fn time<T: Send + 'static>(
        &self,
        name: &str,
        partition: &str,
        version: Option<u64>,
        point: Option<AsOf>,
        ask: impl FnOnce(&Histories, &str, &dyn Feed) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let definition = self.definition(name)?;
        let version = match version {
            Some(v) => definition
                .versions
                .iter()
                .find(|x| x.version == v)
                .cloned()
                .ok_or_else(|| HistoryError::NotFound { kind: "version", name: format!("{name} v{v}") })?,
            None => {
                let end = match point {
                    Some(p) => end_position(&*self.reader, p, Some(partition)).await?,
                    None => self.reader.next_position(),
                };
                live_at(&definition.versions, end).ok_or_else(|| HistoryError::Failed("no version".into()))?
            }
        };
        self.ask_partition((self.reader.clone(), self.histories.clone()), name, version, partition, ask).await
    }

    /// Runs `ask` about partition `partition` of projection `name` run on
    /// a fork with `source`: the fork's timeline, in its own indexes.
    pub async fn fork_time<T: Send + 'static>(
        &self,
        (reader, histories): (Arc<dyn EventReader>, Arc<Histories>),
        name: &str,
        source: &str,
        partition: &str,
        ask: impl FnOnce(&Histories, &str, &dyn Feed) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let hash = blake3::hash(source.as_bytes()).to_hex().to_string();
        let version =
            Version { version: 0, hash, created_at: String::new(), source: source.to_string(), activated_at: None };
        self.ask_partition((reader, histories), name, version, partition, ask).await
    }

    async fn ask_partition<T: Send + 'static>(
        &self,
        (reader, histories): (Arc<dyn EventReader>, Arc<Histories>),
        name: &str,
        version: Version,
        partition: &str,
        ask: impl FnOnce(&Histories, &str, &dyn Feed) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let key = format!("projection\0{name}\0{}\0{partition}", version.hash);
        let (rt, limits, partition, probes) =
            (self.rt.clone(), self.settings.limits, partition.to_string(), self.probes.clone());
        tokio::task::spawn_blocking(move || {
            let feed = PartitionFeed::new(reader, rt, version, limits, partition, &probes)?;
            ask(&histories, &key, &feed)
        })
        .await
        .map_err(|e| HistoryError::Failed(format!("the history thread failed: {e}")))?
    }

    /// The partitions' history indexes (for figures).
    pub fn histories(&self) -> &Histories {
        &self.histories
    }

    /// Forgets the history indexes of projection `name` (deleted).
    pub fn forget_history(&self, name: &str) {
        self.histories.forget(&format!("projection\0{name}\0"));
    }
}

/// The version live when the log ended at `end` (exclusive): the newest
/// one that had taken over by then, else the first.
fn live_at(versions: &[Version], end: u64) -> Option<Version> {
    let took_over = versions.iter().rfind(|v| v.activated_at.is_some_and(|a| a < end));
    took_over.or(versions.first()).cloned()
}

/// One partition of one version of a projection.
struct PartitionFeed {
    reader: Arc<dyn EventReader>,
    rt: Handle,
    version: Version,
    limits: Limits,
    partition: String,
    /// What the fold reads, narrowed to the partition's stream when
    /// partitions are streams.
    filter: Filter,
    per_stream: bool,
}

/// What a version's fold reads, and whether its partitions are streams:
/// learnt once per source (making a sandbox costs milliseconds).
#[derive(Clone)]
pub(crate) struct Probe {
    filter: Filter,
    per_stream: bool,
}

impl PartitionFeed {
    fn new(
        reader: Arc<dyn EventReader>,
        rt: Handle,
        version: Version,
        limits: Limits,
        partition: String,
        probes: &std::sync::Mutex<std::collections::HashMap<String, Probe>>,
    ) -> Result<Self, HistoryError> {
        let known = probes.lock().unwrap_or_else(|p| p.into_inner()).get(&version.hash).cloned();
        let probe = match known {
            Some(p) => p,
            None => {
                let fold = fold_for(&version, limits)?;
                let probe = Probe { filter: fold.selects(), per_stream: fold.partitions_are_streams() };
                probes.lock().unwrap_or_else(|p| p.into_inner()).insert(version.hash.clone(), probe.clone());
                probe
            }
        };
        let mut filter = probe.filter;
        if probe.per_stream {
            filter.stream = Some(partition.clone());
        }
        Ok(PartitionFeed { reader, rt, version, limits, partition, filter, per_stream: probe.per_stream })
    }
}

fn fold_for(version: &Version, limits: Limits) -> Result<Box<dyn Fold>, HistoryError> {
    crate::builtin::fold_for(&version.source, limits, 1)
        .map_err(|e| HistoryError::Failed(format!("version {} does not load: {e}", version.version)))
}

impl Feed for PartitionFeed {
    fn label(&self) -> (&'static str, &str) {
        ("partition", &self.partition)
    }

    fn version_stream(&self) -> Option<&str> {
        self.per_stream.then_some(self.partition.as_str())
    }

    fn init(&self) -> Value {
        let fold = fold_for(&self.version, self.limits);
        fold.ok().and_then(|mut f| f.state(&self.partition, true)).unwrap_or(Value::Null)
    }

    fn after(&self, _last: Option<&EventRef>, from: u64, limit: usize) -> Result<Page, HistoryError> {
        let read = ReadAll::forward(from).limit(limit).filter(self.filter.clone());
        let slice = self.rt.block_on(self.reader.read_all(&read))?;
        Ok(Page { events: slice.events, next_from: slice.next_position, done: slice.end_of_log })
    }

    fn read(&self, refs: &[EventRef]) -> Result<Vec<RecordedEvent>, HistoryError> {
        let events = self.read_scattered(refs)?;
        if events.len() != refs.len() {
            let what = format!("partition {:?}'s events could not be read back for its history", self.partition);
            return Err(StoreError::Backend(what).into());
        }
        Ok(events)
    }

    fn read_scattered(&self, refs: &[EventRef]) -> Result<Vec<RecordedEvent>, HistoryError> {
        if self.per_stream {
            return read_spans(refs, |from, n| {
                let read = ReadStream::forward(&self.partition).from(from).limit(n);
                Ok(self.rt.block_on(self.reader.read_stream(&read))?)
            });
        }
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            let slice = self.rt.block_on(self.reader.read_all(&ReadAll::forward(r.position).limit(1)))?;
            out.extend(slice.events.into_iter().filter(|e| e.position == r.position));
        }
        Ok(out)
    }

    fn folder(&self) -> Result<Box<dyn Folder + '_>, HistoryError> {
        Ok(Box::new(PartitionFolder {
            fold: fold_for(&self.version, self.limits)?,
            partition: &self.partition,
            loaded: false,
        }))
    }

    fn end(&self, at: Option<AsOf>) -> Result<u64, HistoryError> {
        match at {
            Some(at) => Ok(self.rt.block_on(end_position(&*self.reader, at, self.version_stream()))?),
            None => Ok(self.reader.next_position()),
        }
    }

    fn head(&self) -> u64 {
        self.reader.next_position()
    }
}

/// Folds one partition with the projection's code: the sandbox holds the
/// state the first call hands it and carries it on from there.
struct PartitionFolder<'a> {
    fold: Box<dyn Fold>,
    partition: &'a str,
    loaded: bool,
}

impl PartitionFolder<'_> {
    /// Hands the sandbox the state to carry on from, the first time.
    fn load(&mut self, state: &Value) -> Result<(), HistoryError> {
        if !self.loaded {
            let states = serde_json::value::to_raw_value(&serde_json::json!({ self.partition: state }))
                .map_err(|e| HistoryError::Failed(format!("encoding a state: {e}")))?;
            self.fold.load(&states).map_err(|e| HistoryError::Failed(e.message))?;
            self.loaded = true;
        }
        Ok(())
    }
}

impl Folder for PartitionFolder<'_> {
    /// The partition's own events, folded in the sandbox; the state is
    /// read back once at the end.
    fn fold_all(&mut self, state: &mut Value, events: &[RecordedEvent]) -> Result<(), HistoryError> {
        self.load(state)?;
        for e in events {
            // A failing event is parked by the live projection: it changes nothing.
            let _ = self.fold.apply(self.partition, e);
            self.fold.take_emitted();
        }
        *state = self.fold.state(self.partition, true).unwrap_or(Value::Null);
        Ok(())
    }

    fn fold(&mut self, state: &mut Value, e: &RecordedEvent) -> Result<Option<Vec<LeafChange>>, HistoryError> {
        match self.fold.partition(e) {
            Ok(Some(key)) if key == self.partition => {}
            _ => return Ok(None),
        }
        self.load(state)?;
        // A failing event is parked by the live projection: it changes nothing.
        let applied = self.fold.apply(self.partition, e);
        self.fold.take_emitted();
        if applied.is_err() {
            return Ok(None);
        }
        let after = self.fold.state(self.partition, true).unwrap_or(Value::Null);
        let changes = writeset::changes(Some(state), Some(&after));
        *state = after;
        Ok(Some(changes))
    }
}
