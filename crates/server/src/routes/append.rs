//! `POST /v1/streams/{stream}` and `POST /v1/append`: appends, with backpressure
//! (503 + Retry-After when the queue is full) and tracing headers copied into metadata.

use crate::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use hindsight_store::AppendResult;

use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;
use crate::wire::{to_part, AppendRequest, AppendResponse, HeaderMetadata, MultiAppendRequest, MultiAppendResponse};

/// Tracing headers copied into each event's metadata unless it has them.
fn header_metadata(headers: &HeaderMap) -> HeaderMetadata {
    let mut pairs = Vec::new();
    for (header, key) in [("traceparent", "traceparent"), ("x-correlation-id", "correlation_id")] {
        if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
            pairs.push((key, v.to_string()));
        }
    }
    HeaderMetadata { pairs }
}

async fn run(state: &AppState, parts: Vec<hindsight_store::AppendPart>) -> Result<Vec<AppendResult>, ApiError> {
    let started = std::time::Instant::now();
    let outcome = state.store.try_append_multi(parts).await;
    metrics::histogram!("hindsight_append_duration_seconds").record(started.elapsed().as_secs_f64());
    Ok(outcome?)
}

/// Appends events to one stream.
#[utoipa::path(
    post, path = "/v1/streams/{stream}", request_body = AppendRequest,
    params(("stream" = String, Path, description = "stream name")),
    responses(
        (status = 200, body = AppendResponse, description = "stored (or a retry of a stored append)"),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 503, body = ErrorBody),
        (status = 507, body = ErrorBody, description = "storage_full: the disk is full; nothing was written"),
    )
)]
pub async fn append(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    Json(req): Json<AppendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let part = to_part(stream.clone(), req.expected_version.as_ref(), req.events, &header_metadata(&headers))?;
    let results = run(&state, vec![part]).await?;
    let r = results.first().ok_or_else(|| ApiError::from(hindsight_store::StoreError::Backend("no result".into())))?;
    Ok(axum::Json(AppendResponse::new(&stream, r)))
}

/// Appends to several streams atomically: every expectation holds and all
/// events are stored, or nothing is.
#[utoipa::path(
    post, path = "/v1/append", request_body = MultiAppendRequest,
    responses(
        (status = 200, body = MultiAppendResponse),
        (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "names every failing part"),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody),
        (status = 507, body = ErrorBody, description = "storage_full: the disk is full; nothing was written"),
    )
)]
pub async fn append_multi(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(req): Json<MultiAppendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let extra = header_metadata(&headers);
    let streams: Vec<String> = req.appends.iter().map(|p| p.stream.clone()).collect();
    let parts = req
        .appends
        .into_iter()
        .map(|p| to_part(p.stream, p.expected_version.as_ref(), p.events, &extra))
        .collect::<Result<Vec<_>, _>>()?;
    let results = run(&state, parts).await?;
    let results = streams.iter().zip(&results).map(|(s, r)| AppendResponse::new(s, r)).collect();
    Ok(axum::Json(MultiAppendResponse { results }))
}

#[allow(unused_imports)]
use crate::wire::ErrorBody;
