//! Operations routes: health, readiness, info, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::AppState;
#[allow(unused_imports)]
use crate::wire::ErrorBody;
use crate::wire::{InfoResponse, StatusResponse};

/// The process is alive.
#[utoipa::path(get, path = "/health", responses((status = 200, body = StatusResponse)))]
pub async fn health() -> impl IntoResponse {
    axum::Json(StatusResponse { status: "ok".into() })
}

/// The store is open and accepts writes.
#[utoipa::path(get, path = "/ready", responses((status = 200, body = StatusResponse), (status = 503, body = ErrorBody)))]
pub async fn ready(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    if *state.stopping.borrow() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down"));
    }
    match state.store.status().refusing_writes {
        None => Ok(axum::Json(StatusResponse { status: "ready".into() })),
        Some(reason) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_not_writable", reason)),
    }
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, body = Object, content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::openapi_json())
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; see /openapi.json")
}
