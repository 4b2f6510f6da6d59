//! `/v1/projections`: create, inspect, pause, reset and delete
//! projections, query their states, and handle parked events. The work
//! itself runs on each projection's own thread (`hindsight-projections`);
//! these handlers only ask it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hindsight_projections::registry::{Registry, RegistryError};
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::wire::{DryRunRequest, ErrorBody, FixtureQuery, PartitionsQuery, ProjectionPut, ProjectionStateQuery};

const PARTITIONS_DEFAULT: usize = 100;
const PARTITIONS_MAX: usize = 10_000;

pub(crate) fn registry(state: &AppState) -> Result<Arc<Registry>, ApiError> {
    state.projections.clone().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "projections_disabled", "this server runs no projections")
    })
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let (status, code) = match &e {
            RegistryError::NotFound(_) => (StatusCode::NOT_FOUND, "projection_not_found"),
            RegistryError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_projection"),
            RegistryError::Gone(_) => (StatusCode::SERVICE_UNAVAILABLE, "projection_unavailable"),
            RegistryError::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "projection_io"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// Creates a projection, or makes the source its new version.
#[utoipa::path(put, path = "/v1/projections/{name}", request_body = ProjectionPut,
    params(("name" = String, Path, description = "projection name")),
    responses((status = 200, description = "the projection's status"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<ProjectionPut>,
) -> Result<Response, ApiError> {
    let d = hindsight_projections::registry::Tuning::default();
    let tuning = hindsight_projections::registry::Tuning {
        retries: body.retries.unwrap_or(d.retries),
        retry_backoff_ms: body.retry_backoff_ms.unwrap_or(d.retry_backoff_ms),
        breaker_failures: body.breaker_failures.unwrap_or(d.breaker_failures),
        breaker_window_secs: body.breaker_window_secs.unwrap_or(d.breaker_window_secs),
        breaker_cool_down_secs: body.breaker_cool_down_secs.unwrap_or(d.breaker_cool_down_secs),
    };
    if tuning.retries > 100 || tuning.retry_backoff_ms > 60_000 {
        return Err(ApiError::bad_request(
            "invalid_projection",
            "retries is at most 100 and retry_backoff_ms at most 60000",
        ));
    }
    let summary = registry(&state)?.put(&name, &body.source, &body.on_error, tuning).await?;
    Ok(axum::Json(summary).into_response())
}

/// Every projection's status.
#[utoipa::path(get, path = "/v1/projections", responses((status = 200, description = "{\"projections\": [status...]}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(axum::Json(json!({ "projections": registry(&state)?.summaries() })).into_response())
}

/// One projection's status: running, paused, faulted, stalled; its
/// position, lag, rate, errors and parked events.
#[utoipa::path(get, path = "/v1/projections/{name}", params(("name" = String, Path, description = "projection name")),
    responses((status = 200, description = "the projection's status"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(registry(&state)?.summary(&name)?).into_response())
}

/// Stops the projection and removes its states and definition.
#[utoipa::path(delete, path = "/v1/projections/{name}", params(("name" = String, Path, description = "projection name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    registry(&state)?.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `pause`, `resume` or `reset` (rebuild from the start of the log).
#[utoipa::path(post, path = "/v1/projections/{name}/{action}",
    params(("name" = String, Path, description = "projection name"), ("action" = String, Path, description = "pause, resume or reset")),
    responses((status = 200, description = "the projection's status"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn control(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let registry = registry(&state)?;
    let summary = match action.as_str() {
        "pause" => registry.set_paused(&name, true)?,
        "resume" => registry.set_paused(&name, false)?,
        "reset" => registry.reset(&name).await?,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no action {other:?}: use pause, resume or reset"),
            ))
        }
    };
    Ok(axum::Json(summary).into_response())
}

/// A partition's state and the position it reflects.
#[utoipa::path(get, path = "/v1/projections/{name}/state",
    params(("name" = String, Path, description = "projection name"), ProjectionStateQuery),
    responses((status = 200, description = "{\"partition\", \"state\", \"position\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn state(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ProjectionStateQuery>,
) -> Result<Response, ApiError> {
    if q.as_of.is_some() || q.version.is_some() {
        let target = super::time::Target::partition(name, Some(q.partition), q.version);
        let query = crate::wire::TimeStateQuery { as_of: q.as_of, ..Default::default() };
        return Ok(super::time::state_of(&state, target, query).await?.into_response());
    }
    Ok(axum::Json(registry(&state)?.state_answer(&name, &q.partition).await?).into_response())
}

/// Partition keys, in order, a page at a time.
#[utoipa::path(get, path = "/v1/projections/{name}/partitions",
    params(("name" = String, Path, description = "projection name"), PartitionsQuery),
    responses((status = 200, description = "{\"partitions\": [...], \"next_after\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn partitions(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PartitionsQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(PARTITIONS_DEFAULT);
    if limit == 0 || limit > PARTITIONS_MAX {
        return Err(ApiError::bad_request("invalid_limit", format!("limit must be 1..={PARTITIONS_MAX}")));
    }
    Ok(axum::Json(registry(&state)?.partitions_answer(&name, q.after, limit).await?).into_response())
}

/// Events set aside, each with its error, stack and the state before it.
#[utoipa::path(get, path = "/v1/projections/{name}/parked", params(("name" = String, Path, description = "projection name")),
    responses((status = 200, description = "{\"parked\": [...]}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn parked(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(registry(&state)?.parked_answer(&name).await?).into_response())
}

/// A parked or faulted event opened as a debugging case: the state
/// before it, the event, the error and stack, the handler run again on
/// that state in a scratch sandbox (timed), and the requests that skip it
/// on a fork, try a candidate source on a fork, or ask for its impact.
#[utoipa::path(get, path = "/v1/projections/{name}/parked/{position}/case",
    params(("name" = String, Path, description = "projection name"), ("position" = u64, Path, description = "the parked or faulted event's position")),
    responses((status = 200, description = "{\"projection\", \"position\", \"how\", \"partition\", \"state_before\", \"event\", \"error\", \"stack\", \"rerun\": {\"failed\", \"duration_ms\", ...}, \"actions\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn case(
    State(state): State<AppState>,
    Path((name, position)): Path<(String, u64)>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(registry(&state)?.case(&name, position).await?).into_response())
}

/// A given-when-then test pinning the value a partition's field held at
/// a point: the partition's events then, minimized by delta debugging to
/// the fewest that still give the value, as a Node (`js`) or Rust test.
#[utoipa::path(get, path = "/v1/projections/{name}/fixture",
    params(("name" = String, Path, description = "projection name"), FixtureQuery),
    responses((status = 200, description = "{\"projection\", \"partition\", \"pointer\", \"as_of\", \"lang\", \"value\", \"events_total\", \"events_kept\", \"tests\", \"code\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fixture(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<FixtureQuery>,
) -> Result<Response, ApiError> {
    use hindsight_projections::fixture::{javascript, rust, Subject};
    let registry = registry(&state)?;
    let lang = q.lang.as_deref().unwrap_or("js");
    if !matches!(lang, "js" | "rust") {
        return Err(ApiError::bad_request("invalid_query", format!("lang {lang:?}: use js or rust")));
    }
    let partition = q.partition.unwrap_or_default();
    let end = match super::read::as_of(&state, q.as_of.as_deref())? {
        Some(at) => hindsight_store::end_position(&*state.store, at, None).await?,
        None => state.store.next_position(),
    };
    let m = registry.fixture(&name, &partition, &q.pointer, end).await?;
    let source = registry.live_source(&name)?;
    let as_of = end.checked_sub(1).map_or("the start".to_string(), |p| format!("position:{p}"));
    let subject =
        Subject { projection: &name, source: &source, partition: &partition, pointer: &q.pointer, as_of: &as_of };
    let code = if lang == "js" { javascript(&subject, &m) } else { rust(&subject, &m) };
    Ok(axum::Json(serde_json::json!({
        "projection": name, "partition": partition, "pointer": q.pointer, "as_of": as_of, "lang": lang,
        "value": m.value, "events_total": m.events_total, "events_kept": m.events.len(), "tests": m.tests, "code": code,
    }))
    .into_response())
}

/// `replay` a parked event (after a fix) or `discard` it.
#[utoipa::path(post, path = "/v1/projections/{name}/parked/{position}/{action}",
    params(("name" = String, Path, description = "projection name"), ("position" = u64, Path, description = "the parked event's position"),
           ("action" = String, Path, description = "replay or discard")),
    responses((status = 200, description = "{\"replayed\": bool} or {\"discarded\": true}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn parked_action(
    State(state): State<AppState>,
    Path((name, position, action)): Path<(String, u64, String)>,
) -> Result<Response, ApiError> {
    if !matches!(action.as_str(), "replay" | "discard") {
        let message = format!("no action {action:?}: use replay or discard");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", message));
    }
    match registry(&state)?.parked_action(&name, position, &action).await? {
        Some(answer) => Ok(axum::Json(answer).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_parked",
            format!("no event is parked at position {position}"),
        )),
    }
}

/// Runs a candidate source over the history the live states reflect,
/// without touching them, and answers what it would change: partitions
/// added, removed and changed (each as an RFC 6902 patch from the live
/// state), and the events it failed on.
#[utoipa::path(post, path = "/v1/projections/{name}/dry-run", request_body = DryRunRequest,
    params(("name" = String, Path, description = "projection name")),
    responses((status = 200, description = "{\"position\", \"added\", \"removed\", \"changed\": [{\"partition\", \"patch\"}], \"failed\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn dry_run(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<DryRunRequest>,
) -> Result<Response, ApiError> {
    if let (Some(from), Some(to)) = (body.from, body.to) {
        if from > to {
            return Err(ApiError::bad_request("invalid_range", format!("from {from} is after to {to}")));
        }
    }
    Ok(axum::Json(registry(&state)?.dry_run(&name, &body.source, body.from, body.to).await?).into_response())
}

/// Rebuilds the current source in a scratch area and compares it with the
/// live states; a difference names the first partition that differs.
#[utoipa::path(post, path = "/v1/projections/{name}/verify", params(("name" = String, Path, description = "projection name")),
    responses((status = 200, description = "{\"ok\": true, ...} or {\"ok\": false, \"first_difference\": {...}}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 500, body = ErrorBody), (status = 501, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn verify(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(axum::Json(registry(&state)?.verify(&name).await?).into_response())
}
