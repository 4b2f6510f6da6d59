//! Projections on forks (the live source or a candidate, folded over the
//! fork's timeline; time travel on its partitions) and the counterfactual
//! impact of skipping or editing live events. The work is
//! `hindsight-projections`' `whatif`; nothing here writes anything live.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hindsight_projections::timelines::Options;
use hindsight_projections::whatif::WhatIf;
use hindsight_timetravel::fork::Edit;
use serde_json::{json, Value};

use super::forks::forks;
use super::projections::registry;
use super::time::Target;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::wire::{
    ErrorBody, ForkEdit, ForkPageQuery, ForkProjectionPut, ImpactRequest, TimeBlameQuery, TimeDiffQuery,
    TimeHistoryQuery, TimeStateQuery, TimeWatchQuery,
};

/// Listed at most per page.
const PAGE_MAX: usize = 10_000;

/// An edit as the API takes it (metadata, when given, an object).
pub(crate) fn edit(body: ForkEdit) -> Result<(u64, Edit), ApiError> {
    let metadata = body.metadata.map(|m| m.get().to_string());
    if metadata.as_deref().is_some_and(|m| !m.trim_start().starts_with('{')) {
        return Err(ApiError::bad_request("invalid_edit", "metadata must be a JSON object"));
    }
    Ok((body.position, Edit { data: body.data.get().to_string(), metadata }))
}

fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        Some(0) => Err(ApiError::bad_request("invalid_query", "limit must be at least 1")),
        l => Ok(l.unwrap_or(100).min(PAGE_MAX)),
    }
}

/// Runs a projection on the fork: with `source`, a candidate; without,
/// the live projection's source.
#[utoipa::path(put, path = "/v1/forks/{name}/projections/{projection}", request_body = ForkProjectionPut,
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name")),
    responses((status = 200, description = "the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn put_projection(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Json(body): Json<ForkProjectionPut>,
) -> Result<axum::Json<Value>, ApiError> {
    let forks = forks(&state)?;
    forks.get(&name)?;
    let run = registry(&state)?.fork_projection(&projection, body.source)?;
    Ok(axum::Json(forks.set_projection(&name, &projection, Some(run)).await?))
}

/// Stops running a projection on the fork.
#[utoipa::path(delete, path = "/v1/forks/{name}/projections/{projection}",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name")),
    responses((status = 204, description = "no longer run on the fork"), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn delete_projection(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    forks(&state)?.set_projection(&name, &projection, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A projection folded over the fork's whole timeline: its partitions,
/// the events it failed on and the output it emitted (journaled, never
/// published). Folded on first ask after each change to the fork.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name")),
    responses((status = 200, description = "{\"fork\", \"projection\", \"hash\", \"candidate\", \"end\", \"events_folded\", \"partitions\", \"failed\", \"failed_count\", \"journal\"}"), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn get_projection(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
) -> Result<axum::Json<Value>, ApiError> {
    let fork = forks(&state)?.get(&name)?;
    let folded = registry(&state)?.fork_fold(&state.fork_runs, &fork, &projection).await?;
    let run = fork.projection(&projection);
    Ok(axum::Json(json!({
        "fork": name, "projection": projection,
        "hash": run.map(|r| &r.hash), "candidate": run.map(|r| r.candidate),
        "end": folded.end, "events_folded": folded.events_folded,
        "partitions": folded.states.len(),
        "failed": folded.failed.iter().take(100).collect::<Vec<_>>(), "failed_count": folded.failed.len(),
        "journal": folded.journal.len(),
    })))
}

/// A page of the fork projection's partitions with their states, in key order.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/partitions",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), ForkPageQuery),
    responses((status = 200, description = "{\"partitions\": [{\"partition\", \"state\"}], \"next_after\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn partitions(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Query(q): Query<ForkPageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let limit = page_limit(q.limit)?;
    let fork = forks(&state)?.get(&name)?;
    let folded = registry(&state)?.fork_fold(&state.fork_runs, &fork, &projection).await?;
    let from = q.after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
    let page: Vec<Value> = folded
        .states
        .range((from, std::ops::Bound::Unbounded))
        .take(limit)
        .map(|(k, v)| json!({ "partition": k, "state": v }))
        .collect();
    let next = (page.len() == limit).then(|| page.last().map(|p| p["partition"].clone())).flatten();
    Ok(axum::Json(json!({ "partitions": page, "next_after": next })))
}

/// The output the fork projection emitted, in order: what it would have
/// published, kept here and never written anywhere.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/journal",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), ForkPageQuery),
    responses((status = 200, description = "{\"events\": [{\"position\", \"index\", \"stream\", \"type\", \"data\", \"metadata\"}], \"next_after\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn journal(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Query(q): Query<ForkPageQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let limit = page_limit(q.limit)?;
    let start = match q.after.as_deref() {
        None => 0,
        Some(a) => {
            a.parse::<usize>().map_err(|_| ApiError::bad_request("invalid_query", "after is a journal index"))? + 1
        }
    };
    let fork = forks(&state)?.get(&name)?;
    let folded = registry(&state)?.fork_fold(&state.fork_runs, &fork, &projection).await?;
    let page: Vec<_> = folded.journal.iter().skip(start).take(limit).collect();
    let next = (start + page.len() < folded.journal.len()).then(|| (start + page.len() - 1).to_string());
    Ok(axum::Json(json!({ "events": page, "next_after": next })))
}

fn fork_partition(
    fork: String,
    projection: String,
    partition: Option<String>,
    version: Option<u64>,
) -> Result<Target, ApiError> {
    if version.is_some() {
        let m = "a fork runs one source per projection: version is for live projections";
        return Err(ApiError::bad_request("invalid_query", m));
    }
    Ok(Target::ForkPartition { fork, projection, partition: partition.unwrap_or_default() })
}

/// A fork projection partition's state as of a point.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/state",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), TimeStateQuery),
    responses((status = 200, description = "as /v1/projections/{name}/state?as_of=..., on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn state_at(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Query(q): Query<TimeStateQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let target = fork_partition(name, projection, q.partition.clone(), q.version)?;
    super::time::state_of(&state, target, q).await
}

/// The events that changed a fork projection partition's state.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/history",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), TimeHistoryQuery),
    responses((status = 200, description = "as /v1/projections/{name}/history, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Query(q): Query<TimeHistoryQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let target = fork_partition(name, projection, q.partition.clone(), q.version)?;
    super::time::history_of(&state, target, q).await
}

/// What changed in a fork projection partition's state between two points.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/diff",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), TimeDiffQuery),
    responses((status = 200, description = "as /v1/projections/{name}/diff, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Query(q): Query<TimeDiffQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let target = fork_partition(name, projection, q.partition.clone(), q.version)?;
    super::time::diff_of(&state, target, q).await
}

/// The event that set a field of a fork projection partition's state.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/blame",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), TimeBlameQuery),
    responses((status = 200, description = "as /v1/projections/{name}/blame, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn blame(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Query(q): Query<TimeBlameQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let target = fork_partition(name, projection, q.partition.clone(), q.version)?;
    super::time::blame_of(&state, target, q).await
}

/// When a condition on a fork projection partition's state became true.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/watch",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), TimeWatchQuery),
    responses((status = 200, description = "as /v1/projections/{name}/watch, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    Path((name, projection)): Path<(String, String)>,
    Query(q): Query<TimeWatchQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let target = fork_partition(name, projection, q.partition.clone(), q.version)?;
    super::time::watch_of(&state, target, q).await
}

/// What would differ in every projection (or those named) had these live
/// events been skipped or edited: per projection, the partitions added,
/// removed and changed, their fields and patches, and the first live
/// position at which each diverges. Only partitions the changes touch are
/// folded, on a throwaway fork that is never kept.
#[utoipa::path(post, path = "/v1/impact", request_body = ImpactRequest,
    responses((status = 200, description = "{\"position\", \"projections\": [{\"projection\", \"added\", \"removed\", \"changed\", \"partitions\": [{\"partition\", \"kind\", \"fields\", \"patch\", \"digests\", \"first_divergence\"}], \"events_refolded\", \"failed\"}], \"events_refolded\", \"elapsed_ms\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn impact(
    State(state): State<AppState>,
    Json(body): Json<ImpactRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let registry = registry(&state)?;
    let mut skip = body.skip;
    for id in body.ids {
        let e = state.store.event_by_id(id).await?;
        let e = e.ok_or_else(|| ApiError::bad_request("invalid_query", format!("no live event has id {id}")))?;
        skip.push(e.position);
    }
    let edit = body.edit.into_iter().map(edit).collect::<Result<Vec<_>, _>>()?;
    if skip.is_empty() && edit.is_empty() {
        return Err(ApiError::bad_request("invalid_query", "give events to skip (skip, ids) or to edit (edit)"));
    }
    let options = Options { limit: page_limit(body.limit)?, ..Options::default() };
    let what = WhatIf { skip, edit, projections: body.projections };
    Ok(axum::Json(registry.impact(what, options).await?))
}
