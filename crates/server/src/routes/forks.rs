//! `/v1/forks`: isolated timelines over the live log (skips, edits,
//! hypothetical appends), read and asked about like the live store. A
//! fork only ever reads the live store (`hindsight-timetravel`'s
//! `ForkReader`); nothing here writes it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hindsight_timetravel::compare::compare_stream;
use hindsight_timetravel::forks::Forks;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::wire::{
    to_part, AppendRequest, AppendResponse, ErrorBody, ForkCreate, ForkDiffQuery, ForkEdit, ForkSkip, HeaderMetadata,
    ReadAllQuery, ReadStreamQuery,
};

pub(crate) fn forks(state: &AppState) -> Result<Arc<Forks>, ApiError> {
    state
        .forks
        .clone()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_IMPLEMENTED, "forks_disabled", "this server keeps no forks"))
}

/// Makes a fork of the live log as of `base` (the head by default).
#[utoipa::path(post, path = "/v1/forks", request_body = ForkCreate,
    responses((status = 201, description = "{\"name\", \"base\", \"base_end\", \"head\", \"skips\", \"edits\", \"appended\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn create(State(state): State<AppState>, Json(body): Json<ForkCreate>) -> Result<Response, ApiError> {
    let forks = forks(&state)?;
    let base = super::read::as_of(&state, body.base.as_deref())?;
    let created_at = hindsight_store::timestamp::rfc3339(state.store.clock_us());
    let described = forks.create(&body.name, base, created_at).await?;
    Ok((StatusCode::CREATED, axum::Json(described)).into_response())
}

/// Every fork.
#[utoipa::path(get, path = "/v1/forks", responses((status = 200, description = "{\"forks\": [...]}"), (status = 501, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(json!({ "forks": forks(&state)?.list() })))
}

/// One fork: its base, skips, edits and appended events.
#[utoipa::path(get, path = "/v1/forks/{name}", params(("name" = String, Path, description = "fork name")),
    responses((status = 200, description = "the fork"), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(forks(&state)?.get(&name)?.describe()))
}

/// Deletes a fork (nothing live changes).
#[utoipa::path(delete, path = "/v1/forks/{name}", params(("name" = String, Path, description = "fork name")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    forks(&state)?.delete(&name).await?;
    state.fork_runs.forget(&name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Hides base events on the fork, by live position or id.
#[utoipa::path(post, path = "/v1/forks/{name}/skip", request_body = ForkSkip, params(("name" = String, Path, description = "fork name")),
    responses((status = 200, description = "the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn skip(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<ForkSkip>,
) -> Result<axum::Json<Value>, ApiError> {
    Ok(axum::Json(forks(&state)?.skip(&name, &body.positions, &body.ids).await?))
}

/// Replaces a base event's data (and metadata) on the fork only.
#[utoipa::path(post, path = "/v1/forks/{name}/edit", request_body = ForkEdit, params(("name" = String, Path, description = "fork name")),
    responses((status = 200, description = "the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<ForkEdit>,
) -> Result<axum::Json<Value>, ApiError> {
    let (position, edit) = super::whatif::edit(body)?;
    Ok(axum::Json(forks(&state)?.edit(&name, position, edit).await?))
}

/// Appends hypothetical events to a stream of the fork (after its base).
#[utoipa::path(post, path = "/v1/forks/{name}/streams/{stream}", request_body = AppendRequest,
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name")),
    responses((status = 200, body = AppendResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn append(
    State(state): State<AppState>,
    Path((name, stream)): Path<(String, String)>,
    Json(req): Json<AppendRequest>,
) -> Result<Response, ApiError> {
    let part = to_part(stream.clone(), req.expected_version.as_ref(), req.events, &HeaderMetadata::default())?;
    let results = forks(&state)?.append(&name, vec![part]).await?;
    let r = results.first().ok_or_else(|| ApiError::from(hindsight_store::StoreError::Backend("no result".into())))?;
    Ok(axum::Json(AppendResponse::new(&stream, r)).into_response())
}

/// Reads a stream of the fork, as `GET /v1/streams/{stream}` does live.
#[utoipa::path(get, path = "/v1/forks/{name}/streams/{stream}",
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name"), ReadStreamQuery),
    responses((status = 200, description = "{\"stream\", \"events\", \"next\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn read_stream(
    State(state): State<AppState>,
    Path((name, stream)): Path<(String, String)>,
    Query(q): Query<ReadStreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let fork = forks(&state)?.get(&name)?;
    super::read::stream_page(&state, &*fork.reader, stream, q, &headers).await
}

/// Reads the fork's `$all`, as `GET /v1/all` does live.
#[utoipa::path(get, path = "/v1/forks/{name}/all",
    params(("name" = String, Path, description = "fork name"), ReadAllQuery),
    responses((status = 200, description = "{\"events\", \"next_position\", \"end_of_log\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn read_all(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ReadAllQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let fork = forks(&state)?.get(&name)?;
    super::read::all_page(&state, &*fork.reader, q, &headers).await
}

/// A stream's document, or a projection's read model, on the fork
/// against live (or `against` another fork). A stream: the RFC 6902 patch
/// from the other document to the fork's and the first version at which
/// they differ. A projection (each timeline with its own source, the
/// live one's unless one was put on the fork): the partitions added,
/// removed and changed, each with its fields, patch, state digests and
/// the first live position at which it diverges.
#[utoipa::path(get, path = "/v1/forks/{name}/diff",
    params(("name" = String, Path, description = "fork name"), ForkDiffQuery),
    responses((status = 200, description = "stream: {\"stream\", \"from\", \"to\", \"patch\", \"first_divergence\"}; projection: {\"projection\", \"from\", \"to\", \"partitions_compared\", \"identical\", \"added\", \"removed\", \"changed\", \"partitions\": [{\"partition\", \"kind\", \"fields\", \"patch\", \"digests\", \"first_divergence\"}], \"events_refolded\", \"failed\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ForkDiffQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let forks = forks(&state)?;
    let fork = forks.get(&name)?;
    let other = q.against.as_deref().map(|o| forks.get(o)).transpose()?;
    let answer = match (&q.stream, &q.projection) {
        (Some(stream), None) => match &other {
            Some(o) => compare_stream(&*o.reader, &*fork.reader, stream, (o.name(), &name)).await?,
            None => compare_stream(&*state.store, &*fork.reader, stream, ("live", &name)).await?,
        },
        (None, Some(projection)) => {
            let limit = match q.limit {
                Some(0) => return Err(ApiError::bad_request("invalid_query", "limit must be at least 1")),
                l => l.unwrap_or(100).min(10_000),
            };
            let options = hindsight_projections::timelines::Options { limit, ..Default::default() };
            let registry = super::projections::registry(&state)?;
            registry.fork_diff(&fork, other.as_deref(), projection, q.partition.clone(), options).await?
        }
        _ => return Err(ApiError::bad_request("invalid_query", "give one of stream or projection")),
    };
    Ok(axum::Json(answer))
}
