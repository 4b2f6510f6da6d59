//! Finding streams by name: `$all` read backward through the filter (a
//! category read goes through its index), the distinct streams met kept
//! in order of their newest event. The scan is bounded, and the answer
//! says whether it reached the start of the log, so a search on a huge
//! log stays quick and never claims to be complete when it is not.

use std::collections::HashSet;

use axum::extract::State;
use axum::Json;
use hindsight_store::{Direction, Filter, ReadAll};
use serde_json::{json, Value};

use crate::config::READ_PAGE_MAX;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;
use crate::wire::{ErrorBody, StreamsQuery};

const LIMIT_DEFAULT: usize = 50;
const LIMIT_MAX: usize = 1_000;
const SCAN_DEFAULT: u64 = 100_000;
const SCAN_MAX: u64 = 10_000_000;

/// Streams by name prefix or category, the most recently written first.
#[utoipa::path(get, path = "/v1/streams", params(StreamsQuery),
    responses((status = 200, description = "{\"streams\": [{\"stream\", \"last_position\", \"last_type\"}], \"scanned_from\", \"complete\"}"), (status = 400, body = ErrorBody)))]
pub async fn find(State(state): State<AppState>, Query(q): Query<StreamsQuery>) -> Result<Json<Value>, ApiError> {
    let limit = match q.limit {
        Some(0) => return Err(ApiError::bad_request("invalid_query", "limit must be at least 1")),
        l => l.unwrap_or(LIMIT_DEFAULT).min(LIMIT_MAX),
    };
    let scan = q.scan.unwrap_or(SCAN_DEFAULT).clamp(1, SCAN_MAX);
    let filter = Filter {
        category: q.category.filter(|c| !c.is_empty()),
        stream_prefix: q.prefix.filter(|p| !p.is_empty()),
        ..Filter::default()
    };
    let head = state.store.next_position();
    let (mut seen, mut streams) = (HashSet::new(), Vec::new());
    let (mut from, mut complete) = (head.checked_sub(1), head == 0);
    while let Some(at) = from {
        if streams.len() >= limit || head - at > scan {
            break;
        }
        let page = (scan - (head - at - 1)).min(READ_PAGE_MAX as u64) as usize;
        let read = ReadAll {
            from: Some(at),
            direction: Direction::Backward,
            limit: page,
            filter: filter.clone(),
            as_of: None,
        };
        let slice = state.store.read_all(&read).await?;
        for e in slice.events {
            if streams.len() < limit && seen.insert(e.stream.clone()) {
                streams.push(json!({ "stream": e.stream, "last_position": e.position, "last_type": e.event_type }));
            }
        }
        if slice.end_of_log || at == 0 {
            complete = streams.len() < limit;
            from = None;
        } else {
            from = Some(slice.next_position.min(at.saturating_sub(1)));
        }
    }
    let scanned_from = from.map_or(0, |f| f + 1);
    Ok(Json(json!({ "streams": streams, "scanned_from": scanned_from, "complete": complete })))
}
