//! Projections on what-if timelines: folding a projection (or a candidate
//! source) over a fork, comparing a fork's read model with live's or
//! another fork's, and the counterfactual impact of skipping or editing
//! live events. Nothing here writes the live store or a live projection:
//! every fold runs in memory over a reader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hindsight_store::Limits as StoreLimits;
use hindsight_timetravel::fork::{Edit, ForkReader};
use hindsight_timetravel::forks::{Fork, ForkProjection};
use hindsight_timetravel::service::HistoryError;
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::registry::Registry;
use crate::timelines::{self, Folded, Keys, Options, Side};

/// What to change for an impact question: live events to skip (by
/// position) and to edit.
#[derive(Debug, Clone, Default)]
pub struct WhatIf {
    pub skip: Vec<u64>,
    pub edit: Vec<(u64, Edit)>,
    /// Only these projections (empty: every one).
    pub projections: Vec<String>,
}

impl Registry {
    /// The source projection `name` runs live now.
    pub fn live_source(&self, name: &str) -> Result<String, HistoryError> {
        let definition = self.definition(name)?;
        definition.current().map(|v| v.source.clone()).ok_or_else(|| HistoryError::Failed("no version".into()))
    }

    /// The exclusive end position a point resolves to on the live log.
    pub async fn end_position(&self, at: hindsight_store::AsOf) -> Result<u64, hindsight_store::StoreError> {
        hindsight_store::end_position(&*self.reader, at, None).await
    }

    /// What running `source` (None: the live one's) as projection `name`
    /// on a fork is, checked to load.
    pub fn fork_projection(&self, name: &str, source: Option<String>) -> Result<ForkProjection, HistoryError> {
        let live = self.live_source(name);
        let source = match source {
            Some(s) => s,
            None => live.as_ref().map_err(|_| missing_source(name))?.clone(),
        };
        crate::builtin::fold_for(&source, self.settings.limits, 1)
            .map_err(|e| HistoryError::Invalid(format!("the source does not load: {e}")))?;
        let candidate = live.map_or(true, |l| l != source);
        Ok(ForkProjection { hash: blake3::hash(source.as_bytes()).to_hex().to_string(), source, candidate })
    }

    /// The source a timeline runs projection `name` with: the fork's own
    /// if it was given one, else live's.
    fn source_on(&self, fork: Option<&Fork>, name: &str) -> Result<String, HistoryError> {
        match fork.and_then(|f| f.projection(name)) {
            Some(p) => Ok(p.source.clone()),
            None => self.live_source(name),
        }
    }

    /// Projection `name` on `fork` against live (or the fork `against`):
    /// partitions added, removed and changed, each with its patch, its
    /// fields, both states' digests and where the two first differ.
    pub async fn fork_diff(
        &self,
        fork: &Fork,
        against: Option<&Fork>,
        name: &str,
        partition: Option<String>,
        options: Options,
    ) -> Result<Value, HistoryError> {
        let (from_source, to_source) = (self.source_on(against, name)?, self.source_on(Some(fork), name)?);
        let to = Side::fork(fork.name(), &fork.reader, to_source.clone());
        let from = match against {
            Some(other) => Side::fork(other.name(), &other.reader, from_source.clone()),
            None => Side::live(self.reader.clone(), from_source.clone(), fork.reader.overlay().base_end),
        };
        let keys = match partition {
            Some(k) => Keys::Only([k].into()),
            None if from_source == to_source => {
                let limits = self.settings.limits;
                let sources = (from_source.clone(), to_source.clone());
                let mut keys = timelines::affected(self.reader.clone(), fork.reader.clone(), sources, limits).await?;
                if let Some(other) = against {
                    let sources = (from_source.clone(), to_source.clone());
                    keys.extend(timelines::affected(self.reader.clone(), other.reader.clone(), sources, limits).await?);
                }
                Keys::Only(keys)
            }
            None => Keys::All,
        };
        let started = Instant::now();
        let mut answer = timelines::compare(from, to, keys, self.settings.limits, options).await?;
        answer["projection"] = json!(name);
        answer["elapsed_ms"] = json!(started.elapsed().as_secs_f64() * 1e3);
        Ok(answer)
    }

    /// What would differ, in every projection (or those asked), had the
    /// live events in `what` been skipped or edited: a throwaway fork of
    /// the head, compared with live partition by partition, folding only
    /// the partitions the changes touch.
    pub async fn impact(&self, what: WhatIf, options: Options) -> Result<Value, HistoryError> {
        let started = Instant::now();
        let fork = Arc::new(ForkReader::new(self.reader.clone(), None, StoreLimits::default()).await?);
        fork.skip(&what.skip).await?;
        for (position, edit) in what.edit {
            fork.edit(position, edit).await?;
        }
        let names = if what.projections.is_empty() { self.names() } else { what.projections };
        let (mut out, mut refolded) = (Vec::new(), 0);
        for name in names {
            let source = self.live_source(&name)?;
            let sources = (source.clone(), source.clone());
            let keys = timelines::affected(self.reader.clone(), fork.clone(), sources, self.settings.limits).await?;
            let live = Side::live(self.reader.clone(), source.clone(), fork.overlay().base_end);
            let mut answer = timelines::compare(
                live,
                Side::fork("what_if", &fork, source),
                Keys::Only(keys),
                self.settings.limits,
                options,
            )
            .await?;
            refolded += answer["events_refolded"].as_u64().unwrap_or(0);
            answer["projection"] = json!(name);
            out.push(answer);
        }
        Ok(json!({
            "position": fork.overlay().base_end.checked_sub(1),
            "projections": out,
            "events_refolded": refolded,
            "elapsed_ms": started.elapsed().as_secs_f64() * 1e3,
        }))
    }

    /// Projection `name` folded over a fork's whole timeline (with the
    /// fork's source, or live's), kept in `runs` while the fork is unchanged.
    pub async fn fork_fold(&self, runs: &ForkRuns, fork: &Fork, name: &str) -> Result<Arc<Folded>, HistoryError> {
        let run = fork.projection(name).ok_or_else(|| HistoryError::NotFound {
            kind: "projection",
            name: format!("{name} on fork {}", fork.name()),
        })?;
        let cell = runs.cell(fork, name, &run.hash);
        let side = Side::fork(fork.name(), &fork.reader, run.source.clone());
        let folded =
            cell.get_or_try_init(|| async { timelines::fold(side, self.settings.limits).await.map(Arc::new) }).await?;
        Ok(folded.clone())
    }
}

fn missing_source(name: &str) -> HistoryError {
    HistoryError::Invalid(format!("no live projection is named {name:?}: give the source to run on the fork"))
}

/// Projections folded over forks, by fork, projection, fork revision and
/// source: at most [`ForkRuns::KEPT`], the oldest dropped first.
#[derive(Default)]
pub struct ForkRuns {
    runs: Mutex<HashMap<(String, String), Run>>,
}

struct Run {
    revision: u64,
    hash: String,
    cell: Arc<OnceCell<Arc<Folded>>>,
    used: Instant,
}

impl ForkRuns {
    pub const KEPT: usize = 16;

    fn cell(&self, fork: &Fork, name: &str, hash: &str) -> Arc<OnceCell<Arc<Folded>>> {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let key = (fork.name().to_string(), name.to_string());
        let fresh = runs.get(&key).is_some_and(|r| r.revision == fork.revision && r.hash == hash);
        if !fresh {
            if runs.len() >= Self::KEPT {
                let oldest = runs.iter().min_by_key(|(_, r)| r.used).map(|(k, _)| k.clone());
                oldest.map(|k| runs.remove(&k));
            }
            let run =
                Run { revision: fork.revision, hash: hash.to_string(), cell: Default::default(), used: Instant::now() };
            runs.insert(key.clone(), run);
        }
        match runs.get_mut(&key) {
            Some(run) => {
                run.used = Instant::now();
                run.cell.clone()
            }
            None => Default::default(),
        }
    }

    /// Forgets a fork's runs (deleted).
    pub fn forget(&self, fork: &str) {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).retain(|(f, _), _| f != fork);
    }
}
