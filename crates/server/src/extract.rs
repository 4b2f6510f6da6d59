//! Extractors whose rejections answer in the API's error format.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The part of an extractor's rejection text that names the problem (axum
/// prefixes it with a sentence of its own).
fn cause(text: &str) -> &str {
    text.split_once(": ").map_or(text, |(_, rest)| rest)
}

/// `axum::Json`, with malformed bodies answered as 400/413/415 JSON errors.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(match &rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the body must be JSON, sent with Content-Type: application/json",
                ),
                JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", rejection.body_text())
                }
                JsonRejection::JsonSyntaxError(_) => ApiError::bad_request(
                    "malformed_json",
                    format!("the body is not valid JSON: {}", cause(&rejection.body_text())),
                ),
                _ => ApiError::bad_request(
                    "invalid_body",
                    format!(
                        "the body does not have the request's shape (see /openapi.json): {}",
                        cause(&rejection.body_text())
                    ),
                ),
            }),
        }
    }
}

/// `axum::extract::Query`, with bad parameters answered as 400.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rejection) => {
                let r: QueryRejection = rejection;
                Err(ApiError::bad_request("invalid_query", format!("bad query parameters: {}", cause(&r.body_text()))))
            }
        }
    }
}

/// `axum::extract::Path`, with bad path segments (invalid UTF-8, say)
/// answered as 400 JSON errors.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => {
                let r: PathRejection = rejection;
                Err(ApiError::bad_request("invalid_path", format!("bad path: {}", cause(&r.body_text()))))
            }
        }
    }
}
