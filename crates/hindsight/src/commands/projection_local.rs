//! `hindsight projection ...` with no server: the same commands on the
//! data directory, through the same registry a server runs (its workers
//! fold while the command runs and checkpoint when it ends). Answers are
//! the server's JSON.

use std::time::Duration;

use anyhow::Context;
use hindsight_projections::registry::{Registry, Tuning};
use serde_json::Value;

use super::projection::Shape;
use super::target::Target;
use crate::cli::ProjectionCommand;

pub async fn run(at: Target<'_>, command: &ProjectionCommand) -> anyhow::Result<(Value, Shape)> {
    let store =
        at.open(true).await.context("no server answers at http://127.0.0.1:7113, so the data directory is used")?;
    let registry = at.projections(store.clone())?;
    let answer = answer(&registry, command).await;
    registry.shutdown().await;
    drop(registry);
    store.shutdown()?;
    answer
}

fn json<T: serde::Serialize>(value: T) -> anyhow::Result<Value> {
    Ok(serde_json::to_value(value)?)
}

async fn answer(registry: &Registry, command: &ProjectionCommand) -> anyhow::Result<(Value, Shape)> {
    Ok(match command {
        ProjectionCommand::Create { name, file, on_error, wait } => {
            let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let put = registry.put(name, &source, on_error, Tuning::default()).await?;
            if *wait {
                caught_up(registry, name).await?;
            }
            (json(if *wait { registry.summary(name)? } else { put })?, Shape::Status)
        }
        ProjectionCommand::List => (serde_json::json!({ "projections": registry.summaries() }), Shape::List),
        ProjectionCommand::Status { name } => (json(registry.summary(name)?)?, Shape::Status),
        // Without a server the states are as of the checkpoint: brought up
        // to the end of the log first.
        ProjectionCommand::State { name, partition } => {
            caught_up(registry, name).await?;
            (registry.state_answer(name, partition).await?, Shape::Json)
        }
        ProjectionCommand::Partitions { name, after, limit } => {
            caught_up(registry, name).await?;
            (registry.partitions_answer(name, after.clone(), *limit).await?, Shape::Json)
        }
        ProjectionCommand::Pause { name } => (json(registry.set_paused(name, true)?)?, Shape::Status),
        ProjectionCommand::Resume { name } => (json(registry.set_paused(name, false)?)?, Shape::Status),
        ProjectionCommand::Reset { name } => (json(registry.reset(name).await?)?, Shape::Status),
        ProjectionCommand::Delete { name } => {
            registry.delete(name).await?;
            (Value::Null, Shape::Deleted)
        }
        ProjectionCommand::Parked { name } => (registry.parked_answer(name).await?, Shape::Json),
        ProjectionCommand::Replay { name, position } | ProjectionCommand::Discard { name, position } => {
            let action = if matches!(command, ProjectionCommand::Replay { .. }) { "replay" } else { "discard" };
            let answer = registry.parked_action(name, *position, action).await?;
            (answer.with_context(|| format!("no event is parked at position {position}"))?, Shape::Json)
        }
        ProjectionCommand::DryRun { name, file, from, to } => {
            let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            (json(registry.dry_run(name, &source, *from, *to).await?)?, Shape::Json)
        }
        ProjectionCommand::Preview { name, file, from, to, .. } => {
            let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let (from, to) = (point_in(registry, from.as_deref()).await?, point_in(registry, to.as_deref()).await?);
            (json(registry.dry_run(name, &source, from, to).await?)?, Shape::Json)
        }
        ProjectionCommand::Verify { name } => (registry.verify(name).await?, Shape::Json),
    })
}

/// The position of the last event at a point, on the data directory.
async fn point_in(registry: &Registry, point: Option<&str>) -> anyhow::Result<Option<u64>> {
    let Some(point) = point else { return Ok(None) };
    if let Ok(p) = point.parse::<u64>() {
        return Ok(Some(p));
    }
    let end = registry.end_position(point.parse()?).await?;
    Ok(Some(end.checked_sub(1).with_context(|| format!("no event at or before {point}"))?))
}

/// Waits until the newest version answers and has the whole log.
pub(super) async fn caught_up(registry: &Registry, name: &str) -> anyhow::Result<()> {
    loop {
        let s = registry.summary(name)?;
        if s.rebuild.is_none() && s.lag_events == 0 || s.status == "faulted" || s.status == "paused" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
