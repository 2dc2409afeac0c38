//! The one error type handlers return, and how it reaches the client:
//! `{"error":{"code":"…","message":"…"}}` with the right status.
//!
//! Client faults carry a stable `code` and a message meant for the caller. Server faults are
//! logged in full here and reach the client as a bare "internal" or "unavailable" answer, so
//! internal details (paths, SQL) never leak. A write the database refused for its own data
//! ([`StoreError::Rejected`]) is the client's fault: 422 `rejected_by_store` with the
//! database's reason.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<StoreError> for ApiError {
    #[track_caller]
    fn from(error: StoreError) -> Self {
        let location = std::panic::Location::caller();
        if let StoreError::Rejected(reason) = &error {
            // The request's own data, refused by the database: the client's to fix, and the
            // database's reason (a constraint, a value it cannot hold) is safe to show.
            tracing::warn!(%error, %location, "the store refused a request's write");
            return ApiError::unprocessable(
                "rejected_by_store",
                format!("the store refused this write: {reason}"),
            );
        }
        tracing::error!(%error, %location, "store error while serving a request");
        if error.is_unavailable() {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the event store is unavailable; retry later",
            )
        } else {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; see the server log",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

/// Answer for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// Answer for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
