//! Every error the API returns, mapped to a status and a JSON body in one
//! place: `{"error": code, "message": text, ...details}`. Server-side
//! failures are logged with their detail and answered without it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hindsight_store::{ExpectedVersion, InvalidInput, StoreError};
use serde_json::{json, Value};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: json!({}), retry_after_secs: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn overloaded() -> Self {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the append queue is full; retry after the time in Retry-After",
        );
        e.retry_after_secs = Some(1);
        e
    }
}

fn expected_json(e: ExpectedVersion) -> Value {
    match e {
        ExpectedVersion::Exact(v) => json!(v),
        other => json!(other.to_string()),
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let message = err.to_string();
        let code = err.code();
        match err {
            StoreError::Invalid(i) => {
                let status = match i {
                    InvalidInput::EventTooLarge { .. }
                    | InvalidInput::TooManyEvents { .. }
                    | InvalidInput::AppendTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                let details = match i {
                    InvalidInput::EventTooLarge { index, size_bytes, max } => {
                        json!({ "index": index, "size_bytes": size_bytes, "max": max })
                    }
                    InvalidInput::AppendTooLarge { size_bytes, max } => json!({ "size_bytes": size_bytes, "max": max }),
                    InvalidInput::TooManyEvents { n_events, max } => json!({ "n_events": n_events, "max": max }),
                    _ => json!({}),
                };
                ApiError::new(status, code, message).with_details(details)
            }
            StoreError::WrongExpectedVersion(conflicts) => {
                let list: Vec<Value> = conflicts
                    .iter()
                    .map(|c| json!({ "part": c.part, "stream": c.stream, "expected": expected_json(c.expected), "actual": c.actual }))
                    .collect();
                let mut details = json!({ "conflicts": list });
                if let [one] = conflicts.as_slice() {
                    details["stream"] = json!(one.stream);
                    details["expected"] = expected_json(one.expected);
                    details["actual"] = json!(one.actual);
                }
                ApiError::new(StatusCode::CONFLICT, code, message).with_details(details)
            }
            StoreError::IdConflict { id, stream, version, position } => {
                ApiError::new(StatusCode::CONFLICT, code, message).with_details(
                    json!({ "id": id.to_string(), "stream": stream, "version": version, "position": position }),
                )
            }
            StoreError::IdReused { id, stream, version, position, field } => {
                ApiError::new(StatusCode::CONFLICT, code, message).with_details(json!({
                    "id": id.to_string(), "stream": stream, "version": version, "position": position, "field": field,
                }))
            }
            StoreError::Poisoned { .. } | StoreError::Closed => {
                tracing::error!(error = %message, "store refuses writes");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, "the store is not accepting writes")
            }
            StoreError::StorageFull => ApiError::new(StatusCode::INSUFFICIENT_STORAGE, code, message),
            _ => {
                tracing::error!(error = %message, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error; see the server log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let (Some(obj), Value::Object(details)) = (body.as_object_mut(), self.details) {
            obj.extend(details);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
