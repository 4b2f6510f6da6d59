//! Every error the API returns, as a status and a JSON body
//! `{"error": code, "message": text, ...details}`: the mapping from store
//! errors lives in `hindsight-wire` (the CLI prints the same); here
//! server-side failures are logged with their detail and answered without
//! it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hindsight_store::StoreError;
use hindsight_wire::WireError;
use serde_json::Value;

#[derive(Debug)]
pub struct ApiError(pub WireError);

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError(WireError::new(status.as_u16(), code, message))
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn with_details(self, details: Value) -> Self {
        ApiError(self.0.with_details(details))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        let wire = WireError::from_store(&err);
        if wire.is_internal() {
            tracing::error!(error = %wire.message, "internal error");
        } else if wire.code == "store_poisoned" || wire.code == "store_closed" {
            tracing::error!(error = %wire.message, "store refuses writes");
        }
        ApiError(wire.for_clients())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0.body())).into_response();
        if let Some(secs) = self.0.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
