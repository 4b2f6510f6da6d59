//! Folding history into a scratch area and comparing it with the live
//! states: the dry run of a candidate source (what would change, as RFC
//! 6902 patches per partition) and the determinism check (the live source
//! again: any difference names the first partition that differs). Nothing
//! live is touched: the scratch fold has its own sandbox, states and
//! checkpoint directory, removed afterwards.

use std::collections::BTreeMap;

use hindsight_store::EventReader;
use serde::Serialize;
use serde_json::Value;

use crate::js::Limits;
use crate::{FailurePolicy, Fold, Parked, Runner, RunnerError};

/// Every partition's state, by key.
pub type States = BTreeMap<String, Value>;

/// A partition whose state differs.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub partition: String,
    /// From the live state to the candidate's.
    pub patch: json_patch::Patch,
}

/// What a candidate source would change.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Both folds reflect `$all` up to here (the live position).
    pub position: Option<u64>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<Changed>,
    /// Events the candidate failed on (it parks them and goes on).
    pub failed: Vec<Parked>,
}

/// Folds `$all` from `from` up to `position` (inclusive) with `source`,
/// from nothing, keeping no checkpoint: the states and the events it
/// failed on.
pub async fn fold_history(
    source: &str,
    limits: Limits,
    reader: &dyn EventReader,
    (from, position): (u64, Option<u64>),
) -> Result<(States, Vec<Parked>), RunnerError> {
    let fold =
        crate::builtin::fold_for(source, limits, 1).map_err(|e| RunnerError::States(crate::HandlerError::new(e)))?;
    let mut runner = Runner::open_in(fold, Box::new(crate::checkpoint::Nowhere), FailurePolicy::Park)?
        .checkpoint_every(1 << 60)
        .page_events(10_000)
        .starting_after(from.checked_sub(1));
    if let Some(p) = position {
        runner.advance(reader, p + 1, usize::MAX).await?;
    }
    let saved = runner.fold_mut().save().map_err(RunnerError::States)?;
    let parked = runner.parked().to_vec();
    let states =
        serde_json::from_str(saved.get()).map_err(|e| RunnerError::States(crate::HandlerError::new(e.to_string())))?;
    Ok((states, parked))
}

/// The difference from `live` to `candidate`.
pub fn diff(live: &States, candidate: &States, position: Option<u64>, failed: Vec<Parked>) -> Diff {
    let added = candidate.keys().filter(|k| !live.contains_key(*k)).cloned().collect();
    let removed = live.keys().filter(|k| !candidate.contains_key(*k)).cloned().collect();
    let changed = live
        .iter()
        .filter_map(|(k, old)| {
            let new = candidate.get(k)?;
            (old != new).then(|| Changed { partition: k.clone(), patch: json_patch::diff(old, new) })
        })
        .collect();
    Diff { position, added, removed, changed, failed }
}

/// The first partition (in key order) whose states differ, with both.
pub fn first_difference(live: &States, rebuilt: &States) -> Option<(String, Option<Value>, Option<Value>)> {
    let keys: std::collections::BTreeSet<&String> = live.keys().chain(rebuilt.keys()).collect();
    keys.into_iter()
        .find(|k| live.get(*k) != rebuilt.get(*k))
        .map(|k| (k.clone(), live.get(k).cloned(), rebuilt.get(k).cloned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_names_added_removed_and_changed_partitions_with_patches() {
        let live: States =
            [("a".into(), json!({"n": 1})), ("b".into(), json!({"n": 2})), ("c".into(), json!(3))].into();
        let cand: States =
            [("a".into(), json!({"n": 1})), ("b".into(), json!({"n": 5, "x": true})), ("d".into(), json!(0))].into();
        let d = diff(&live, &cand, Some(9), Vec::new());
        assert_eq!((d.added, d.removed), (vec!["d".to_string()], vec!["c".to_string()]));
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].partition, "b");
        let mut patched = json!({"n": 2});
        json_patch::patch(&mut patched, &d.changed[0].patch).unwrap();
        assert_eq!(patched, json!({"n": 5, "x": true}));
        assert_eq!(first_difference(&live, &cand).map(|d| d.0), Some("b".to_string()));
        assert_eq!(first_difference(&live, &live), None);
    }
}
