//! Operations routes: health, readiness, info, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::AppState;
#[allow(unused_imports)]
use crate::wire::ErrorBody;
use crate::wire::{InfoResponse, StatusResponse};

/// The process is alive and its store usable: 503 once the store refuses
/// writes for good (after a failed fdatasync of the log only a restart
/// helps, so an orchestrator should restart it).
#[utoipa::path(get, path = "/health", responses((status = 200, body = StatusResponse), (status = 503, body = ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    match state.store.status().refusing_writes {
        None => Ok(axum::Json(StatusResponse { status: "ok".into(), attention: Vec::new() })),
        Some(reason) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_poisoned", reason)),
    }
}

/// The store accepts writes and is healthy: 503 with the reason while the
/// server shuts down, the store refuses writes, the disk is full or index
/// writes fail (the last two end by themselves).
#[utoipa::path(get, path = "/ready", responses((status = 200, body = StatusResponse), (status = 503, body = ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if *state.stopping.borrow() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down"));
    }
    let status = state.store.status();
    if let Some(reason) = status.refusing_writes {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_not_writable", reason));
    }
    if let Some(reason) = status.degraded {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "degraded", reason));
    }
    Ok(axum::Json(StatusResponse { status: "ready".into(), attention: projections_attention(&state) }))
}

/// Projections that are faulted, stalled or paused while behind: said in
/// `/ready`'s body (a lagging read model does not make the store unready).
fn projections_attention(state: &AppState) -> Vec<String> {
    let Some(registry) = &state.projections else { return Vec::new() };
    registry
        .summaries()
        .into_iter()
        .filter(|s| s.status != "running")
        .map(|s| match &s.fault {
            Some(fault) => format!("projection {} is {}: {}", s.name, s.status, fault),
            None => format!("projection {} is {}, {} events behind", s.name, s.status, s.lag_events),
        })
        .collect()
}

/// Event and stream counts.
#[utoipa::path(get, path = "/v1/info", responses((status = 200, body = InfoResponse)))]
pub async fn info(State(state): State<AppState>) -> impl IntoResponse {
    let s = state.store.status();
    axum::Json(InfoResponse {
        store: s.kind.to_string(),
        events: s.events,
        streams: s.streams,
        last_position: s.events.checked_sub(1),
        writable: s.refusing_writes.is_none(),
    })
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state.metrics.render();
    crate::metrics::render_store(&state.store.status(), &mut body);
    if let Some(registry) = &state.projections {
        crate::metrics::render_projections(&registry.summaries(), &mut body);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, body = Object, content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::openapi_json())
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}; see /openapi.json", uri.path()),
    )
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; see /openapi.json")
}
