//! Time travel over a stream's document (its events' data applied as
//! JSON Merge Patches) or a projection partition's state: the state at
//! any point, the changes between two points, the event that set a
//! field, and when a field first met a condition. The work is
//! `hindsight-timetravel`'s, through the reader; these handlers parse.

use axum::extract::State;
use axum::Json;
use hindsight_store::AsOf;
use hindsight_timetravel::service::{Feed, Histories};
use hindsight_timetravel::streams::{self, HistoryError};
use hindsight_timetravel::Predicate;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::wire::{ErrorBody, TimeBlameQuery, TimeDiffQuery, TimeHistoryQuery, TimeStateQuery, TimeWatchQuery};

const LIMIT_MAX: usize = 10_000;

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            // Logged, and its detail kept from clients, like any store error.
            HistoryError::Store(e) => e.into(),
            e => ApiError(e.to_wire()),
        }
    }
}

/// What a question is about.
pub enum Target {
    Stream(String),
    ForkStream { fork: String, stream: String },
    Partition { projection: String, partition: String, version: Option<u64> },
    ForkPartition { fork: String, projection: String, partition: String },
}

impl Target {
    /// A stream route: `partition` and `version` belong to projections.
    fn stream(stream: String, partition: &Option<String>, version: Option<u64>) -> Result<Self, ApiError> {
        if partition.is_some() || version.is_some() {
            let m = "partition and version are for projections (/v1/projections/{name}/...), not streams";
            return Err(ApiError::bad_request("invalid_query", m));
        }
        Ok(Target::Stream(stream))
    }

    pub fn partition(projection: String, partition: Option<String>, version: Option<u64>) -> Self {
        Target::Partition { projection, partition: partition.unwrap_or_default(), version }
    }
}

pub(crate) type Ask = Box<dyn FnOnce(&Histories, &str, &dyn Feed) -> Result<Value, HistoryError> + Send>;

/// Asks the target's history on a blocking thread; a partition's
/// version is the one live at `point` unless one is named.
pub(crate) async fn ask_target(
    state: &AppState,
    target: Target,
    point: Option<AsOf>,
    f: Ask,
) -> Result<Json<Value>, ApiError> {
    let answer = match target {
        Target::Stream(stream) => {
            let reader: std::sync::Arc<dyn hindsight_store::EventReader> = state.store.clone();
            state.histories.ask(reader, &stream, f).await?
        }
        Target::ForkStream { fork, stream } => {
            let fork = super::forks::forks(state)?.get(&fork)?;
            let reader: std::sync::Arc<dyn hindsight_store::EventReader> = fork.reader.clone();
            fork.histories.ask(reader, &stream, f).await?
        }
        Target::Partition { projection, partition, version } => {
            super::projections::registry(state)?.time(&projection, &partition, version, point, f).await?
        }
        Target::ForkPartition { fork, projection, partition } => {
            let (registry, fork) = (super::projections::registry(state)?, super::forks::forks(state)?.get(&fork)?);
            let source = match fork.projection(&projection) {
                Some(run) => run.source.clone(),
                None => registry.live_source(&projection)?,
            };
            let on: (std::sync::Arc<dyn hindsight_store::EventReader>, _) =
                (fork.reader.clone(), fork.histories.shared());
            registry.fork_time(on, &projection, &source, &partition, f).await?
        }
    };
    Ok(Json(answer))
}

fn point(state: &AppState, s: Option<&str>) -> Result<Option<AsOf>, ApiError> {
    super::read::as_of(state, s)
}

fn limit(l: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match l {
        Some(0) => Err(ApiError::bad_request("invalid_query", "limit must be at least 1")),
        l => Ok(l.unwrap_or(default).min(LIMIT_MAX)),
    }
}

pub async fn state_of(state: &AppState, target: Target, q: TimeStateQuery) -> Result<Json<Value>, ApiError> {
    let at = point(state, q.as_of.as_deref())?;
    ask_target(state, target, at, Box::new(move |h, key, feed| h.state(key, feed, at))).await
}

pub async fn history_of(state: &AppState, target: Target, q: TimeHistoryQuery) -> Result<Json<Value>, ApiError> {
    let (from, until) = (point(state, q.from.as_deref())?, point(state, q.until.as_deref())?);
    let limit = limit(q.limit, 100)?;
    ask_target(state, target, until, Box::new(move |h, key, feed| h.history(key, feed, from, until, limit))).await
}

pub async fn diff_of(state: &AppState, target: Target, q: TimeDiffQuery) -> Result<Json<Value>, ApiError> {
    let side_by_side = streams::side_by_side(q.format.as_deref())?;
    let from =
        point(state, Some(&q.from))?.ok_or_else(|| ApiError::bad_request("invalid_query", "from is required"))?;
    let to = point(state, q.to.as_deref())?;
    ask_target(state, target, to, Box::new(move |h, key, feed| h.diff(key, feed, from, to, side_by_side))).await
}

pub async fn blame_of(state: &AppState, target: Target, q: TimeBlameQuery) -> Result<Json<Value>, ApiError> {
    let at = point(state, q.as_of.as_deref())?;
    let limit = limit(q.limit, 20)?;
    ask_target(state, target, at, Box::new(move |h, key, feed| h.blame(key, feed, &q.pointer, at, limit))).await
}

pub async fn watch_of(state: &AppState, target: Target, q: TimeWatchQuery) -> Result<Json<Value>, ApiError> {
    let predicate =
        Predicate::parse(&q.op, q.value.as_deref()).map_err(|e| ApiError::bad_request("invalid_query", e))?;
    let backward = streams::backward(q.direction.as_deref())?;
    let from = point(state, q.from.as_deref())?;
    let f = move |h: &Histories, key: &str, feed: &dyn Feed| h.watch(key, feed, &q.pointer, &predicate, from, backward);
    ask_target(state, target, from, Box::new(f)).await
}

/// The stream's document as of a point.
#[utoipa::path(get, path = "/v1/streams/{stream}/state",
    params(("stream" = String, Path, description = "stream name"), TimeStateQuery),
    responses((status = 200, description = "{\"stream\", \"state\", \"position\", \"version\", \"keyframe_position\", \"events_folded\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn state(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<TimeStateQuery>,
) -> Result<Json<Value>, ApiError> {
    let target = Target::stream(stream, &q.partition, q.version)?;
    state_of(&state, target, q).await
}

/// The events that changed the document between two points, each with
/// the RFC 6902 patch it caused.
#[utoipa::path(get, path = "/v1/streams/{stream}/history",
    params(("stream" = String, Path, description = "stream name"), TimeHistoryQuery),
    responses((status = 200, description = "{\"stream\", \"changes\": [{\"event\", \"patch\"}], \"next_from\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<TimeHistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let target = Target::stream(stream, &q.partition, q.version)?;
    history_of(&state, target, q).await
}

/// What changed in the document between two points.
#[utoipa::path(get, path = "/v1/streams/{stream}/diff",
    params(("stream" = String, Path, description = "stream name"), TimeDiffQuery),
    responses((status = 200, description = "{\"patch\": [...]} or, side by side, both states and the changed pointers"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<TimeDiffQuery>,
) -> Result<Json<Value>, ApiError> {
    let target = Target::stream(stream, &q.partition, q.version)?;
    diff_of(&state, target, q).await
}

/// The event that set what a JSON Pointer holds, and its earlier values.
#[utoipa::path(get, path = "/v1/streams/{stream}/blame",
    params(("stream" = String, Path, description = "stream name"), TimeBlameQuery),
    responses((status = 200, description = "{\"pointer\", \"value\", \"event\", \"writes\", \"history\": [{\"value\", \"event\", \"writes\"}], \"more\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn blame(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<TimeBlameQuery>,
) -> Result<Json<Value>, ApiError> {
    let target = Target::stream(stream, &q.partition, q.version)?;
    blame_of(&state, target, q).await
}

/// The nearest event at which a condition on a JSON Pointer became true.
#[utoipa::path(get, path = "/v1/streams/{stream}/watch",
    params(("stream" = String, Path, description = "stream name"), TimeWatchQuery),
    responses((status = 200, description = "{\"found\", \"event\", \"value\", \"previous\", \"writes\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn watch(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<TimeWatchQuery>,
) -> Result<Json<Value>, ApiError> {
    let target = Target::stream(stream, &q.partition, q.version)?;
    watch_of(&state, target, q).await
}

/// The events that changed a projection partition's state between two
/// points, each with the RFC 6902 patch it caused.
#[utoipa::path(get, path = "/v1/projections/{name}/history",
    params(("name" = String, Path, description = "projection name"), TimeHistoryQuery),
    responses((status = 200, description = "{\"partition\", \"changes\": [{\"event\", \"patch\"}], \"next_from\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn projection_history(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<TimeHistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    history_of(&state, Target::partition(name, q.partition.clone(), q.version), q).await
}

/// What changed in a projection partition's state between two points.
#[utoipa::path(get, path = "/v1/projections/{name}/diff",
    params(("name" = String, Path, description = "projection name"), TimeDiffQuery),
    responses((status = 200, description = "{\"patch\": [...]} or, side by side, both states and the changed pointers"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn projection_diff(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<TimeDiffQuery>,
) -> Result<Json<Value>, ApiError> {
    diff_of(&state, Target::partition(name, q.partition.clone(), q.version), q).await
}

/// The event that set what a JSON Pointer of a partition's state holds.
#[utoipa::path(get, path = "/v1/projections/{name}/blame",
    params(("name" = String, Path, description = "projection name"), TimeBlameQuery),
    responses((status = 200, description = "{\"pointer\", \"value\", \"event\", \"writes\", \"history\", \"more\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn projection_blame(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<TimeBlameQuery>,
) -> Result<Json<Value>, ApiError> {
    blame_of(&state, Target::partition(name, q.partition.clone(), q.version), q).await
}

/// The nearest event at which a condition on a partition's state became true.
#[utoipa::path(get, path = "/v1/projections/{name}/watch",
    params(("name" = String, Path, description = "projection name"), TimeWatchQuery),
    responses((status = 200, description = "{\"found\", \"event\", \"value\", \"previous\", \"writes\"}"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn projection_watch(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<TimeWatchQuery>,
) -> Result<Json<Value>, ApiError> {
    watch_of(&state, Target::partition(name, q.partition.clone(), q.version), q).await
}

/// A fork stream's document as of a point.
#[utoipa::path(get, path = "/v1/forks/{name}/streams/{stream}/state",
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name"), TimeStateQuery),
    responses((status = 200, description = "as /v1/streams/{stream}/state, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fork_state(
    State(state): State<AppState>,
    Path((fork, stream)): Path<(String, String)>,
    Query(q): Query<TimeStateQuery>,
) -> Result<Json<Value>, ApiError> {
    Target::stream(stream.clone(), &q.partition, q.version)?;
    state_of(&state, Target::ForkStream { fork, stream }, q).await
}

/// The events that changed a fork stream's document.
#[utoipa::path(get, path = "/v1/forks/{name}/streams/{stream}/history",
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name"), TimeHistoryQuery),
    responses((status = 200, description = "as /v1/streams/{stream}/history, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fork_history(
    State(state): State<AppState>,
    Path((fork, stream)): Path<(String, String)>,
    Query(q): Query<TimeHistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    Target::stream(stream.clone(), &q.partition, q.version)?;
    history_of(&state, Target::ForkStream { fork, stream }, q).await
}

/// What changed in a fork stream's document between two points.
#[utoipa::path(get, path = "/v1/forks/{name}/streams/{stream}/diff",
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name"), TimeDiffQuery),
    responses((status = 200, description = "as /v1/streams/{stream}/diff, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fork_diff(
    State(state): State<AppState>,
    Path((fork, stream)): Path<(String, String)>,
    Query(q): Query<TimeDiffQuery>,
) -> Result<Json<Value>, ApiError> {
    Target::stream(stream.clone(), &q.partition, q.version)?;
    diff_of(&state, Target::ForkStream { fork, stream }, q).await
}

/// The event that set a field of a fork stream's document.
#[utoipa::path(get, path = "/v1/forks/{name}/streams/{stream}/blame",
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name"), TimeBlameQuery),
    responses((status = 200, description = "as /v1/streams/{stream}/blame, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fork_blame(
    State(state): State<AppState>,
    Path((fork, stream)): Path<(String, String)>,
    Query(q): Query<TimeBlameQuery>,
) -> Result<Json<Value>, ApiError> {
    Target::stream(stream.clone(), &q.partition, q.version)?;
    blame_of(&state, Target::ForkStream { fork, stream }, q).await
}

/// When a condition on a fork stream's document became true.
#[utoipa::path(get, path = "/v1/forks/{name}/streams/{stream}/watch",
    params(("name" = String, Path, description = "fork name"), ("stream" = String, Path, description = "stream name"), TimeWatchQuery),
    responses((status = 200, description = "as /v1/streams/{stream}/watch, on the fork"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn fork_watch(
    State(state): State<AppState>,
    Path((fork, stream)): Path<(String, String)>,
    Query(q): Query<TimeWatchQuery>,
) -> Result<Json<Value>, ApiError> {
    Target::stream(stream.clone(), &q.partition, q.version)?;
    watch_of(&state, Target::ForkStream { fork, stream }, q).await
}
