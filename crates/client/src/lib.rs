//! A Rust client for Hindsight's HTTP API: appends, reads, and a
//! subscription stream that reconnects with `Last-Event-ID` and back-off,
//! so a consumer sees every event once across server restarts. Errors
//! mirror the API's codes.

use std::time::Duration;

use futures::stream::{self, Stream, StreamExt};
use hindsight_wire::{AppendPartIn, AppendRequest, EventIn, MultiAppendRequest, MultiAppendResponse, StreamInfoQuery};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use uuid::Uuid;

/// Errors, by the API's codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("wrong expected version: {message}")]
    WrongExpectedVersion { message: String, body: Value },
    /// `event_id_conflict` (the id is stored elsewhere) or
    /// `event_id_reused` (stored here with other content); `code` says which.
    #[error("event id conflict ({code}): {message}")]
    IdConflict { code: String, message: String, body: Value },
    #[error("not found: {message}")]
    NotFound { code: String, message: String },
    #[error("bad request ({code}): {message}")]
    BadRequest { code: String, message: String },
    #[error("too large ({code}): {message}")]
    TooLarge { code: String, message: String },
    #[error("server overloaded; retry after {retry_after:?}")]
    Overloaded { retry_after: Option<Duration> },
    #[error("server error {status} ({code}): {message}")]
    Server { status: u16, code: String, message: String },
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected response: {0}")]
    Decode(String),
}

impl ClientError {
    /// The API's error code, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::WrongExpectedVersion { .. } => Some("wrong_expected_version"),
            ClientError::IdConflict { code, .. }
            | ClientError::NotFound { code, .. }
            | ClientError::BadRequest { code, .. }
            | ClientError::TooLarge { code, .. }
            | ClientError::Server { code, .. } => Some(code),
            ClientError::Overloaded { .. } => Some("overloaded"),
            _ => None,
        }
    }
}

/// `"any"`, `"no_stream"`, `"exists"` or a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    NoStream,
    Exists,
    Exact(u64),
}

impl Expected {
    fn to_json(self) -> Value {
        match self {
            Expected::Any => json!("any"),
            Expected::NoStream => json!("no_stream"),
            Expected::Exists => json!("exists"),
            Expected::Exact(v) => json!(v),
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, Serialize)]
pub struct NewEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl NewEvent {
    pub fn new(event_type: impl Into<String>, data: Value) -> Self {
        NewEvent { id: None, event_type: event_type.into(), data, metadata: None, tags: Vec::new() }
    }
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }
}

/// A stored event.
pub type Event = hindsight_wire::EventOut;
/// Where one stream's events of an append were stored.
pub type AppendResult = hindsight_wire::AppendResponse;
/// A page of a stream.
pub type StreamPage = hindsight_wire::ReadStreamResponse;
/// A page of `$all`.
pub type AllPage = hindsight_wire::ReadAllResponse;
pub use hindsight_wire::{ReadAllQuery, ReadStreamQuery, StreamInfoResponse};

impl NewEvent {
    fn to_wire(&self) -> Result<EventIn, ClientError> {
        let raw = |v: &Value| RawValue::from_string(v.to_string()).map_err(|e| ClientError::Decode(e.to_string()));
        Ok(EventIn {
            id: self.id,
            event_type: self.event_type.clone(),
            data: raw(&self.data)?,
            metadata: self.metadata.as_ref().map(raw).transpose()?,
            tags: (!self.tags.is_empty()).then(|| self.tags.clone()),
        })
    }
}

fn to_wire(events: &[NewEvent]) -> Result<Vec<EventIn>, ClientError> {
    events.iter().map(NewEvent::to_wire).collect()
}

/// Which events of `$all` to read or follow.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Exactly this stream.
    pub stream: Option<String>,
    pub category: Option<String>,
    pub prefix: Option<String>,
    pub types: Vec<String>,
}

impl Filter {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = &self.stream {
            q.push(("stream", s.clone()));
        }
        if let Some(c) = &self.category {
            q.push(("category", c.clone()));
        }
        if let Some(p) = &self.prefix {
            q.push(("prefix", p.clone()));
        }
        if !self.types.is_empty() {
            q.push(("types", self.types.join(",")));
        }
        q
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"].as_str().unwrap_or("unknown").to_string();
    let message = body["message"].as_str().unwrap_or("").to_string();
    Err(match (status.as_u16(), code.as_str()) {
        (409, "wrong_expected_version") => ClientError::WrongExpectedVersion { message, body },
        (409, _) => ClientError::IdConflict { code, message, body },
        (404, _) => ClientError::NotFound { code, message },
        (413, _) => ClientError::TooLarge { code, message },
        (503, "overloaded") => ClientError::Overloaded { retry_after },
        (400..=499, _) => ClientError::BadRequest { code, message },
        (s, _) => ClientError::Server { status: s, code, message },
    })
}

pub fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// `base` like `http://127.0.0.1:7113`.
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap_or_default();
        Client { base: base.into().trim_end_matches('/').to_string(), http }
    }

    pub async fn append(
        &self,
        stream: &str,
        expected: Expected,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, ClientError> {
        let body = AppendRequest { expected_version: Some(expected.to_json()), events: to_wire(&events)? };
        let r = self.http.post(format!("{}/v1/streams/{}", self.base, encode_path(stream))).json(&body).send().await?;
        Ok(check(r).await?.json().await?)
    }

    /// One atomic append across streams.
    pub async fn append_multi(
        &self,
        parts: Vec<(String, Expected, Vec<NewEvent>)>,
    ) -> Result<Vec<AppendResult>, ClientError> {
        let appends = parts
            .into_iter()
            .map(|(stream, e, ev)| {
                Ok(AppendPartIn { stream, expected_version: Some(e.to_json()), events: to_wire(&ev)? })
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        let r = self.http.post(format!("{}/v1/append", self.base)).json(&MultiAppendRequest { appends }).send().await?;
        Ok(check(r).await?.json::<MultiAppendResponse>().await?.results)
    }

    /// A page of a stream (`query.as_of` reads it as it was at a point).
    pub async fn read_stream(&self, stream: &str, query: &ReadStreamQuery) -> Result<StreamPage, ClientError> {
        let r = self.http.get(format!("{}/v1/streams/{}", self.base, encode_path(stream))).query(query).send().await?;
        Ok(check(r).await?.json().await?)
    }

    /// A page of `$all`, forwards or backwards, filtered, as of a point.
    pub async fn read_all(&self, query: &ReadAllQuery) -> Result<AllPage, ClientError> {
        let r = self.http.get(format!("{}/v1/all", self.base)).query(query).send().await?;
        Ok(check(r).await?.json().await?)
    }

    /// A stream's last version and positions (as of a point); None when it
    /// does not exist.
    pub async fn stream_info(
        &self,
        stream: &str,
        as_of: Option<&str>,
    ) -> Result<Option<StreamInfoResponse>, ClientError> {
        let q = StreamInfoQuery { as_of: as_of.map(str::to_string) };
        let r =
            self.http.get(format!("{}/v1/streams/{}/info", self.base, encode_path(stream))).query(&q).send().await?;
        match check(r).await {
            Ok(r) => Ok(Some(r.json().await?)),
            Err(ClientError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a projection or makes `source` its new version; `on_error`
    /// is `park` or `stop`. Answers its status.
    pub async fn put_projection(&self, name: &str, source: &str, on_error: &str) -> Result<Value, ClientError> {
        let body = hindsight_wire::ProjectionPut {
            source: source.to_string(),
            on_error: on_error.to_string(),
            ..Default::default()
        };
        let url = format!("{}/v1/projections/{}", self.base, encode_path(name));
        Ok(check(self.http.put(url).json(&body).send().await?).await?.json().await?)
    }

    /// What `source` would change if it replaced the projection's (a dry
    /// run over the history the live states reflect).
    pub async fn projection_dry_run(
        &self,
        name: &str,
        source: &str,
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<Value, ClientError> {
        let body = hindsight_wire::DryRunRequest { source: source.to_string(), from, to };
        let url = format!("{}/v1/projections/{}/dry-run", self.base, encode_path(name));
        Ok(check(self.http.post(url).json(&body).send().await?).await?.json().await?)
    }

    /// A projection route below `/v1/projections` (`""` for the list,
    /// `"orders"`, `"orders/state?partition=order-1"`, ...), as JSON; a
    /// 204 answers null.
    pub async fn projection_call(&self, method: reqwest::Method, path: &str) -> Result<Value, ClientError> {
        let url = format!("{}/v1/projections{}{path}", self.base, if path.is_empty() { "" } else { "/" });
        let r = check(self.http.request(method, url).send().await?).await?;
        if r.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        Ok(r.json().await?)
    }

    /// Any request under the API (`path` already encoded), with a JSON
    /// body if given; its JSON answer (a 204 answers null).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = check(req.send().await?).await?;
        if r.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        Ok(r.json().await?)
    }

    /// Any request under the API with a body of JSON bytes sent as they
    /// are; the answer's bytes as they came (for bodies whose bytes
    /// matter, like a hash-chained session).
    pub async fn call_bytes(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b);
        }
        Ok(check(req.send().await?).await?.bytes().await?.to_vec())
    }

    /// Any GET under the API (`path` like `/v1/streams/a/state?as_of=...`,
    /// already encoded), its JSON answer.
    pub async fn get_json(&self, path: &str) -> Result<Value, ClientError> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        Ok(check(r).await?.json().await?)
    }

    pub async fn info(&self) -> Result<Value, ClientError> {
        let r = self.http.get(format!("{}/v1/info", self.base)).send().await?;
        Ok(check(r).await?.json().await?)
    }

    /// Every event from `from` on, following the live log. On a dropped
    /// connection or a server restart it reconnects with `Last-Event-ID`
    /// (back-off doubling from 50 ms to 5 s), so nothing is missed or
    /// repeated. Ends only if the server refuses the subscription itself
    /// (a 4xx), with that error.
    pub fn subscribe(
        &self,
        from: u64,
        filter: Filter,
    ) -> impl Stream<Item = Result<Event, ClientError>> + Send + 'static {
        let s = Subscription {
            client: self.clone(),
            filter,
            next: from,
            backoff: Duration::from_millis(50),
            events: None,
            done: false,
        };
        stream::unfold(s, |mut s| async move {
            let item = s.next_event().await?;
            Some((item, s))
        })
    }
}

struct Subscription {
    client: Client,
    filter: Filter,
    next: u64,
    backoff: Duration,
    events: Option<stream::BoxStream<'static, Result<eventsource_stream::Event, String>>>,
    done: bool,
}

impl Subscription {
    async fn pause(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
    }

    async fn next_event(&mut self) -> Option<Result<Event, ClientError>> {
        use eventsource_stream::Eventsource;
        loop {
            if self.done {
                return None;
            }
            let Some(events) = self.events.as_mut() else {
                let mut q = self.filter.query();
                q.push(("from", self.next.to_string()));
                let mut req = self.client.http.get(format!("{}/v1/subscribe", self.client.base)).query(&q);
                if self.next > 0 {
                    req = req.header("Last-Event-ID", (self.next - 1).to_string());
                }
                match req.send().await {
                    Ok(r) if r.status().is_client_error() => {
                        self.done = true;
                        return Some(Err(check(r).await.err().unwrap_or(ClientError::Decode("refused".into()))));
                    }
                    Ok(r) if r.status().is_success() => {
                        self.events =
                            Some(r.bytes_stream().eventsource().map(|e| e.map_err(|x| x.to_string())).boxed());
                        self.backoff = Duration::from_millis(50);
                    }
                    _ => self.pause().await,
                }
                continue;
            };
            match events.next().await {
                Some(Ok(e)) if e.event == "message" || e.event.is_empty() => {
                    match serde_json::from_str::<Event>(&e.data) {
                        // Already delivered before a reconnect: skip.
                        Ok(ev) if ev.position < self.next => {}
                        Ok(ev) => {
                            self.next = ev.position + 1;
                            return Some(Ok(ev));
                        }
                        Err(err) => return Some(Err(ClientError::Decode(err.to_string()))),
                    }
                }
                // A final `shutdown` or `error` event: the server ends the stream; reconnect.
                Some(Ok(_)) => self.events = None,
                Some(Err(_)) | None => {
                    self.events = None;
                    self.pause().await;
                }
            }
        }
    }
}
