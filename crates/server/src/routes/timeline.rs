//! A subject's events by index (a stream, a projection partition, or
//! either on a fork): what the debugger's scrubber pages through, so that
//! opening a subject with a million events reads a page and a few ticks,
//! never the whole history.

use axum::extract::State;
use axum::Json;
use hindsight_timetravel::service::TimelineAsk;
use serde_json::Value;

use super::time::{ask_target, Target};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::wire::{ErrorBody, TimeTimelineQuery};

const LIMIT_MAX: usize = 10_000;
const TICKS_MAX: usize = 64;

async fn timeline_of(state: &AppState, target: Target, q: TimeTimelineQuery) -> Result<Json<Value>, ApiError> {
    let at = super::read::as_of(state, q.at.as_deref())?;
    let ticks = q.ticks.unwrap_or(0);
    if ticks > TICKS_MAX {
        return Err(ApiError::bad_request("invalid_query", format!("ticks must be at most {TICKS_MAX}")));
    }
    let ask = TimelineAsk { from: q.from.unwrap_or(0), limit: q.limit.unwrap_or(100).min(LIMIT_MAX), at, ticks };
    ask_target(state, target, None, Box::new(move |h, key, feed| h.timeline(key, feed, ask))).await
}

const ANSWER: &str = "{\"count\", \"from\", \"events\": [{\"index\", \"position\", \"version\", \"changes\"}], \"at_index\", \"ticks\": [{\"index\", \"position\", \"timestamp\"}]}";

/// A stream's events by index (its versions), a page at a time.
#[utoipa::path(get, path = "/v1/streams/{stream}/timeline",
    params(("stream" = String, Path, description = "stream name"), TimeTimelineQuery),
    responses((status = 200, description = ANSWER), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<TimeTimelineQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.partition.is_some() {
        return Err(ApiError::bad_request("invalid_query", "partition is for projections, not streams"));
    }
    timeline_of(&state, Target::Stream(stream), q).await
}

/// The events that a projection partition folded, by index.
#[utoipa::path(get, path = "/v1/projections/{name}/timeline",
    params(("name" = String, Path, description = "projection name"), TimeTimelineQuery),
    responses((status = 200, description = ANSWER), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn projection(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<TimeTimelineQuery>,
) -> Result<Json<Value>, ApiError> {
    timeline_of(&state, Target::partition(name, q.partition.clone(), None), q).await
}

/// A fork stream's events by index.
#[utoipa::path(get, path = "/v1/forks/{name}/streams/{stream}/timeline",
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name"), TimeTimelineQuery),
    responses((status = 200, description = ANSWER), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fork_stream(
    State(state): State<AppState>,
    Path((fork, stream)): Path<(String, String)>,
    Query(q): Query<TimeTimelineQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.partition.is_some() {
        return Err(ApiError::bad_request("invalid_query", "partition is for projections, not streams"));
    }
    timeline_of(&state, Target::ForkStream { fork, stream }, q).await
}

/// The events a fork projection partition folded, by index.
#[utoipa::path(get, path = "/v1/forks/{name}/projections/{projection}/timeline",
    params(("name" = String, Path, description = "fork name"), ("projection" = String, Path, description = "projection name"), TimeTimelineQuery),
    responses((status = 200, description = ANSWER), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fork_projection(
    State(state): State<AppState>,
    Path((fork, projection)): Path<(String, String)>,
    Query(q): Query<TimeTimelineQuery>,
) -> Result<Json<Value>, ApiError> {
    let partition = q.partition.clone().unwrap_or_default();
    timeline_of(&state, Target::ForkPartition { fork, projection, partition }, q).await
}
