//! `GET /v1/subscribe`: Server-Sent Events, catch-up then live. Each
//! event's SSE `id` is its position, so a reconnect with `Last-Event-ID`
//! resumes right after it. The subscription pulls one page at a time from
//! the store as the client reads, and each page goes out as one chunk, so
//! a slow client costs one page of memory (bounded in bytes); with
//! `subscription_lag_max` or `subscription_lag_bytes_max` set, one that
//! falls too far behind gets a final `error` event and is dropped. Idle subscriptions get a `: heartbeat` comment; at shutdown
//! every subscription gets a final `shutdown` event.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::stream;
use hindsight_store::{EventStore, ReadAll};

use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;
#[allow(unused_imports)]
use crate::wire::ErrorBody;
use crate::wire::{filter, write_event, SubscribeQuery};

/// Events per chunk while catching up.
const PAGE_EVENTS: usize = 1_000;

/// Decrements the subscriber gauge when the response body is dropped.
struct Live;

impl Live {
    fn new() -> Self {
        metrics::gauge!("hindsight_subscriptions_active").increment(1.0);
        metrics::counter!("hindsight_subscriptions_total").increment(1);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        metrics::gauge!("hindsight_subscriptions_active").decrement(1.0);
    }
}

struct Sub {
    store: Arc<dyn EventStore>,
    /// The next page's read (its `from` is set from `next`).
    read: ReadAll,
    next: u64,
    watch: tokio::sync::watch::Receiver<u64>,
    stopping: tokio::sync::watch::Receiver<bool>,
    heartbeat: Duration,
    lag_max: Option<u64>,
    lag_bytes_max: Option<u64>,
    done: bool,
    _live: Live,
}

fn sse_event(out: &mut String, event: &str, data: &str) {
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\ndata: ");
    out.push_str(data);
    out.push_str("\n\n");
}

impl Sub {
    /// The next chunk of the body: a page of events, a heartbeat, or a
    /// final event.
    async fn next_chunk(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        loop {
            if *self.stopping.borrow() {
                self.done = true;
                let mut out = String::new();
                sse_event(
                    &mut out,
                    "shutdown",
                    r#"{"message":"the server is shutting down; reconnect with Last-Event-ID"}"#,
                );
                return Some(out);
            }
            let head = *self.watch.borrow_and_update();
            if self.next < head {
                self.read.from = Some(self.next);
                let slice = match self.store.read_all(&self.read).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "subscription read failed");
                        self.done = true;
                        let mut out = String::new();
                        let body = serde_json::json!({ "error": e.code(), "message": "the subscription failed; reconnect to resume" });
                        sse_event(&mut out, "error", &body.to_string());
                        return Some(out);
                    }
                };
                self.next = slice.next_position.max(self.next);
                let lag = head.saturating_sub(self.next);
                metrics::histogram!("hindsight_subscription_lag_events").record(lag as f64);
                let behind = match (self.lag_max, self.lag_bytes_max) {
                    (Some(max), _) if lag > max => Some(format!("{lag} events behind (more than {max})")),
                    (_, Some(max)) if lag > 0 => self
                        .store
                        .log_bytes_between(self.next, head)
                        .filter(|bytes| *bytes > max)
                        .map(|bytes| format!("about {bytes} bytes of log behind (more than {max})")),
                    _ => None,
                };
                if let Some(behind) = behind {
                    self.done = true;
                    let mut out = String::new();
                    let body = serde_json::json!({
                        "error": "subscriber_too_slow",
                        "message": format!("this subscriber is {behind}; reconnect with Last-Event-ID to resume"),
                    });
                    sse_event(&mut out, "error", &body.to_string());
                    return Some(out);
                }
                if slice.events.is_empty() {
                    continue;
                }
                let mut out = String::with_capacity(slice.events.iter().map(|e| e.data.len() + 320).sum());
                for e in &slice.events {
                    out.push_str("id: ");
                    out.push_str(&e.position.to_string());
                    out.push_str("\ndata: ");
                    write_event(&mut out, e);
                    out.push_str("\n\n");
                }
                return Some(out);
            }
            tokio::select! {
                changed = self.watch.changed() => {
                    if changed.is_err() {
                        self.done = true;
                        return None;
                    }
                }
                _ = self.stopping.changed() => {}
                () = tokio::time::sleep(self.heartbeat) => return Some(": heartbeat\n\n".to_string()),
            }
        }
    }
}

/// Subscribes to `$all` (optionally filtered) as Server-Sent Events.
#[utoipa::path(
    get, path = "/v1/subscribe", params(SubscribeQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this position")),
    responses(
        (status = 200, description = "an event stream: `data` is the event as JSON, `id` its position", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody),
    )
)]
pub async fn subscribe(
    State(state): State<AppState>,
    Query(q): Query<SubscribeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let resume = match headers.get("last-event-id").map(|v| v.to_str().map(str::trim)) {
        None => None,
        Some(Ok(id)) => Some(id.parse::<u64>().map_err(|_| {
            ApiError::bad_request("invalid_last_event_id", format!("Last-Event-ID must be a position, not {id:?}"))
        })?),
        Some(Err(_)) => return Err(ApiError::bad_request("invalid_last_event_id", "Last-Event-ID is not text")),
    };
    let sub = Sub {
        watch: state.store.watch_next_position(),
        store: state.store.clone(),
        read: ReadAll::forward(0).limit(PAGE_EVENTS).filter(filter(q.stream, q.category, q.prefix, q.types)),
        next: resume.map_or(q.from.unwrap_or(0), |id| id.saturating_add(1)),
        stopping: state.stopping.clone(),
        heartbeat: state.config.heartbeat,
        lag_max: state.config.subscription_lag_max,
        lag_bytes_max: state.config.subscription_lag_bytes_max,
        done: false,
        _live: Live::new(),
    };
    let chunks = stream::unfold(sub, |mut sub| async move {
        let chunk = sub.next_chunk().await?;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), sub))
    });
    Ok(([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(chunks))
        .into_response())
}
