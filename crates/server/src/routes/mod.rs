//! The router: one module per group of routes.

pub(crate) mod append;
pub(crate) mod forks;
pub(crate) mod ops;
pub(crate) mod projections;
pub(crate) mod read;
pub(crate) mod sessions;
pub(crate) mod snapshots;
pub(crate) mod streams;
pub(crate) mod subscribe;
pub(crate) mod time;
pub(crate) mod timeline;
pub(crate) mod ui;
pub(crate) mod whatif;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let body_max = state.config.body_bytes_max;
    let cors = cors(&state.config.cors_origins);
    let router = Router::new()
        .route("/v1/streams", get(streams::find))
        .route("/v1/streams/{stream}", post(append::append).get(read::read_stream))
        .route("/v1/streams/{stream}/info", get(read::stream_info))
        .route("/v1/streams/{stream}/state", get(time::state))
        .route("/v1/streams/{stream}/history", get(time::history))
        .route("/v1/streams/{stream}/diff", get(time::diff))
        .route("/v1/streams/{stream}/blame", get(time::blame))
        .route("/v1/streams/{stream}/watch", get(time::watch))
        .route("/v1/streams/{stream}/timeline", get(timeline::stream))
        .route("/v1/append", post(append::append_multi))
        .merge(fork_routes())
        .route("/v1/snapshots", post(snapshots::create).get(snapshots::list))
        .route("/v1/snapshots/{id}", get(snapshots::get).delete(snapshots::delete))
        .route("/v1/all", get(read::read_all))
        .route("/v1/position", get(read::position))
        .route("/v1/info", get(ops::info))
        .route("/v1/subscribe", get(subscribe::subscribe))
        .route("/v1/projections", get(projections::list))
        .route("/v1/projections/{name}", put(projections::put).get(projections::get).delete(projections::delete))
        .route("/v1/projections/{name}/state", get(projections::state))
        .route("/v1/projections/{name}/history", get(time::projection_history))
        .route("/v1/projections/{name}/diff", get(time::projection_diff))
        .route("/v1/projections/{name}/blame", get(time::projection_blame))
        .route("/v1/projections/{name}/watch", get(time::projection_watch))
        .route("/v1/projections/{name}/timeline", get(timeline::projection))
        .route("/v1/projections/{name}/partitions", get(projections::partitions))
        .route("/v1/projections/{name}/parked", get(projections::parked))
        .route("/v1/projections/{name}/parked/{position}/{action}", post(projections::parked_action))
        .route("/v1/projections/{name}/parked/{position}/case", get(projections::case))
        .route("/v1/projections/{name}/fixture", get(projections::fixture))
        .route("/v1/projections/{name}/dry-run", post(projections::dry_run))
        .route("/v1/projections/{name}/verify", post(projections::verify))
        .route("/v1/projections/{name}/{action}", post(projections::control))
        .route("/ui", get(ui::root))
        .route("/ui/", get(ui::index))
        .route("/ui/{file}", get(ui::file))
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_max))
        .layer(middleware::from_fn_with_state(state.clone(), refuse_oversized))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state);
    match cors {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// Forks: their timelines, time travel and projections on them, and
/// what-if impact.
fn fork_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/forks", post(forks::create).get(forks::list))
        .route("/v1/forks/{name}", get(forks::get).delete(forks::delete))
        .route("/v1/forks/{name}/skip", post(forks::skip))
        .route("/v1/forks/{name}/edit", post(forks::edit))
        .route("/v1/forks/{name}/all", get(forks::read_all))
        .route("/v1/forks/{name}/diff", get(forks::diff))
        .route("/v1/forks/{name}/streams/{stream}", post(forks::append).get(forks::read_stream))
        .route(
            "/v1/forks/{name}/projections/{projection}",
            put(whatif::put_projection).get(whatif::get_projection).delete(whatif::delete_projection),
        )
        .route("/v1/forks/{name}/projections/{projection}/partitions", get(whatif::partitions))
        .route("/v1/forks/{name}/projections/{projection}/journal", get(whatif::journal))
        .route("/v1/forks/{name}/projections/{projection}/state", get(whatif::state_at))
        .route("/v1/forks/{name}/projections/{projection}/history", get(whatif::history))
        .route("/v1/forks/{name}/projections/{projection}/diff", get(whatif::diff))
        .route("/v1/forks/{name}/projections/{projection}/blame", get(whatif::blame))
        .route("/v1/forks/{name}/projections/{projection}/watch", get(whatif::watch))
        .route("/v1/forks/{name}/projections/{projection}/timeline", get(timeline::fork_projection))
        .route("/v1/forks/{name}/session", get(sessions::export).post(sessions::import))
        .route("/v1/impact", post(whatif::impact))
        .route("/v1/forks/{name}/streams/{stream}/state", get(time::fork_state))
        .route("/v1/forks/{name}/streams/{stream}/history", get(time::fork_history))
        .route("/v1/forks/{name}/streams/{stream}/diff", get(time::fork_diff))
        .route("/v1/forks/{name}/streams/{stream}/blame", get(time::fork_blame))
        .route("/v1/forks/{name}/streams/{stream}/watch", get(time::fork_watch))
        .route("/v1/forks/{name}/streams/{stream}/timeline", get(timeline::fork_stream))
}

/// CORS for the configured origins (None: no CORS headers at all, so
/// browsers on other origins are refused).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("traceparent"),
                HeaderName::from_static("x-correlation-id"),
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

/// Refuses a body whose declared length is over the limit before reading
/// any of it.
async fn refuse_oversized(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.config.body_bytes_max) {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("the request body is over the limit of {} bytes", state.config.body_bytes_max),
        )
        .into_response();
    }
    next.run(req).await
}
