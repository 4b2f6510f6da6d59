//! Reads: a stream, `$all`, stream info, position at a time. Events are written
//! out by hand (JSON or NDJSON) so stored JSON is never re-parsed.

use crate::extract::Path;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hindsight_store::{AsOf, Direction, EventReader, ReadAll, ReadStream, RecordedEvent, StoreError};

use crate::config::{READ_PAGE_DEFAULT, READ_PAGE_MAX};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;
use crate::wire::{
    filter, parse_rfc3339, rfc3339, write_event, PositionQuery, PositionResponse, ReadAllQuery, ReadStreamQuery,
    StreamInfoQuery, StreamInfoResponse,
};
#[allow(unused_imports)]
use crate::wire::{ErrorBody, ReadAllResponse, ReadStreamResponse};

const NDJSON: &str = "application/x-ndjson";

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains(NDJSON))
}

fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(READ_PAGE_DEFAULT),
        Some(0) => Err(ApiError::bad_request("invalid_query", "limit must be at least 1")),
        Some(n) => Ok(n.min(READ_PAGE_MAX)),
    }
}

/// A JSON object `{ <fields before>, "events": [...], <fields after> }`
/// written by hand, or NDJSON (one event per line) when asked for.
fn events_response(ndjson: bool, events: &[RecordedEvent], before: &str, after: &str) -> Response {
    let mut body = String::with_capacity(events.iter().map(|e| e.data.len() + 300).sum::<usize>() + 64);
    if ndjson {
        for e in events {
            write_event(&mut body, e);
            body.push('\n');
        }
        return ([(header::CONTENT_TYPE, NDJSON)], body).into_response();
    }
    body.push('{');
    body.push_str(before);
    body.push_str("\"events\":[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_event(&mut body, e);
    }
    body.push(']');
    body.push_str(after);
    body.push('}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn not_found(stream: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "stream_not_found", format!("stream {stream:?} does not exist"))
        .with_details(serde_json::json!({ "stream": stream }))
}

fn direction(d: Option<&str>) -> Result<Direction, ApiError> {
    match d {
        None | Some("forwards") | Some("forward") => Ok(Direction::Forward),
        Some("backwards") | Some("backward") => Ok(Direction::Backward),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("direction must be forwards or backwards, not {other:?}"),
        )),
    }
}

/// `as_of=position:N|time:<RFC 3339>|version:N|snapshot:ID`.
pub(crate) fn as_of(state: &AppState, q: Option<&str>) -> Result<Option<AsOf>, ApiError> {
    let Some(q) = q else { return Ok(None) };
    let q = state.resolve_point(q)?;
    q.parse::<AsOf>().map(Some).map_err(|e| ApiError::from(StoreError::from(e)))
}

/// Reads a stream forwards or backwards from a version, as it is or as it
/// was at a point.
#[utoipa::path(
    get, path = "/v1/streams/{stream}",
    params(("stream" = String, Path, description = "stream name"), ReadStreamQuery),
    responses(
        (status = 200, body = ReadStreamResponse, content_type = "application/json"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn read_stream(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<ReadStreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    stream_page(&state, &*state.store, stream, q, &headers).await
}

/// A page of a stream of any reader (the live store or a fork).
pub(crate) async fn stream_page(
    state: &AppState,
    reader: &dyn EventReader,
    stream: String,
    q: ReadStreamQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let read = ReadStream {
        stream,
        from: q.from,
        direction: direction(q.direction.as_deref())?,
        limit: page_limit(q.limit)?,
        as_of: as_of(state, q.as_of.as_deref())?,
    };
    let Some(info) = reader.stream_info(&read.stream, read.as_of).await? else {
        return Err(not_found(&read.stream));
    };
    let events = reader.read_stream(&read).await?;
    metrics::counter!("hindsight_reads_total", "kind" => "stream").increment(1);
    let next = match (read.direction, events.last()) {
        (Direction::Forward, Some(last)) if last.version < info.last_version => Some(last.version + 1),
        (Direction::Backward, Some(last)) if last.version > 0 => Some(last.version - 1),
        _ => None,
    };
    let before = format!("\"stream\":{},", serde_json::to_string(&read.stream).unwrap_or_default());
    let after = format!(",\"next\":{}", next.map_or_else(|| "null".to_string(), |n| n.to_string()));
    Ok(events_response(wants_ndjson(headers), &events, &before, &after))
}

/// What a stream holds: its last version and positions, as it is or as it
/// was at a point.
#[utoipa::path(
    get, path = "/v1/streams/{stream}/info",
    params(("stream" = String, Path, description = "stream name"), StreamInfoQuery),
    responses((status = 200, body = StreamInfoResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn stream_info(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    Query(q): Query<StreamInfoQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let Some(info) = state.store.stream_info(&stream, as_of(&state, q.as_of.as_deref())?).await? else {
        return Err(not_found(&stream));
    };
    Ok(axum::Json(StreamInfoResponse::from(info)))
}

/// Reads `$all` forwards or backwards from a position, optionally
/// filtered, as it is or as it was at a point.
#[utoipa::path(
    get, path = "/v1/all", params(ReadAllQuery),
    responses((status = 200, body = ReadAllResponse, content_type = "application/json"), (status = 400, body = ErrorBody))
)]
pub async fn read_all(
    State(state): State<AppState>,
    Query(q): Query<ReadAllQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    all_page(&state, &*state.store, q, &headers).await
}

/// A page of `$all` of any reader (the live store or a fork).
pub(crate) async fn all_page(
    state: &AppState,
    reader: &dyn EventReader,
    q: ReadAllQuery,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let read = ReadAll {
        from: q.from,
        direction: direction(q.direction.as_deref())?,
        limit: page_limit(q.limit)?,
        filter: filter(q.stream, q.category, q.prefix, q.types),
        as_of: as_of(state, q.as_of.as_deref())?,
    };
    let slice = reader.read_all(&read).await?;
    metrics::counter!("hindsight_reads_total", "kind" => "all").increment(1);
    let after = format!(",\"next_position\":{},\"end_of_log\":{}", slice.next_position, slice.end_of_log);
    Ok(events_response(wants_ndjson(headers), &slice.events, "", &after))
}

/// The first position at or after a time.
#[utoipa::path(
    get, path = "/v1/position", params(PositionQuery),
    responses((status = 200, body = PositionResponse), (status = 400, body = ErrorBody))
)]
pub async fn position(
    State(state): State<AppState>,
    Query(q): Query<PositionQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let micros = parse_rfc3339(&q.at)
        .map_err(|e| ApiError::bad_request("invalid_time", format!("at must be an RFC 3339 time: {e}")))?;
    let position = state.store.position_at(micros).await?;
    Ok(axum::Json(PositionResponse { at: rfc3339(micros), position }))
}
