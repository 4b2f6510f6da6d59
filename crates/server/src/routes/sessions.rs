//! Sessions: a fork's range of events, its definition and projection
//! sources, hash-chained into one file (`hindsight-timetravel`'s
//! `session`), exported from a fork and imported as a new fork on any
//! Hindsight. The import checks the whole chain before it keeps anything.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hindsight_store::{end_position, EventReader, Filter, ReadAll};
use hindsight_timetravel::forks::ForkProjection;
use hindsight_timetravel::session::{Header, Session, SessionError, SessionProjection};
use serde_json::Value;

use super::forks::forks;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::AppState;
use crate::wire::{ErrorBody, SessionQuery};

/// Events a session holds at most: narrow the range or the projection.
pub const SESSION_EVENTS_MAX: usize = 1_000_000;

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let code = match e {
            SessionError::Invalid(_) => "invalid_query",
            _ => "invalid_session",
        };
        ApiError::bad_request(code, e.to_string())
    }
}

/// Exports a range of the fork as a session: its definition, the events
/// (only those `projection` reads, if given), the projection sources with
/// their hashes and the hash chain over all of it; masked fields are
/// replaced by salted hashes.
#[utoipa::path(get, path = "/v1/forks/{name}/session",
    params(("name" = String, Path, description = "fork name"), SessionQuery),
    responses((status = 200, description = "the session file (format hindsight-session/1)"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<SessionQuery>,
) -> Result<axum::Json<Session>, ApiError> {
    let fork = forks(&state)?.get(&name)?;
    let reader: &dyn EventReader = &*fork.reader;
    let from = match super::read::as_of(&state, q.from.as_deref())? {
        Some(at) => end_position(reader, at, None).await?.saturating_sub(1),
        None => 0,
    };
    let to = match super::read::as_of(&state, q.to.as_deref())? {
        Some(at) => end_position(reader, at, None).await?,
        None => reader.next_position(),
    };
    let registry = state.projections.clone();
    let mut projections = Vec::new();
    let mut filter = Filter::default();
    let mut add = |name: &str, source: String| {
        let hash = blake3::hash(source.as_bytes()).to_hex().to_string();
        projections.push(SessionProjection { name: name.to_string(), source, hash });
    };
    match &q.projection {
        Some(p) => {
            let source = match (fork.projection(p), &registry) {
                (Some(run), _) => run.source.clone(),
                (None, Some(r)) => r.live_source(p)?,
                (None, None) => return Err(ApiError::bad_request("invalid_query", format!("no projection {p:?}"))),
            };
            let fold = hindsight_projections::builtin::fold_for(&source, Default::default(), 1)
                .map_err(|e| ApiError::bad_request("invalid_query", e))?;
            filter = fold.selects();
            add(p, source);
        }
        None => fork.projections().for_each(|(n, run)| add(n, run.source.clone())),
    }
    let masks: Vec<String> = q.masks.iter().flat_map(|m| m.split(',')).map(|m| m.trim().to_string()).collect();
    let events = range(reader, from, to, filter).await?;
    let header = Header { fork: fork.describe(), from, to, projections, masks };
    let created_at = hindsight_store::timestamp::rfc3339(state.store.clock_us());
    Ok(axum::Json(Session::new(header, created_at, &events)?))
}

async fn range(
    reader: &dyn EventReader,
    from: u64,
    to: u64,
    filter: Filter,
) -> Result<Vec<hindsight_store::RecordedEvent>, ApiError> {
    let mut events = Vec::new();
    let mut next = from;
    while next < to {
        let page = reader.read_all(&ReadAll::forward(next).limit(1000).filter(filter.clone())).await?;
        events.extend(page.events.into_iter().filter(|e| e.position < to));
        if events.len() > SESSION_EVENTS_MAX {
            let m = format!("a session holds at most {SESSION_EVENTS_MAX} events: narrow the range or the projection");
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "session_too_large", m));
        }
        if page.end_of_log || page.next_position <= next {
            break;
        }
        next = page.next_position;
    }
    Ok(events)
}

/// Imports a session as a new fork named `name`: checked whole first
/// (a session that fails its hash chain is refused, naming the first
/// position that fails), then its events appended to an empty fork and
/// its projections run on it.
#[utoipa::path(post, path = "/v1/forks/{name}/session",
    params(("name" = String, Path, description = "the new fork's name")),
    request_body(content = String, description = "a session file", content_type = "application/json"),
    responses((status = 201, description = "the fork"), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 501, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let session = Session::read(&body)?;
    let forks = forks(&state)?;
    let created_at = hindsight_store::timestamp::rfc3339(state.store.clock_us());
    let label = format!("session {}", session.header.fork["name"].as_str().unwrap_or("?"));
    forks.create_empty(&name, label, created_at).await?;
    for append in session.appends(1000) {
        if let Err(e) = forks.append(&name, append).await {
            let _ = forks.delete(&name).await;
            return Err(e.into());
        }
    }
    let mut described = Value::Null;
    for p in &session.header.projections {
        let candidate =
            state.projections.as_ref().is_none_or(|r| r.live_source(&p.name).ok().as_ref() != Some(&p.source));
        let run = ForkProjection { source: p.source.clone(), hash: p.hash.clone(), candidate };
        described = forks.set_projection(&name, &p.name, Some(run)).await?;
    }
    if described.is_null() {
        described = forks.get(&name)?.describe();
    }
    Ok((StatusCode::CREATED, axum::Json(described)).into_response())
}
