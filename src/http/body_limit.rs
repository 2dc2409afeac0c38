//! One request body limit for every route: `ingest.max_body_bytes` (`KLAXON_MAX_BODY_BYTES`).
//!
//! Three places apply it, each for a different way a body can arrive:
//! - [`refusal`], run on every request by [`request_guard`](super::request_guard) before
//!   routing or authentication, answers 413 to any request whose `Content-Length` is over the
//!   limit, so a route that never reads its body (a replay, a cancel) refuses it just the same.
//! - [`read_body`], which every handler that reads a body uses, counts the bytes of a body
//!   without a length (chunked) and stops at the limit without buffering more.
//! - `DefaultBodyLimit` (set in `http::router`) makes axum's own extractors (`Bytes`, `Json`)
//!   obey the same limit, should a handler ever take one, instead of their built-in 2 MB.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// `413 payload_too_large`.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {limit} bytes"),
    )
}

/// The refusal (413) for a request that declares a body over `limit`, or `None`.
pub fn refusal(limit: usize, request: &Request) -> Option<Response> {
    declared_length(request.headers())
        .is_some_and(|n| n > limit as u64)
        .then(|| too_large(limit).into_response())
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Reads the whole body, refusing more than `limit` bytes without buffering them.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over_limit = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large(limit)
        } else {
            ApiError::bad_request("unreadable_body", format!("could not read the body: {e}"))
        }
    })
}
