//! `/v1/snapshots`: named points a user pins (a stream or a projection
//! partition, as of a point) and later asks about with
//! `as_of=snapshot:ID`. The point is resolved to a position when pinned.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hindsight_timetravel::snapshots::{Snapshot, Snapshots};
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::state::AppState;
use crate::wire::{ErrorBody, SnapshotCreate};

fn snapshots(state: &AppState) -> Result<Arc<Snapshots>, ApiError> {
    state.snapshots.clone().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "snapshots_disabled", "this server keeps no snapshots")
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "snapshot_not_found", format!("no snapshot {id:?}"))
}

/// Checks what the snapshot is of: one stream that exists, or one
/// projection that exists (with a partition).
async fn check_target(state: &AppState, body: &SnapshotCreate) -> Result<Option<String>, ApiError> {
    let bad = |m: &str| ApiError::bad_request("invalid_snapshot", m.to_string());
    match (&body.stream, &body.projection) {
        (Some(stream), None) => {
            if body.partition.is_some() {
                return Err(bad("partition goes with projection, not stream"));
            }
            if state.store.stream_info(stream, None).await?.is_none() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "stream_not_found",
                    format!("stream {stream:?} does not exist"),
                ));
            }
            Ok(Some(stream.clone()))
        }
        (None, Some(name)) => {
            super::projections::registry(state)?.definition(name)?;
            Ok(body.partition.clone())
        }
        _ => Err(bad("give one of stream or projection (with partition)")),
    }
}

/// Pins a point: a stream or projection partition as of `as_of` (now by default).
#[utoipa::path(post, path = "/v1/snapshots", request_body = SnapshotCreate,
    responses((status = 201, description = "the snapshot: {\"id\", \"name\", \"position\", \"as_of\", \"created_at\", ...}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn create(State(state): State<AppState>, Json(body): Json<SnapshotCreate>) -> Result<Response, ApiError> {
    let snapshots = snapshots(&state)?;
    let stream_for_versions = check_target(&state, &body).await?;
    let given = body.as_of.clone().unwrap_or_else(|| "now".to_string());
    let end = match super::read::as_of(&state, body.as_of.as_deref())? {
        Some(at) => hindsight_store::end_position(&*state.store, at, stream_for_versions.as_deref()).await?,
        None => state.store.next_position(),
    };
    let Some(position) = end.checked_sub(1) else {
        return Err(ApiError::bad_request("invalid_snapshot", "nothing to pin: the log holds no event at that point"));
    };
    let snapshot = Snapshot {
        id: String::new(),
        name: body.name,
        position,
        as_of: given,
        created_at: hindsight_store::timestamp::rfc3339(state.store.clock_us()),
        stream: body.stream,
        projection: body.projection,
        partition: body.partition,
    };
    let kept = snapshots.create(snapshot)?;
    Ok((StatusCode::CREATED, axum::Json(kept)).into_response())
}

/// Every snapshot, oldest first.
#[utoipa::path(get, path = "/v1/snapshots",
    responses((status = 200, description = "{\"snapshots\": [...]}"), (status = 501, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(axum::Json(json!({ "snapshots": snapshots(&state)?.list() })).into_response())
}

/// One snapshot.
#[utoipa::path(get, path = "/v1/snapshots/{id}", params(("id" = String, Path, description = "snapshot id")),
    responses((status = 200, description = "the snapshot"), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let snapshot = snapshots(&state)?.get(&id).ok_or_else(|| not_found(&id))?;
    Ok(axum::Json(snapshot).into_response())
}

/// Deletes a snapshot (the point it named stays in the log, of course).
#[utoipa::path(delete, path = "/v1/snapshots/{id}", params(("id" = String, Path, description = "snapshot id")),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    if snapshots(&state)?.delete(&id)? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(&id))
    }
}
